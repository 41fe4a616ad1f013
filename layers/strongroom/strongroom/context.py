"""The request in flight: who asks, from where, under which request id.

Set once per invocation by the entry point; read by the domain (audit actor, ip).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

PrincipalType = Literal["user", "service_token", "scim_token", "agent", "system"]

# The HTTP methods that change something: a read-only credential may not call them, their body is
# JSON, and they take an Idempotency-Key.
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    type: PrincipalType
    id: str
    email: str = ""
    # A user's email is theirs (proven by the issuer, or dev mode): only then does it accept invitations.
    email_verified: bool = False
    # How the principal proved itself: "dev", "oidc", "session", "pat", "service_token".
    via: str = ""
    # Narrowing a token may carry (orgs it is limited to; read-only).
    org_ids: frozenset[str] | None = None
    read_only: bool = False
    # A service token's scope: one project and one environment, these permissions.
    project_id: str | None = None
    environment_id: str | None = None
    permissions: frozenset[str] = frozenset()
    expires_at: str | None = None
    # The machine identity a service token was issued to (token exchange): the token's audit actor.
    identity_id: str | None = None
    # The session a "session" principal signed in with (its JWT's jti): what logout ends.
    session_id: str | None = None
    # A user's TOTP second factor is on (their user item's flag): what an org's require_2fa asks.
    two_factor: bool = False


SYSTEM = Principal(type="system", id="system", via="system")


@dataclass(slots=True)
class RequestContext:
    request_id: str
    ip: str = ""
    user_agent: str = ""
    principal: Principal | None = None
    # SHA-256 of the credential that authenticated the request ("" when none did): the scope of
    # its Idempotency-Keys.
    credential: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    # Items read ahead in one batch for this request (db.prefetch), by (PK, SK); None = absent.
    prefetched: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    # What the route names, for the read-ahead of a user's request (data/readahead.py): whether it
    # mutates, and its {org}, {project}, {env} path parameters (IDs or slugs), under /v1/orgs/{org}.
    mutating: bool = False
    refs: dict[str, str] = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("strongroom_request", default=None)


def set_current(ctx: RequestContext) -> None:
    _current.set(ctx)


def current() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        # Workers and scripts act as the system.
        ctx = RequestContext(request_id="", principal=SYSTEM)
        _current.set(ctx)
    return ctx


def principal() -> Principal:
    from strongroom.errors import Unauthorized  # noqa: PLC0415

    p = current().principal
    if p is None:
        raise Unauthorized("authentication required")
    return p


@contextmanager
def acting_as(who: Principal) -> Iterator[None]:
    """`who` is the request's principal (its audit actor) inside the block, then the one before:
    for the writes of routes that authenticate nobody (sign-up, login, a mailed token)."""
    ctx = current()
    before = ctx.principal
    ctx.principal = who
    try:
        yield
    finally:
        ctx.principal = before
