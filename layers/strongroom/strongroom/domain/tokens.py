"""Service tokens: how CI jobs and servers read (and, if allowed, write) one environment.

    sr_svc_<26-char id>_<32-char secret><6-char checksum>

The checksum (CRC-32 of everything before it, base62) lets a secret scanner recognise a
Strongroom token offline and lets us refuse a mistyped one without a database read. Only the
SHA-256 of the whole token is stored; the token is shown once, at creation or rotation, and
compared in constant time. A token is scoped to one project and one environment with `read` or
`read` + `write`, optionally expiring and optionally limited to source networks (checked against
the address API Gateway saw, never a client header). Revocation and expiry apply to the next
request: verification reads the token's item every time, and a token whose org, project or
environment was deleted no longer verifies (nor is it listed) from the deletion on.
`last_used_at` is written at most once a minute per token, outside any transaction (bookkeeping,
not a mutation).

A token's scope (org, project, environment) never changes, so a warm function remembers it per
token ID once a token has verified: the next request reads the token *with* everything such a
request reads next (its org, project, environment and the environment's snapshot) in one
BatchGetItem (`db.prefetch`). A 304 from the runtime API is then one round trip to DynamoDB.

Creating one needs `tokens.manage` (admin) *and* the creator's own `secrets.read` (and
`secrets.write` for a writing token) on that environment at that moment: a token never does
more than its creator could when it was made.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.context import Principal
from strongroom.data import chain, db
from strongroom.data import orgs as org_data
from strongroom.data import tokens as token_data
from strongroom.data.tokens import TokenRecord
from strongroom.domain import audit, plans
from strongroom.domain.resolve import Resolver
from strongroom.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from strongroom.models import ServiceToken, ServiceTokenCreate, ServiceTokenCreated
from strongroom.security.access import EnvironmentAccess, OrgAccess, environment_access

__all__ = ["TokenRecord"]  # the record lives with its reads and writes (data/tokens.py)

PREFIX = "sr_svc_"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_CHARS = 32
CHECKSUM_CHARS = 6
LAST_USED_EVERY = timedelta(minutes=1)
PERMISSIONS = {"read": "secrets.read", "write": "secrets.write"}


# --------------------------------------------------------------------------- format


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_B62[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_CHARS)


def mint(token_id: str, prefix: str = PREFIX) -> str:
    """`<prefix><id without its type>_<secret><checksum>`, e.g. sr_svc_… for tok_…, sr_pat_… for pat_…"""
    id_body = token_id.split("_", 1)[1]
    body = f"{prefix}{id_body}_{''.join(secrets.choice(_B62) for _ in range(SECRET_CHARS))}"
    return body + _checksum(body)


def parse(token: str, prefix: str = PREFIX, id_type: str = "tok") -> str | None:
    """The token's ID when it is well-formed and its checksum holds, else None."""
    if not token.startswith(prefix) or len(token) > 200:
        return None
    body, check = token[:-CHECKSUM_CHARS], token[-CHECKSUM_CHARS:]
    if not hmac.compare_digest(_checksum(body), check):
        return None
    id_part, _, secret_part = body[len(prefix) :].partition("_")
    if len(secret_part) != SECRET_CHARS or not id_part.isalnum():
        return None
    return f"{id_type}_{id_part}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------- verification


# Token ID -> (org, project, environment), learned from tokens that verified (never from a guess).
_scopes: dict[str, tuple[tuple[str, str, str], str | None]] = {}
SCOPES_REMEMBERED = 4096


def _remember(rec: TokenRecord) -> None:
    if rec.id not in _scopes:
        if len(_scopes) >= SCOPES_REMEMBERED:
            del _scopes[next(iter(_scopes))]  # the oldest
        _scopes[rec.id] = ((rec.org_id, rec.project_id, rec.environment_id), rec.identity_id)


def check(token: str, token_hash: str, expires_at: str | None) -> datetime:
    """401 unless `token` hashes to `token_hash` (compared in constant time) and has not expired;
    the time it was checked at. For every kind of token (service, personal)."""
    if not hmac.compare_digest(token_hash, digest(token)):
        raise Unauthorized("invalid token")
    now = clock.now()
    if expires_at and clock.parse(expires_at) <= now:
        raise Unauthorized("the token has expired")
    return now


def stamp_due(last_used_at: str | None, now: datetime) -> bool:
    """Whether a token used at `now` gets its `last_used_at` stamped: at most once a minute."""
    return last_used_at is None or clock.parse(last_used_at) <= now - LAST_USED_EVERY


