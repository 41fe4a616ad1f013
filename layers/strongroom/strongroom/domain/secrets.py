"""Secrets of server-managed environments: versioned, encrypted, O(1) to read.

Reading an environment is one GetItem of its snapshot (values + metadata in one AES-GCM blob,
stored with the wrapped data key) and, on a warm container, no KMS call. Every change rewrites
the snapshot in the same transaction as the secret's metadata, its new version and its audit
event, conditional on the snapshot revision it read (retried on a concurrent change) and, with
If-Match, on the secret's version (412 when stale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from strongroom import audit, clock, crypto, db
from strongroom.access import EnvironmentAccess
from strongroom.config import settings
from strongroom.data import secrets as data
from strongroom.data.secrets import DataKeyRecord, SecretRecord, SnapshotRecord, VersionRecord
from strongroom.errors import Conflict, NotFound, PayloadTooLarge, PreconditionFailed, Unprocessable
from strongroom.models import Secret, SecretListItem, SecretVersion, SecretWritten

MAX_SNAPSHOT_BYTES = 350_000  # DynamoDB items stop at 400 KB
MAX_ATTEMPTS = 5


class _Retry(Conflict):
    """The snapshot moved under us: re-read and apply again."""


def _scope(access: EnvironmentAccess) -> crypto.Scope:
    return crypto.Scope(access.org.id, access.project.id, access.environment.id)


def _check_server_managed(access: EnvironmentAccess) -> None:
    if access.environment.encryption != "server":
        raise Unprocessable(
            "this environment is client-encrypted; its API lands with end-to-end grants", code="client_encrypted"
        )


@dataclass(slots=True)
class _Opened:
    snapshot: SnapshotRecord | None
    key: bytes | None
    values: dict[str, dict[str, Any]]


def _open(scope: crypto.Scope, snap: SnapshotRecord | None) -> _Opened:
    if snap is None:
        return _Opened(None, None, {})
    key = crypto.unwrap(scope, snap.key_version, snap.wrapped_key, snap.kms_key_id)
    plain = crypto.decrypt(key, snap.blob, scope.aad("snapshot", snap.key_version, snap.revision), what="snapshot")
    return _Opened(snap, key, json.loads(plain))


def _value_aad(scope: crypto.Scope, name: str, version: int, key_version: int) -> bytes:
    return scope.aad("value", name, version, key_version)


# --------------------------------------------------------------------------- reads


def list_secrets(
    access: EnvironmentAccess, *, prefix: str, with_values: bool, limit: int, cursor: str | None
) -> tuple[list[SecretListItem], str | None]:
    _check_server_managed(access)
    scope = _scope(access)
    opened = _open(scope, data.snapshot(access.environment.id))
    listing = f"secrets|{access.environment.id}|{prefix}"
    after = db.deserialize(db.decode_cursor(listing, cursor))["after"] if cursor else ""
    names = sorted(k for k in opened.values if k.startswith(prefix) and k > after)
    page, more = names[:limit], len(names) > limit
    items = [
        SecretListItem(
            key=k,
            value=opened.values[k]["value"] if with_values else None,
            version=opened.values[k]["version"],
            updated_at=opened.values[k]["updated_at"],
        )
        for k in page
    ]
    if with_values and items:
        db.transact(
            [],
            audit=audit.event(
                "secrets.read",
                scope_id=access.org.id,
                resource_type="environment",
                resource_id=access.environment.id,
                project_id=access.project.id,
                environment_id=access.environment.id,
                metadata={"keys": [i.key for i in items][:100], "count": len(items)},
            ),
        )
    next_cursor = db.encode_cursor(listing, db.serialize({"after": page[-1]})) if more and page else None
    return items, next_cursor


def get_secret(access: EnvironmentAccess, name: str, version: int | None = None) -> Secret:
    _check_server_managed(access)
    scope = _scope(access)
    env_id = access.environment.id
    if version is None:
        entry = _open(scope, data.snapshot(env_id)).values.get(name)
        if entry is None:
            raise NotFound("secret not found")
        result = Secret(
            key=name,
            value=entry["value"],
            version=entry["version"],
            updated_at=entry["updated_at"],
            updated_by=entry["updated_by"],
        )
    else:
        rec = data.version(env_id, name, version)
        if rec is None or rec.action != "set" or rec.blob is None or rec.key_version is None:
            raise NotFound("secret version not found")
        key_rec = data.data_key(env_id, rec.key_version)
        if key_rec is None:
            raise NotFound("secret version not found")
        key = crypto.unwrap(scope, key_rec.version, key_rec.wrapped_key, key_rec.kms_key_id)
        value = crypto.decrypt(key, rec.blob, _value_aad(scope, name, version, rec.key_version), what="version")
        result = Secret(
            key=name, value=value.decode(), version=version, updated_at=rec.created_at, updated_by=rec.created_by
        )
    db.transact(
        [],
        audit=audit.event(
            "secret.read",
            scope_id=access.org.id,
            resource_type="secret",
            resource_id=name,
            project_id=access.project.id,
            environment_id=env_id,
            metadata={"key": name, "version": result.version},
        ),
    )
    return result


def list_versions(
    access: EnvironmentAccess, name: str, *, limit: int, cursor: str | None
) -> tuple[list[SecretVersion], str | None]:
    _check_server_managed(access)
    records, next_cursor = data.versions_page(access.environment.id, name, limit=limit, cursor=cursor)
    if not records and cursor is None:
        raise NotFound("secret not found")
    return [SecretVersion.model_validate(r.model_dump(exclude={"blob", "key_version"})) for r in records], next_cursor


# --------------------------------------------------------------------------- writes


def put_secret(
    access: EnvironmentAccess, name: str, value: str, *, comment: str, if_match: int | None
) -> SecretWritten:
    meta = _change(access, name, value, comment=comment, if_match=if_match)
    return SecretWritten(key=name, version=meta.version, created_at=meta.created_at, updated_at=meta.updated_at)


def delete_secret(access: EnvironmentAccess, name: str, *, if_match: int | None) -> None:
    _change(access, name, None, comment="", if_match=if_match)


def _change(
    access: EnvironmentAccess, name: str, value: str | None, *, comment: str, if_match: int | None
) -> SecretRecord:
    """Set (value) or soft-delete (None) one secret, atomically with the snapshot and audit."""
    _check_server_managed(access)
    for _attempt in range(MAX_ATTEMPTS):
        try:
            return _change_once(access, name, value, comment=comment, if_match=if_match)
        except _Retry:
            continue
    raise Conflict("the environment is changing too fast; retry", headers={"Retry-After": "1"})


def _change_once(
    access: EnvironmentAccess, name: str, value: str | None, *, comment: str, if_match: int | None
) -> SecretRecord:
    scope, env_id = _scope(access), access.environment.id
    snap, meta = data.snapshot_and_secret(env_id, name)
    live = meta is not None and not meta.deleted
    if if_match is not None and (not live or meta is None or meta.version != if_match):
        raise PreconditionFailed(
            "the secret changed since that version",
            code="version_mismatch",
            details={"current_version": meta.version if live and meta else None},
        )
    if value is None and not live:
        raise NotFound("secret not found")
    opened = _open(scope, snap)
    now, who = clock.now_iso(), access.principal.id
    ops: list[db.Op] = []
    if opened.snapshot is None:
        new_key = crypto.new_data_key(scope, settings().kms_key_id, version=1)
        key, key_version, wrapped, kms_key_id = new_key.plaintext, 1, new_key.wrapped, new_key.kms_key_id
        ops.append(
            db.Put.new(
                data.data_key_item(
                    env_id, DataKeyRecord(version=1, wrapped_key=wrapped, kms_key_id=kms_key_id, created_at=now)
                ),
                on_fail=_Retry("retry"),
            )
        )
    else:
        assert opened.key is not None
        key, key_version = opened.key, opened.snapshot.key_version
        wrapped, kms_key_id = opened.snapshot.wrapped_key, opened.snapshot.kms_key_id
    version = (meta.version if meta else 0) + 1
    values = dict(opened.values)
    if value is None:
        values.pop(name, None)
    else:
        values[name] = {"value": value, "version": version, "updated_at": now, "updated_by": who}
    revision = (opened.snapshot.revision if opened.snapshot else 0) + 1
    blob = crypto.encrypt(
        key, json.dumps(values, separators=(",", ":")).encode(), scope.aad("snapshot", key_version, revision)
    )
    if len(blob) > MAX_SNAPSHOT_BYTES:
        raise PayloadTooLarge("the environment would exceed the size one snapshot holds", code="environment_full")
    new_meta = SecretRecord(
        key=name,
        version=version,
        deleted=value is None,
        created_at=meta.created_at if meta and live else now,
        updated_at=now,
        updated_by=who,
    )
    stale = (
        PreconditionFailed("the secret changed since that version", code="version_mismatch")
        if if_match is not None
        else _Retry("retry")
    )
    ops += [
        db.Put(
            data.secret_item(env_id, new_meta),
            condition="attribute_not_exists(PK)" if meta is None else "version = :v",
            values={} if meta is None else {":v": meta.version},
            on_fail=stale,
        ),
        db.Put.new(
            data.version_item(
                env_id,
                VersionRecord(
                    key=name,
                    version=version,
                    action="delete" if value is None else "set",
                    blob=None
                    if value is None
                    else crypto.encrypt(key, value.encode(), _value_aad(scope, name, version, key_version)),
                    key_version=None if value is None else key_version,
                    comment=comment,
                    created_at=now,
                    created_by=who,
                ),
            ),
            on_fail=stale,
        ),
        db.Put(
            data.snapshot_item(
                env_id,
                SnapshotRecord(
                    revision=revision,
                    blob=blob,
                    key_version=key_version,
                    wrapped_key=wrapped,
                    kms_key_id=kms_key_id,
                    count=len(values),
                    updated_at=now,
                ),
            ),
            condition="attribute_not_exists(PK)" if opened.snapshot is None else "revision = :r",
            values={} if opened.snapshot is None else {":r": opened.snapshot.revision},
            on_fail=_Retry("retry"),
        ),
    ]
    action = "secret.deleted" if value is None else ("secret.updated" if live else "secret.created")
    db.transact(
        ops,
        audit=audit.event(
            action,
            scope_id=access.org.id,
            resource_type="secret",
            resource_id=name,
            project_id=access.project.id,
            environment_id=env_id,
            metadata={"key": name, "version": version, "revision": revision},
        ),
    )
    return new_meta
