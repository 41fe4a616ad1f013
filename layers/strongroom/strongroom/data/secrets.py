"""Secret items in an environment's partition (keys in keys.py, layout in docs/data-model.md):
the snapshot (the environment's whole state, one encrypted blob, with the wrapped data key), data
keys by version, and per-version ciphertexts (the history)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import db, keys


class SnapshotRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    revision: int
    blob: bytes
    key_version: int
    wrapped_key: bytes
    kms_key_id: str
    count: int
    updated_at: str


class VersionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    key: str
    version: int
    action: str  # "set" | "delete"
    blob: bytes | None = None
    key_version: int | None = None
    comment: str = ""
    created_at: str
    created_by: str


class DataKeyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    version: int
    wrapped_key: bytes
    kms_key_id: str
    created_at: str


def snapshot(env_id: str) -> SnapshotRecord | None:
    item = db.get(keys.env_snapshot(env_id))
    return SnapshotRecord.model_validate(item) if item else None


def version(env_id: str, key: str, number: int) -> VersionRecord | None:
    item = db.get(keys.secret_version(env_id, key, number))
    return VersionRecord.model_validate(item) if item else None


def versions_page(env_id: str, key: str, *, limit: int, cursor: str | None) -> tuple[list[VersionRecord], str | None]:
    page = db.query(
        keys.environment_partition(env_id),
        prefix=keys.secret_versions_prefix(key),
        limit=limit,
        cursor=cursor,
        forward=False,
    )
    return [VersionRecord.model_validate(i) for i in page.items], page.next_cursor


def data_key(env_id: str, number: int) -> DataKeyRecord | None:
    item = db.get(keys.env_data_key(env_id, number))
    return DataKeyRecord.model_validate(item) if item else None


def snapshot_item(env_id: str, snap: SnapshotRecord) -> dict[str, Any]:
    return {**keys.env_snapshot(env_id), "entity": "env_snapshot", **snap.model_dump()}


def version_item(env_id: str, rec: VersionRecord) -> dict[str, Any]:
    return {
        **keys.secret_version(env_id, rec.key, rec.version),
        "entity": "secret_version",
        **rec.model_dump(exclude_none=True),
    }


def data_key_item(env_id: str, rec: DataKeyRecord) -> dict[str, Any]:
    return {**keys.env_data_key(env_id, rec.version), "entity": "env_data_key", **rec.model_dump()}