def verify(token: str, source_ip: str) -> Principal:
    """The principal a service token stands for, or 401 (403 from a network it may not use)."""
    token_id = parse(token)
    if token_id is None:
        raise Unauthorized("invalid token")
    if token_id in _scopes:  # the request's next reads are answered from this one batch
        token_data.read_ahead(token_id, *_scopes[token_id])
    rec = token_data.get(token_id)
    if rec is None:
        raise Unauthorized("invalid token")
    now = check(token, rec.token_hash, rec.expires_at)
    if rec.id not in _scopes:  # once: the request's next reads are answered from this one batch
        token_data.read_ahead(None, (rec.org_id, rec.project_id, rec.environment_id), rec.identity_id)
    if not token_data.standing([rec]):
        raise Unauthorized("invalid token")
    if rec.allowed_cidrs and not _ip_allowed(source_ip, rec.allowed_cidrs):
        raise Forbidden("this token may not be used from this network", code="network_not_allowed")
    if stamp_due(rec.last_used_at, now):
        token_data.stamp_token_used(rec.id, now, now - LAST_USED_EVERY)
    _remember(rec)
    return Principal(
        type="service_token",
        id=rec.id,
        via="service_token",
        org_ids=frozenset({rec.org_id}),
        read_only="write" not in rec.permissions,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        permissions=frozenset(PERMISSIONS[p] for p in rec.permissions),
        expires_at=rec.expires_at,
        identity_id=rec.identity_id,
    )


def _ip_allowed(source_ip: str, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(c, strict=False) for c in cidrs)


# --------------------------------------------------------------------------- management


def _view(rec: TokenRecord) -> ServiceToken:
    return ServiceToken.model_validate(rec.model_dump())


def target(base: OrgAccess, project_ref: str, env_ref: str, manage: str) -> EnvironmentAccess:
    """The environment a token (or a machine identity) is for, with the creator's access there
    (`secrets.read` and `manage`). `project` and `environment` are references in the body: naming
    nothing is 422, not 404."""
    from strongroom.data import projects as project_data  # noqa: PLC0415

    project = project_data.resolve(base.org.id, project_ref)
    env = project_data.resolve_environment(base.org.id, project.id, env_ref) if project else None
    if project is None or env is None:
        field = "project" if project is None else "environment"
        raise Unprocessable(
            f"`{field}` names no {field} of this organization",
            code=f"unknown_{field}",
            details={"fields": [{"field": field, "location": "body", "issue": f"no such {field}"}]},
        )
    access = environment_access(base.org.id, project.id, env.id, "secrets.read")
    access.require(manage)
    return access


def check_grantable(access: EnvironmentAccess, permissions: Sequence[str]) -> None:
    """403 unless the creator holds every permission the token gets (`read`, `write`), on its
    environment and on each environment it inherits from (what the token will see through it)."""
    for permission in permissions:
        if not access.allows(PERMISSIONS[permission], access.environment):
            raise Forbidden(
                f"you cannot grant '{permission}' on '{access.environment.slug}': your role lacks it",
                details={"permission": PERMISSIONS[permission], "role": access.role},
            )
    for ancestor in Resolver(access).ancestors(access.environment):
        if not access.allows("secrets.read", ancestor):
            raise Forbidden(
                f"'{access.environment.slug}' inherits from '{ancestor.slug}', which your role cannot read",
                code="inherits_unreadable",
                details={"environment": ancestor.slug},
            )


def _check_limits(body: ServiceTokenCreate) -> None:
    """422 for an expiry in the past or an `allowed_cidrs` entry that is not an IP network."""
    if body.expires_at is not None and body.expires_at <= clock.now():
        raise Unprocessable("`expires_at` is in the past", code="invalid_expiry")
    for cidr in body.allowed_cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise Unprocessable(
                "`allowed_cidrs` holds something that is not an IP network",
                code="invalid_cidr",
                details={"fields": [{"field": "allowed_cidrs", "location": "body", "issue": "not a CIDR network"}]},
            ) from None


def _check_encryption(access: EnvironmentAccess, body: ServiceTokenCreate) -> None:
    """A client-encrypted environment's tokens are client-made (a key pair its grant is sealed to,
    derived by the client); a server-managed environment's are the server's."""
    client = access.environment.encryption == "client"
    if client and not body.client_made:
        raise Unprocessable(
            "a client-encrypted environment's tokens are made by the client: send token_id, token_hash, "
            "public_key and suite",
            code="client_made_token_required",
        )
    if body.client_made and not client:
        raise Unprocessable("client-made tokens are for client-encrypted environments", code="not_client_encrypted")


