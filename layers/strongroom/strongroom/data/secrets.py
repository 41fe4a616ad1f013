"""Secret items in an environment's partition (keys in keys.py, layout in docs/data-model.md):
the snapshot (the environment's whole state, one encrypted blob, with the wrapped data key), data
keys by version, and per-version ciphertexts (the history). Every read of them and every write
op (with its condition) is built here; domain/secrets.py decides what a change writes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError

# A snapshot's ciphertext goes in parts of at most CHUNK_BYTES: the first in the SNAPSHOT item,
# the rest in `chunks` immutable items keyed by revision (DynamoDB items stop at 400 KB).
CHUNK_BYTES = 350_000


class SnapshotRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    revision: int
    blob: bytes  # the whole ciphertext once read (see snapshot()); the first part in the item
    chunks: int = 0
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


class VersionHeader(BaseModel):
    """A version item without its value (what a point-in-time restore reads of the history)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    key: str
    version: int
    action: str
    created_at: str


class DataKeyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    version: int
    wrapped_key: bytes
    kms_key_id: str
    created_at: str


def snapshot(env_id: str) -> SnapshotRecord | None:
    """The environment's snapshot with its whole ciphertext: one GetItem, plus one BatchGetItem of
    its parts when it spilled past one item."""
    return snapshots([env_id]).get(env_id)


def snapshots(env_ids: list[str]) -> dict[str, SnapshotRecord]:
    """Several environments' snapshots, whole: one read of the items (GetItem for one, else
    BatchGetItem), one BatchGetItem of the parts of those that spilled. A part replaced by a
    concurrent change (its revision's parts are deleted with it) is read again."""
    out: dict[str, SnapshotRecord] = {}
    pending = list(dict.fromkeys(env_ids))
    for _attempt in range(4):
        if not pending:
            break
        if len(pending) == 1:
            one = db.get(keys.env_snapshot(pending[0]))
            items = [one] if one else []
        else:
            items = db.batch_get([keys.env_snapshot(e) for e in pending])
        heads = {str(i[keys.PK]).removeprefix("ENV#"): SnapshotRecord.model_validate(i) for i in items}
        wanted = [
            keys.env_snapshot_chunk(env_id, head.revision, part)
            for env_id, head in heads.items()
            for part in range(1, head.chunks + 1)
        ]
        parts = {(i[keys.PK], i[keys.SK]): bytes(i["blob"]) for i in db.batch_get(wanted)} if wanted else {}
        retry: list[str] = []
        for env_id, head in heads.items():
            keys_ = [keys.env_snapshot_chunk(env_id, head.revision, p) for p in range(1, head.chunks + 1)]
            found = [parts.get((k[keys.PK], k[keys.SK])) for k in keys_]
            if any(f is None for f in found):
                retry.append(env_id)
                continue
            whole = head.blob + b"".join(f for f in found if f is not None)
            out[env_id] = head.model_copy(update={"blob": whole}) if head.chunks else head
        pending = retry
    if pending:
        from strongroom.errors import Conflict  # noqa: PLC0415

        raise Conflict("the environment is changing too fast; retry", headers={"Retry-After": "1"})
    return out


def snapshot_head(env_id: str) -> SnapshotRecord | None:
    """The SNAPSHOT item alone (its first part of the ciphertext): one GetItem, for what needs
    only its revision and wrapped key."""
    item = db.get(keys.env_snapshot(env_id))
    return SnapshotRecord.model_validate(item) if item else None


def snapshot_revisions(env_ids: list[str]) -> dict[str, int]:
    """The current revision of each of these environments that has a snapshot: one BatchGetItem
    of the SNAPSHOT items (never their parts)."""
    items = db.batch_get([keys.env_snapshot(e) for e in env_ids])
    return {str(i[keys.PK]).removeprefix("ENV#"): int(i["revision"]) for i in items}


