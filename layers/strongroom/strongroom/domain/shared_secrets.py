"""An org's shared secrets: org-wide, versioned, encrypted, audited; what `${shared.KEY}` names.

They are stored as an environment's secrets are (domain/shared_scope.py: a pseudo-environment of
the org), so every change goes through the one change path of domain/secrets.py (one transaction:
a version item, the snapshot conditional on the revision read, exactly one audit event), under
data keys of their own (KMS GenerateDataKey under the service key or the org's BYOK key, context
org/`shared`/`shr_…`), and a read is one GetItem of the snapshot and, warm, no KMS call. Values
are never in a listing, an audit event or a webhook. Approval policies govern environments, not
these (docs/decisions.md, 2026-12-07). Their count is bounded by the plan's
`secrets_per_environment`, as one environment's.
"""

from __future__ import annotations

from collections.abc import Callable

from strongroom.data import chain, db
from strongroom.data import secrets as data
from strongroom.domain import audit, shared_scope
from strongroom.domain.resolve import Resolver
from strongroom.domain.secrets import Plan, State, commit
from strongroom.errors import Conflict, NotFound, PreconditionFailed
from strongroom.models import SecretVersion, SecretWritten, SharedSecret, SharedSecretItem
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess, OrgAccess

RESOURCE = "shared_secret"


def store_access(access: OrgAccess) -> EnvironmentAccess:
    """The caller's access to the org's shared store, as the change path and the resolver take it
    (the permission was checked at the route: `shared_secrets.read` / `.write`)."""
    return EnvironmentAccess(
        principal=access.principal,
        org=access.org,
        role=access.role,
        grants=access.grants,
        project=shared_scope.project(access.org.id),
        environment=shared_scope.environment(access.org.id),
    )


def _event(access: OrgAccess, action: str, key: str, **metadata: object) -> audit.AuditEvent:
    return audit.event(
        action, scope_id=access.org.id, resource_type=RESOURCE, resource_id=key, metadata={"key": key, **metadata}
    )


# --------------------------------------------------------------------------- reads


def list_shared(
    access: OrgAccess, *, prefix: str, limit: int, cursor: str | None
) -> tuple[list[SharedSecretItem], str | None]:
    """The org's shared secrets by name, metadata only (never a value: no audit event)."""
    store = store_access(access)
    env = store.environment
    view = Resolver(store).view(env)
    listing = f"shared|{env.id}|{prefix}"
    after = db.deserialize(db.decode_cursor(listing, cursor))["after"] if cursor else ""
    names = sorted(k for k in view if k.startswith(prefix) and k > after)
    page, more = names[:limit], len(names) > limit
    items = [
        SharedSecretItem(
            key=k,
            version=view[k].version,
            updated_at=view[k].updated_at,
            updated_by=view[k].updated_by,
        )
        for k in page
    ]
    next_cursor = db.encode_cursor(listing, db.serialize({"after": page[-1]})) if more and page else None
    return items, next_cursor


def get_shared(access: OrgAccess, key: str, *, resolve: bool = True, version: int | None = None) -> SharedSecret:
    """The current value (its own `${…}` references expanded unless `resolve` is off), or a past
    version as it was written; one `shared_secret.read` audit event."""
    if version is not None:
        return _past(access, key, version)
    store = store_access(access)
    resolver = Resolver(store)
    entry = resolver.view(store.environment).get(key)
    if entry is None:
        raise NotFound("shared secret not found")
    value = resolver.resolve(store.environment, key) if resolve else entry.value
    chain.transact([], audit=_event(access, "shared_secret.read", key, version=entry.version))
    return SharedSecret(
        key=key, value=value, version=entry.version, updated_at=entry.updated_at, updated_by=entry.updated_by
    )