def create(base: OrgAccess, body: ServiceTokenCreate) -> ServiceTokenCreated:
    """A token for one environment; `base` holds `tokens.manage` on the org (the route's)."""
    base.require("tokens.manage")
    access = target(base, body.project, body.environment, "tokens.manage")
    check_grantable(access, body.permissions)
    _check_limits(body)
    _check_encryption(access, body)
    token_id = body.token_id or ids.new_id("tok")
    token = None if body.client_made else mint(token_id)
    rec = TokenRecord(
        id=token_id,
        org_id=access.org.id,
        name=body.name,
        project_id=access.project.id,
        environment_id=access.environment.id,
        permissions=sorted({*body.permissions, "read"}),  # writing implies reading
        token_hash=body.token_hash or digest(token or ""),
        expires_at=clock.iso(body.expires_at) if body.expires_at else None,
        allowed_cidrs=[str(ipaddress.ip_network(c, strict=False)) for c in body.allowed_cidrs],
        created_at=clock.now_iso(),
        created_by=access.principal.id,
        public_key=body.public_key,
        suite=body.suite,
    )
    taken = (
        Conflict("that token ID is taken", code="id_taken")
        if body.client_made
        else NotFound("token id collision; retry")
    )
    metadata: dict[str, Any] = {"permissions": rec.permissions, "expires_at": rec.expires_at}
    if body.client_made:
        metadata["client_made"] = True
        metadata["suite"] = rec.suite
    now = clock.now_iso()

    def attempt(released: list[TokenRecord]) -> None:
        """The token, counted against `service_tokens`, releasing the expired ones given."""
        counted = org_data.guard(
            rec.org_id,
            usage={"service_tokens": 1 - len(released)},
            limit=plans.limit_after_release(access.org, "service_tokens", len(released)),
        )
        releases = [token_data.release(r, now, on_fail=plans.released_meanwhile()) for r in released]
        extra = {"released_expired_tokens": [r.id for r in released]} if released else {}
        chain.transact(
            [counted, token_data.create(rec, on_fail=taken), *releases],
            audit=_event("token.created", rec, {**metadata, **extra}),
        )

    plans.create_releasing(attempt, lambda: token_data.expired_counted(rec.org_id, now, limit=plans.RELEASE_AT_MOST))
    return ServiceTokenCreated(**_view(rec).model_dump(), token=token)


def _get(org_id: str, token_id: str) -> TokenRecord:
    rec = token_data.get(token_id) if ids.is_id(token_id, "tok") else None
    if rec is None or rec.org_id != org_id or not token_data.standing([rec]):
        raise NotFound("token not found")
    return rec


def list_tokens(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[ServiceToken], str | None]:
    access.require("tokens.manage")
    records, next_cursor = token_data.page(access.org.id, limit=limit, cursor=cursor)
    return [_view(r) for r in token_data.standing(records)], next_cursor


def _event(action: str, rec: TokenRecord, metadata: dict[str, Any] | None = None) -> audit.AuditEvent:
    """An event about a token: its org's chain, its project and environment, its name (never its
    secret or hash)."""
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="service_token",
        resource_id=rec.id,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={"name": rec.name, **(metadata or {})},
    )


def rotate(access: OrgAccess, token_id: str) -> ServiceTokenCreated:
    """A new secret for the same token (same ID, scope and expiry); the old one stops at once."""
    access.require("tokens.manage")
    rec = _get(access.org.id, token_id)
    if rec.public_key is not None:
        raise Unprocessable(
            "a client-made token is rotated by its client: make a new one and revoke this one",
            code="client_made_token",
        )
    token = mint(rec.id)
    now = clock.now_iso()
    chain.transact(
        [token_data.rotate(rec, digest(token), now, on_fail=NotFound("token not found"))],
        audit=_event("token.rotated", rec),
    )
    rotated = rec.model_copy(update={"rotated_at": now})
    return ServiceTokenCreated(**_view(rotated).model_dump(), token=token)


def revoke(access: OrgAccess, token_id: str) -> None:
    """The token deleted; a client-made token's grant of its environment's key goes with it, in the
    same transaction (then a rekey makes what it may have kept open nothing new)."""
    access.require("tokens.manage")
    rec = _get(access.org.id, token_id)
    ops: list[db.Op] = [token_data.revoke(rec, on_fail=NotFound("token not found"))]
    if rec.identity_id is None and rec.released_at is None:  # exchanged (domain/identities.py) or released: uncounted
        ops.append(org_data.guard(rec.org_id, usage={"service_tokens": -1}))
    metadata: dict[str, Any] = {}
    if rec.public_key is not None:
        from strongroom.data import grants  # noqa: PLC0415
        from strongroom.data import projects as project_data  # noqa: PLC0415

        env = project_data.environment(rec.org_id, rec.project_id, rec.environment_id)
        grant = grants.of(env, "token", rec.id) if env is not None else None
        if env is not None and grant is not None:
            moved = Conflict("the environment was rekeyed meanwhile; retry", code="key_version_mismatch")
            ops += grants.remove(env, grant, on_fail=moved)
            metadata["grant_revoked"] = grant.id
    chain.transact(ops, audit=_event("token.revoked", rec, metadata))
