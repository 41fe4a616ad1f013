"""The runtime API: what a service token's holder pulls, resolved (inheritance and references)
exactly as the management API shows it.

The ETag names every snapshot the answer was computed from, with its revision (the token's
environment, its ancestors, environments its references reach, the org's shared secrets when a
value references them: a change of a shared secret moves that revision, never the
environment's). `If-None-Match` with it is answered by reading those snapshot items alone: when
no revision moved, 304, without decrypting and without KMS. A tag is compared only when it is
well formed (environment or shared ids, plain-digit revisions) and names only environments the
token reads; any other tag is a miss, whatever environments it names, so it tells nothing about
them. A read that returns values writes one `secrets.read` audit event.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from strongroom import ids
from strongroom.context import principal
from strongroom.data import chain, grants
from strongroom.data import secrets as secret_data
from strongroom.data.projects import EnvironmentRecord
from strongroom.domain import audit, formats, paths, shared_scope
from strongroom.domain.resolve import Resolver, etag
from strongroom.errors import Forbidden, NotFound, Unprocessable
from strongroom.models import EnvironmentKey, RuntimeIdentity
from strongroom.security.access import EnvironmentAccess, environment_access

MAX_ETAG_ENVIRONMENTS = 50


def token_access() -> EnvironmentAccess:
    """The runtime routes' access: the service token's own environment, with `secrets.read`."""
    who = principal()
    if who.type != "service_token" or not who.org_ids or not who.project_id or not who.environment_id:
        raise Forbidden("the runtime API takes a service token (sr_svc_…)", code="service_token_required")
    return environment_access(next(iter(who.org_ids)), who.project_id, who.environment_id, "secrets.read")


def identity(access: EnvironmentAccess) -> RuntimeIdentity:
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


_REVISION = re.compile(r"^[0-9]{1,15}$")
MAX_ETAG_LENGTH = 4096


def _parse(tag: str, variant: str = "") -> dict[str, int] | None:
    """The (environment id, revision) pairs a tag names, or None when it is not one of our ETags
    or not one of this read's `variant`: every id must be an environment id and every revision
    plain digits, checked before any key is built from them."""
    tag = tag.strip().removeprefix("W/").strip('"')
    if len(tag) > MAX_ETAG_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    raw, _, tagged = raw.partition(";")
    if tagged != variant:
        return None
    out: dict[str, int] = {}
    for pair in raw.split(","):
        env_id, _, rev = pair.rpartition(":")
        known = ids.is_id(env_id, "env") or ids.is_id(env_id, "shr")  # shr_: the org's shared secrets
        if not known or not _REVISION.match(rev) or env_id in out:
            return None
        out[env_id] = int(rev)
    return out if 0 < len(out) <= MAX_ETAG_ENVIRONMENTS else None


def _readable(access: EnvironmentAccess) -> set[str]:
    """The environments this caller's read of its environment may depend on, hence the only ones an
    ETag may name: the environment, the ancestors it reads through the token, and the org's shared
    secrets (named only by the tag of an answer that referenced them: `${shared.KEY}`)."""
    env = access.environment
    return {env.id, shared_scope.shared_id(access.org.id), *(a.id for a in Resolver(access).ancestors(env))}


def unchanged(access: EnvironmentAccess, if_none_match: str | None, variant: str = "") -> str | None:
    """The ETag when If-None-Match names the current state exactly (reads snapshot items only).

    Authorization comes first: a tag naming any environment outside what this caller reads is a
    miss, decided before a key is built, so the answer (and the reads made) is the same whether
    that environment exists, belongs to someone else, or is made up."""
    if not if_none_match:
        return None
    tags = [seen for seen in (_parse(c, variant) for c in if_none_match.split(",")) if seen is not None]
    tags = [seen for seen in tags if next(iter(seen)) == access.environment.id]
    if not tags:
        return None
    readable = _readable(access)  # no read at all unless the environment has a parent
    for seen in tags:
        if not readable.issuperset(seen):
            continue
        now = secret_data.snapshot_revisions(list(seen))
        if all(now.get(env_id, 0) == rev for env_id, rev in seen.items()):
            return etag(seen, access.environment.id, variant=variant)
    return None


# --------------------------------------------------------------------------- reads


def pull(access: EnvironmentAccess, *, path: str = paths.ROOT, recursive: bool = False) -> tuple[dict[str, str], str]:
    """Every value a folder of the environment sees (with `recursive`, its subfolders flattened
    into it: domain/paths.py), resolved, and the ETag of that answer."""
    resolver = Resolver(access)
    env = access.environment
    values, names = folder_values(resolver, env, path, recursive=recursive)
    tag = etag(resolver.revisions, env.id, variant=paths.variant(path, recursive))
    note = {} if path == paths.ROOT and not recursive else {"path": path, "recursive": recursive}
    _audit(access, {"keys": names[:100], "count": len(values), **note})
    return values, tag


def folder_values(
    resolver: Resolver, env: EnvironmentRecord, path: str, *, recursive: bool
) -> tuple[dict[str, str], list[str]]:
    """What a pull of `path` gives (key -> value, resolved; recursive: subfolders flattened into
    keys, the nearest winning) and the snapshot names it read, sorted: a runtime pull's and a
    sync's (domain/integration_sync.py) view of an environment."""
    view = resolver.view(env)
    paths.check_folder(view, path)
    chosen = paths.flatten(view, path, recursive=recursive)
    names = sorted(chosen.values())
    found = resolver.resolve_all(env, names)
    return {key: found[name] for key, name in chosen.items()}, names


def pull_one(access: EnvironmentAccess, name: str) -> tuple[str, str]:
    resolver = Resolver(access)
    env = access.environment
    if name not in resolver.view(env):
        raise NotFound("secret not found")
    value = resolver.resolve(env, name)
    _audit(access, {"keys": [name], "count": 1})
    path = paths.path_of(name)
    return value, etag(resolver.revisions, env.id, variant=paths.variant(path, recursive=False))


def client_context(access: EnvironmentAccess) -> dict[str, Any]:
    """What a client-encrypted environment's pull carries besides its ciphertexts: the token's
    grant (one GetItem; none without one) and the IDs its values' AAD names. Nothing otherwise."""
    env = access.environment
    if env.encryption != "client":
        return {}
    rec = grants.of(env, "token", access.principal.id)
    key = EnvironmentKey.model_validate(rec.model_dump()) if rec else None
    return {"encryption": "client", "org_id": access.org.id, "environment_id": env.id, "key": key}


def check_format(access: EnvironmentAccess, fmt: str) -> None:
    """A client-encrypted environment's values are ciphertexts: JSON only, never rendered as
    dotenv or shell (422 `client_encrypted`)."""
    if fmt != "json" and access.environment.encryption == "client":
        raise Unprocessable(
            "this environment is client-encrypted: its ciphertexts come as JSON only (the client decrypts)",
            code="client_encrypted",
        )


def render(values: dict[str, str], fmt: formats.ExportFormat) -> str:
    return formats.render(values, fmt)


def _audit(access: EnvironmentAccess, metadata: dict[str, object]) -> None:
    chain.transact(
        [],
        audit=audit.environment_event("secrets.read", access.environment, {**metadata, "via": "runtime"}),
    )