def _past(access: OrgAccess, key: str, number: int) -> SharedSecret:
    """A past set version's value, decrypted under the data key it was written with."""
    store = store_access(access)
    env = store.environment
    rec = data.version(env.id, key, number)
    key_rec = data.data_key(env.id, rec.key_version or 0) if rec is not None else None
    if rec is None or rec.action != "set" or rec.blob is None or key_rec is None:
        raise NotFound("shared secret version not found")
    scope = crypto.Scope(access.org.id, env.project_id, env.id)
    plain = crypto.unwrap(scope, key_rec.version, key_rec.wrapped_key, key_rec.kms_key_id)
    aad = scope.aad("value", key, number, key_rec.version)
    value = crypto.decrypt(plain, rec.blob, aad, what="version").decode()
    chain.transact([], audit=_event(access, "shared_secret.read", key, version=number))
    return SharedSecret(key=key, value=value, version=number, updated_at=rec.created_at, updated_by=rec.created_by)


def list_versions(
    access: OrgAccess, key: str, *, limit: int, cursor: str | None
) -> tuple[list[SecretVersion], str | None]:
    """A shared secret's history, newest first (no values)."""
    records, next_cursor = data.versions_page(shared_scope.shared_id(access.org.id), key, limit=limit, cursor=cursor)
    if not records and cursor is None:
        raise NotFound("shared secret not found")
    return [SecretVersion.model_validate(r.model_dump(exclude={"blob", "key_version"})) for r in records], next_cursor


# --------------------------------------------------------------------------- writes


def _stale(current: int | None) -> PreconditionFailed:
    return PreconditionFailed(
        "the shared secret changed since that version", code="version_mismatch", details={"current_version": current}
    )


def _plan(key: str, value: str | None, action: str, version: int, comment: str = "") -> Plan:
    return Plan(
        {key: value},
        action,
        RESOURCE,
        key,
        {"key": key, "version": version},
        comment,
        audit_scope=(None, None),  # the org's, not a project's: org-wide webhooks get it
        governed=False,
    )


def _write(access: OrgAccess, key: str, planner: Callable[[State], Plan]) -> SecretWritten:
    _revision, versions, before, at = commit(store_access(access), planner)
    previous = before.live.get(key)
    return SecretWritten(
        key=key,
        version=versions[key] if key in versions else int(previous["version"]) if previous else 0,
        created_at=previous["created_at"] if previous else at,
        updated_at=at or (previous["updated_at"] if previous else ""),
    )


def create(access: OrgAccess, key: str, value: str, *, comment: str) -> SecretWritten:
    """A new shared secret (409 `shared_secret_exists` when the key is live)."""

    def plan(state: State) -> Plan:
        if key in state.live:
            raise Conflict("a shared secret with this key exists", code="shared_secret_exists", details={"key": key})
        return _plan(key, value, "shared_secret.created", state.next_version(key), comment)

    return _write(access, key, plan)


def put(access: OrgAccess, key: str, value: str, *, comment: str, if_match: int | None) -> SecretWritten:
    """Create or change (If-Match: the version read, else 412); a value equal to the current one
    is no change (no version, no event)."""

    def plan(state: State) -> Plan:
        current = state.live.get(key)
        if if_match is not None and (current is None or current["version"] != if_match):
            raise _stale(current["version"] if current else None)
        action = "shared_secret.updated" if current else "shared_secret.created"
        if current is not None and current["value"] == value:
            return Plan({}, action, RESOURCE, key)
        return _plan(key, value, action, state.next_version(key), comment)

    return _write(access, key, plan)


def delete(access: OrgAccess, key: str, *, if_match: int | None) -> None:
    """Delete (a `delete` version; the history stays). References to it then stay as written."""

    def plan(state: State) -> Plan:
        current = state.live.get(key)
        if if_match is not None and (current is None or current["version"] != if_match):
            raise _stale(current["version"] if current else None)
        if current is None:
            raise NotFound("shared secret not found")
        return _plan(key, None, "shared_secret.deleted", state.next_version(key))

    commit(store_access(access), plan)