def snapshot_item_count(snap: SnapshotRecord) -> int:
    """How many items the snapshot's ciphertext takes: the SNAPSHOT item and its parts."""
    return max(1, -(-len(snap.blob) // CHUNK_BYTES))


def snapshot_items(env_id: str, snap: SnapshotRecord) -> list[dict[str, Any]]:
    """The SNAPSHOT item (the first part of the ciphertext) and its part items, if it spills."""
    parts = [snap.blob[i : i + CHUNK_BYTES] for i in range(0, len(snap.blob), CHUNK_BYTES)] or [b""]
    head = snap.model_copy(update={"blob": parts[0], "chunks": len(parts) - 1})
    return [
        {**keys.env_snapshot(env_id), "entity": "env_snapshot", **head.model_dump()},
        *(
            {**keys.env_snapshot_chunk(env_id, snap.revision, n), "entity": "env_snapshot_chunk", "blob": part}
            for n, part in enumerate(parts[1:], start=1)
        ),
    ]


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


def version_headers(env_id: str, *, limit: int) -> list[VersionHeader]:
    """Up to `limit` versions of every key of an environment, by key then version, without values."""
    page = db.query(
        keys.environment_partition(env_id),
        prefix=keys.ALL_VERSIONS_PREFIX,
        limit=limit,
        attributes=("key", "version", "action", "created_at"),
    )
    return [VersionHeader.model_validate(i) for i in page.items]


def versions(env_id: str, wanted: list[tuple[str, int]]) -> list[VersionRecord]:
    """These (key, version) items, whole, in batches."""
    items = db.batch_get([keys.secret_version(env_id, key, number) for key, number in wanted]) if wanted else []
    return [VersionRecord.model_validate(i) for i in items]


def data_key(env_id: str, number: int) -> DataKeyRecord | None:
    item = db.get(keys.env_data_key(env_id, number))
    return DataKeyRecord.model_validate(item) if item else None


def data_keys(env_id: str) -> list[DataKeyRecord]:
    """Every data key the environment has had, by version."""
    return [
        DataKeyRecord.model_validate(i)
        for i in db.query_all(keys.environment_partition(env_id), prefix=keys.DATA_KEY_PREFIX)
    ]


def version_item(env_id: str, rec: VersionRecord) -> dict[str, Any]:
    return {
        **keys.secret_version(env_id, rec.key, rec.version),
        "entity": "secret_version",
        **rec.model_dump(exclude_none=True),
    }


def data_key_item(env_id: str, rec: DataKeyRecord) -> dict[str, Any]:
    return {**keys.env_data_key(env_id, rec.version), "entity": "env_data_key", **rec.model_dump()}


# --------------------------------------------------------------------------- the ops of a change


def create_version(env_id: str, rec: VersionRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: a new version item (versions are immutable; a taken number fails)."""
    return db.Put.new(version_item(env_id, rec), on_fail=on_fail)


def create_data_key(env_id: str, rec: DataKeyRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: a new data key version (a taken version fails)."""
    return db.Put.new(data_key_item(env_id, rec), on_fail=on_fail)


def replace_snapshot(
    env_id: str, snap: SnapshotRecord, *, previous: SnapshotRecord | None, on_fail: AppError
) -> list[db.Op]:
    """Transaction ops: the new SNAPSHOT item, conditional on `previous` (none yet, or its revision
    and wrapping key unchanged), its part items, and the deletion of `previous`'s parts."""
    head, *parts = snapshot_items(env_id, snap)
    ops: list[db.Op] = [
        db.Put(
            head,
            # kms_key_id too: a re-wrap (BYOK) between the read and this write must not be undone
            condition="attribute_not_exists(PK)" if previous is None else "revision = :r AND kms_key_id = :k",
            values={} if previous is None else {":r": previous.revision, ":k": previous.kms_key_id},
            on_fail=on_fail,
        )
    ]
    ops += [db.Put.new(part, on_fail=on_fail) for part in parts]
    if previous is not None:  # the previous revision's parts go with it
        ops += [db.Delete(keys.env_snapshot_chunk(env_id, previous.revision, n)) for n in range(1, previous.chunks + 1)]
    return ops


# --------------------------------------------------------------------------- re-wrapping (BYOK), unaudited follow-ups


def rewrap_data_key(env_id: str, rec: DataKeyRecord, wrapped: bytes, kms_key_id: str) -> bool:
    """Store the data key wrapped under another KMS key, unless someone re-wrapped it first."""
    return db.update_plain(
        keys.env_data_key(env_id, rec.version),
        "SET wrapped_key = :w, kms_key_id = :k",
        condition="kms_key_id = :old",
        values={":w": wrapped, ":k": kms_key_id, ":old": rec.kms_key_id},
    )


def rewrap_snapshot(env_id: str, snap: SnapshotRecord, key: DataKeyRecord) -> bool:
    """Give the snapshot its data key's current wrapping; False when the snapshot moved meanwhile
    (another revision, or another wrapping)."""
    return db.update_plain(
        keys.env_snapshot(env_id),
        "SET wrapped_key = :w, kms_key_id = :k",
        condition="revision = :r AND kms_key_id = :old",
        values={":w": key.wrapped_key, ":k": key.kms_key_id, ":r": snap.revision, ":old": snap.kms_key_id},
    )
