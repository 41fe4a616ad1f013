"""The runtime API: what a service token's holder pulls, resolved (inheritance and references)
exactly as the management API shows it.

The ETag names every snapshot the answer was computed from, with its revision (the token's
environment, its ancestors, environments its references reach). `If-None-Match` with it is
answered by reading those snapshot items alone: when no revision moved, 304, without decrypting
and without KMS. A read that returns values writes one `secrets.read` audit event.
"""

from __future__ import annotations

import base64
import binascii

from strongroom import audit, db, formats, keys
from strongroom.access import EnvironmentAccess, environment_access
from strongroom.context import principal
from strongroom.domain.resolve import Resolver
from strongroom.errors import Forbidden, NotFound
from strongroom.models import RuntimeIdentity

MAX_ETAG_ENVIRONMENTS = 50


def token_access() -> EnvironmentAccess:
    who = principal()
    if who.type != "service_token" or not who.org_ids or not who.project_id or not who.environment_id:
        raise Forbidden("the runtime API takes a service token (sr_svc_…)", code="service_token_required")
    return environment_access(next(iter(who.org_ids)), who.project_id, who.environment_id, "secrets.read")


def identity() -> RuntimeIdentity:
    access = token_access()
    who = access.principal
    return RuntimeIdentity(
        token_id=who.id,
        org_id=access.org.id,
        project_id=access.project.id,
        environment_id=access.environment.id,
        environment=access.environment.slug,
        permissions=sorted(p.removeprefix("secrets.") for p in who.permissions),
        expires_at=who.expires_at,
    )


# --------------------------------------------------------------------------- ETag


def etag(revisions: dict[str, int], first: str) -> str:
    """An opaque strong ETag naming each snapshot read and its revision, the token's first."""
    ordered = [first, *sorted(k for k in revisions if k != first)]
    raw = ",".join(f"{env_id}:{revisions[env_id]}" for env_id in ordered)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _parse(tag: str) -> dict[str, int] | None:
    tag = tag.strip().removeprefix("W/").strip('"')
    try:
        raw = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).decode()
        pairs = [p.rsplit(":", 1) for p in raw.split(",")]
        out = {env_id: int(rev) for env_id, rev in pairs}
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return out if 0 < len(out) <= MAX_ETAG_ENVIRONMENTS else None


def unchanged(access: EnvironmentAccess, if_none_match: str | None) -> str | None:
    """The ETag when If-None-Match names the current state exactly (reads snapshot items only)."""
    if not if_none_match:
        return None
    for candidate in if_none_match.split(","):
        seen = _parse(candidate)
        if seen is None or next(iter(seen)) != access.environment.id:
            continue
        items = db.batch_get([keys.env_snapshot(e) for e in seen])
        now = {str(i[keys.PK]).removeprefix("ENV#"): int(i["revision"]) for i in items}
        if all(now.get(env_id, 0) == rev for env_id, rev in seen.items()):
            return etag(seen, access.environment.id)
    return None


# --------------------------------------------------------------------------- reads


def pull(access: EnvironmentAccess) -> tuple[dict[str, str], str]:
    """Every value the environment sees, resolved, and the ETag of that answer."""
    resolver = Resolver(access)
    env = access.environment
    values = resolver.resolve_all(env, sorted(resolver.view(env)))
    tag = etag(resolver.revisions, env.id)
    _audit(access, {"keys": sorted(values)[:100], "count": len(values)})
    return values, tag


def pull_one(access: EnvironmentAccess, name: str) -> tuple[str, str]:
    resolver = Resolver(access)
    env = access.environment
    if name not in resolver.view(env):
        raise NotFound("secret not found")
    value = resolver.resolve(env, name)
    _audit(access, {"keys": [name], "count": 1})
    return value, etag(resolver.revisions, env.id)


def render(values: dict[str, str], fmt: formats.ExportFormat) -> str:
    return formats.render(values, fmt)


def _audit(access: EnvironmentAccess, metadata: dict[str, object]) -> None:
    db.transact(
        [],
        audit=audit.environment_event("secrets.read", access.environment, {**metadata, "via": "runtime"}),
    )
