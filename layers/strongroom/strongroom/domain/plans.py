"""Plans and limits: the built-in defaults of each plan, the plans' stored configs (what platform
admins set), an org's own overrides, and the effective limit of each (override, else the plan's
stored config, else the built-in default; -1 is unlimited). The creates that a limit bounds carry
a counter in their own transaction (data/orgs.py `guard`), so racing creates never pass it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

from strongroom.data import db, invitations
from strongroom.data import orgs as org_data
from strongroom.data import platform as data
from strongroom.data.invitations import InvitationRecord
from strongroom.data.orgs import OrgRecord
from strongroom.domain import roles
from strongroom.errors import Conflict, Forbidden

PlanName = Literal["free", "team", "enterprise"]
PLANS: tuple[PlanName, ...] = ("free", "team", "enterprise")
LIMITS = (
    "projects",
    "environments_per_project",
    "secrets_per_environment",
    "members",
    "service_tokens",
    "webhooks",
    "requests_per_minute",
)
UNLIMITED = -1

DEFAULTS: dict[str, dict[str, int]] = {
    "free": {
        "projects": 3,
        "environments_per_project": 5,
        "secrets_per_environment": 100,
        "members": 5,
        "service_tokens": 10,
        "webhooks": 2,
        "requests_per_minute": 300,
    },
    "team": {
        "projects": 50,
        "environments_per_project": 20,
        "secrets_per_environment": 1000,
        "members": 100,
        "service_tokens": 500,
        "webhooks": 25,
        "requests_per_minute": 3000,
    },
    "enterprise": {
        "projects": UNLIMITED,
        "environments_per_project": UNLIMITED,
        "secrets_per_environment": UNLIMITED,
        "members": UNLIMITED,
        "service_tokens": UNLIMITED,
        "webhooks": UNLIMITED,
        "requests_per_minute": UNLIMITED,  # negotiated: a platform admin sets the plan's or the org's
    },
}

# The stored plan configs are read at most once a minute per container (every create and every
# request's rate limit needs them); a platform admin's change reaches other containers within it.
CONFIG_TTL_SECONDS = 60.0
_cache: tuple[float, dict[str, dict[str, int]]] | None = None


def stored_configs() -> dict[str, dict[str, int]]:
    """The plans' stored limits (cached CONFIG_TTL_SECONDS)."""
    global _cache  # noqa: PLW0603 - the container's cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CONFIG_TTL_SECONDS:
        _cache = (now, data.plan_configs())
    return _cache[1]


def forget() -> None:
    """Drop the cached configs (after a change of them here, and in tests)."""
    global _cache  # noqa: PLW0603
    _cache = None


def plan_limits(plan: str, configs: dict[str, dict[str, int]]) -> dict[str, int]:
    """Pure: a plan's limits, its stored config over its built-in defaults."""
    base = DEFAULTS.get(plan, DEFAULTS["free"])
    stored = configs.get(plan, {})
    return {name: int(stored.get(name, base[name])) for name in LIMITS}


def effective(plan: str, overrides: dict[str, int], configs: dict[str, dict[str, int]]) -> dict[str, int]:
    """Pure: an org's effective limits: its overrides, else the plan's."""
    limits = plan_limits(plan, configs)
    return {name: int(overrides[name]) if name in overrides else limits[name] for name in LIMITS}


def limits_of(org: OrgRecord) -> dict[str, int]:
    return effective(org.plan, org.limit_overrides, stored_configs())


def limit_of(org: OrgRecord, name: str) -> int:
    return limits_of(org)[name]


def reached(name: str, limit: int) -> Forbidden:
    """403 `plan_limit`, naming the limit."""
    return Forbidden(
        f"the organization's plan allows at most {limit} {name.replace('_', ' ')}",
        code="plan_limit",
        details={"limit": name, "max": limit},
    )


def room(org: OrgRecord, name: str, *, adding: int = 1) -> int | None:
    """The most the counter of `name` may hold before adding `adding` (None: unlimited), for a
    create's guarded counter."""
    limit = limit_of(org, name)
    return None if limit == UNLIMITED else limit - adding


def member_joins(org: OrgRecord, owner_delta: int = 0, *, released: int = 0) -> db.Op:
    """The org-item op of a membership made without an invitation (SCIM, single sign-on): the
    `members` counter moves by one, within the plan's limit (and `owner_count` with an owner);
    by one less for each expired invitation the same transaction releases."""
    return org_data.guard(
        org.id,
        owner_delta,
        usage={"members": 1 - released},
        limit=limit_after_release(org, "members", released),
    )


# --------------------------------------------------------------------------- expired, released

RELEASE_AT_MOST = 25  # expired invitations or tokens one create at the limit releases
RELEASE_ATTEMPTS = 3


def released_meanwhile() -> Conflict:
    """The on_fail of a release op: another create released it first (read again, retry)."""
    return Conflict("an expired item was released meanwhile; retry", code="released_meanwhile")


def limit_after_release(org: OrgRecord, name: str, released: int) -> tuple[str, int | None, Forbidden]:
    """The guard's limit for a create that releases `released` expired ones in its transaction."""
    most = room(org, name)
    return (name, None if most is None else most + released, reached(name, limit_of(org, name)))


def joins_releasing(
    org: OrgRecord, role: str, released: list[InvitationRecord], at: str, *, owner_delta: int = 0
) -> tuple[list[db.Op], dict[str, object]]:
    """The ops of one more member (an invitation made, or a membership without one) that releases
    the expired invitations given: the `members` counter (by one less for each; `owner_count` by
    `owner_delta`), each release (conditional: a racing create releases none twice), the roles'
    use counts; and what the mutation's audit event says of them."""
    uses = Counter({role: 1})
    uses.subtract(r.role for r in released)
    ops = [
        member_joins(org, owner_delta, released=len(released)),
        *(invitations.release(r, at, on_fail=released_meanwhile()) for r in released),
        *roles.uses(org.id, dict(uses)),
    ]
    return ops, ({"released_expired_invitations": [r.id for r in released]} if released else {})


def create_releasing[T](attempt: Callable[[list[T]], None], expired: Callable[[], list[T]]) -> None:
    """Write a create (`attempt([])`); refused at its plan's limit, write it again releasing the
    expired items that still count (an expired invitation is not pending, an expired token cannot
    be used: `attempt(found)` marks them released and moves the counter by one less each, in the
    create's own transaction, conditional on each still being unreleased, so racing creates never
    release one twice nor pass the limit). Still at the limit with nothing expired: 403 as before."""
    try:
        attempt([])
        return
    except Forbidden as exc:
        if exc.code != "plan_limit":
            raise
        refused = exc
    for _ in range(RELEASE_ATTEMPTS):
        found = expired()
        if not found:
            raise refused
        try:
            attempt(found)
            return
        except Conflict as exc:
            if exc.code != "released_meanwhile":
                raise
    raise refused
