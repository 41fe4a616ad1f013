"""Secret items in an environment's partition (keys in keys.py, layout in docs/data-model.md):
the snapshot (the environment's whole state, one encrypted blob, with the wrapped data key), data
keys by version, and per-version ciphertexts (the history). Every read of them and every write
op (with its condition) is built here; domain/secrets.py decides what a change writes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
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
    # The parts of a snapshot written ahead of its publication are keyed by the change's id
    # (`parts_id`); without one, by the revision (written in the change's transaction).
    parts_id: str | None = None
    # A large change published with this revision whose version items are not all written yet:
    # its change set (`pending_parts` items) holds them; `stale_parts` are the previous
    # revision's parts, deleted once the change set is materialized.
    pending: str | None = None
    pending_parts: int = 0
    stale_parts: list[str] = []
    key_version: int
    wrapped_key: bytes
    kms_key_id: str
    count: int
    updated_at: str
    # A client-encrypted environment's snapshot: its blob is the JSON state itself, its values the
    # clients' ciphertexts as sent (no data key, no wrapped key: the server holds none).
    client: bool = False


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
        wanted = [key for env_id, head in heads.items() for key in part_keys(env_id, head)]
        parts = {(i[keys.PK], i[keys.SK]): bytes(i["blob"]) for i in db.batch_get(wanted)} if wanted else {}
        retry: list[str] = []
        for env_id, head in heads.items():
            keys_ = part_keys(env_id, head)
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


def part_keys(env_id: str, snap: SnapshotRecord) -> list[dict[str, str]]:
    """The keys of the snapshot's part items (none when it fits the SNAPSHOT item)."""
    if snap.parts_id:
        return [keys.env_snapshot_part(env_id, snap.parts_id, n) for n in range(1, snap.chunks + 1)]
    return [keys.env_snapshot_chunk(env_id, snap.revision, n) for n in range(1, snap.chunks + 1)]


def snapshot_head(env_id: str) -> SnapshotRecord | None:
    """The SNAPSHOT item alone (its first part of the ciphertext): one GetItem, for what needs
    only its revision and wrapped key."""
    item = db.get(keys.env_snapshot(env_id))
    return SnapshotRecord.model_validate(item) if item else None


def snapshot_revisions(env_ids: list[str]) -> dict[str, int]:
    """The current revision of each of these environments that has a snapshot: one BatchGetItem
    of the SNAPSHOT items' revisions (never their ciphertext)."""
    items = db.batch_get([keys.env_snapshot(e) for e in env_ids], attributes=("revision",))
    return {str(i[keys.PK]).removeprefix("ENV#"): int(i["revision"]) for i in items}


# What names one revision of a snapshot exactly, and what its data key is unwrapped from.
STAMP_ATTRIBUTES = ("revision", "key_version", "updated_at", "wrapped_key", "kms_key_id")


def snapshot_stamps(env_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Of each of these environments that has a snapshot, the SNAPSHOT item's STAMP_ATTRIBUTES
    alone (consistent; without the ciphertext): one GetItem for one, else one BatchGetItem."""
    wanted = [keys.env_snapshot(e) for e in env_ids]
    if len(wanted) == 1:
        one = db.get(wanted[0], attributes=STAMP_ATTRIBUTES)
        items = [one] if one else []
    else:
        items = db.batch_get(wanted, attributes=STAMP_ATTRIBUTES)
    return {str(i[keys.PK]).removeprefix("ENV#"): i for i in items}


def snapshot_item_count(snap: SnapshotRecord) -> int:
    """How many items the snapshot's ciphertext takes: the SNAPSHOT item and its parts."""
    return max(1, -(-len(snap.blob) // CHUNK_BYTES))


def snapshot_items(env_id: str, snap: SnapshotRecord) -> list[dict[str, Any]]:
    """The SNAPSHOT item (the first part of the ciphertext) and its part items, if it spills."""
    parts = [snap.blob[i : i + CHUNK_BYTES] for i in range(0, len(snap.blob), CHUNK_BYTES)] or [b""]
    head = snap.model_copy(update={"blob": parts[0], "chunks": len(parts) - 1})
    return [
        {**keys.env_snapshot(env_id), "entity": "env_snapshot", **_head_attributes(head)},
        *(
            {**key, "entity": "env_snapshot_chunk", "blob": part}
            for key, part in zip(part_keys(env_id, head), parts[1:], strict=True)
        ),
    ]


def _head_attributes(head: SnapshotRecord) -> dict[str, Any]:
    """The SNAPSHOT item's attributes: those of a large change only when it has them."""
    return {k: v for k, v in head.model_dump(exclude_none=True).items() if v or k not in _LARGE_CHANGE_FIELDS}


_LARGE_CHANGE_FIELDS = frozenset({"parts_id", "pending", "pending_parts", "stale_parts", "client"})


# History reads see a published large change whose version items are not all written yet
# through its change set, named by the SNAPSHOT item (`pending`). The SNAPSHOT item is read
# first: a marker cleared after that read means its version items were all written before.


def pending_versions(env_id: str) -> dict[tuple[str, int], VersionRecord]:
    """(key, version) -> record of the published change not yet materialized, if any: one GetItem
    of the SNAPSHOT item's marker, + one BatchGetItem of the change set it names. A change set
    already deleted was materialized first (its version items exist): none."""
    item = db.get(keys.env_snapshot(env_id), attributes=("pending", "pending_parts"))
    if not item or not item.get("pending"):
        return {}
    records = change_set(env_id, str(item["pending"]), int(item.get("pending_parts", 0)))
    return {(r.key, r.version): r for r in records or []}


def version(env_id: str, key: str, number: int) -> VersionRecord | None:
    item = db.get(keys.secret_version(env_id, key, number))
    if item is None:
        pending = pending_versions(env_id).get((key, number))
        if pending is not None:
            return pending
        item = db.get(keys.secret_version(env_id, key, number))  # materialized meanwhile
    return VersionRecord.model_validate(item) if item else None


def versions_page(env_id: str, key: str, *, limit: int, cursor: str | None) -> tuple[list[VersionRecord], str | None]:
    """A page of a key's history, newest first. A pending change's version of it (always the
    newest: no change is planned before the last one is materialized) leads the first page."""
    pending = [r for (k, _), r in pending_versions(env_id).items() if k == key] if cursor is None else []
    partition, prefix = keys.environment_partition(env_id), keys.secret_versions_prefix(key)
    page = db.query(partition, prefix=prefix, limit=limit, cursor=cursor, forward=False)
    records = [VersionRecord.model_validate(i) for i in page.items]
    if not pending or any(r.version == pending[0].version for r in records):
        return records, page.next_cursor
    merged = [pending[0], *records]
    if len(merged) <= limit:
        return merged, page.next_cursor
    last = merged[limit - 1]
    return merged[:limit], db.query_cursor(partition, keys.secret_version(env_id, key, last.version), prefix=prefix)


def version_headers(env_id: str, *, limit: int) -> list[VersionHeader]:
    """Up to `limit` versions of every key of an environment, by key then version, without values."""
    pending = pending_versions(env_id)
    page = db.query(
        keys.environment_partition(env_id),
        prefix=keys.ALL_VERSIONS_PREFIX,
        limit=limit,
        attributes=("key", "version", "action", "created_at"),
    )
    heads = {(str(i["key"]), int(i["version"])): VersionHeader.model_validate(i) for i in page.items}
    for ident, rec in pending.items():
        heads.setdefault(ident, VersionHeader.model_validate(rec.model_dump()))
    return [heads[k] for k in sorted(heads)][:limit]


def versions(env_id: str, wanted: list[tuple[str, int]]) -> list[VersionRecord]:
    """These (key, version) items, whole, in batches (a pending change's from its change set)."""
    found = _versions(env_id, wanted)
    missing = [w for w in wanted if w not in found]
    if missing:
        pending = pending_versions(env_id)
        found.update((w, pending[w]) for w in missing if w in pending)
        found.update(_versions(env_id, [w for w in missing if w not in found]))  # materialized meanwhile
    return list(found.values())


def _versions(env_id: str, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], VersionRecord]:
    items = db.batch_get([keys.secret_version(env_id, key, number) for key, number in wanted]) if wanted else []
    records = (VersionRecord.model_validate(i) for i in items)
    return {(r.key, r.version): r for r in records}


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
    ops: list[db.Op] = [publish_snapshot(env_id, head, previous=previous, on_fail=on_fail)]
    ops += [db.Put.new(part, on_fail=on_fail) for part in parts]
    if previous is not None:  # the previous revision's parts go with it
        ops += [db.Delete(k) for k in part_keys(env_id, previous)]
    return ops


# --------------------------------------------------------------------------- a large change
# Written ahead (BatchWriteItem) under a fresh change id no reader can reach: the new snapshot's
# parts and the change set (every changed key's version record). Published by one transaction
# holding the SNAPSHOT item (conditional on the revision read) that names both. Then finished:
# the change set materialized as version items, the previous revision's parts and the change
# set deleted, the marker cleared. Every step after publishing is idempotent.

CHANGE_SET_BYTES = 300_000  # of records (JSON) per change-set item, under DynamoDB's 400 KB


def change_set_items(env_id: str, change_id: str, records: list[VersionRecord]) -> list[dict[str, Any]]:
    """The change set of `records` (one change: one comment, time and author) in items of at
    most CHANGE_SET_BYTES: each record as [key, version, action, key_version, blob (base64)]."""
    if not records:
        return []
    first = records[0]
    parts: list[list[list[Any]]] = [[]]
    size = 0
    for r in records:
        row = [r.key, r.version, r.action, r.key_version, base64.b64encode(r.blob).decode() if r.blob else None]
        row_size = len(json.dumps(row)) + 1
        if parts[-1] and size + row_size > CHANGE_SET_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += row_size
    common = {"comment": first.comment, "created_at": first.created_at, "created_by": first.created_by}
    return [
        {
            **keys.env_change_set(env_id, change_id, n),
            "entity": "env_change_set",
            "change_id": change_id,
            **common,
            "records": json.dumps(rows, separators=(",", ":")).encode(),
        }
        for n, rows in enumerate(parts, start=1)
    ]


def change_set(env_id: str, change_id: str, parts: int) -> list[VersionRecord] | None:
    """The version records of a change set (one BatchGetItem); None when a part is gone (the
    change set is deleted only once its version items are written)."""
    wanted = [keys.env_change_set(env_id, change_id, n) for n in range(1, parts + 1)]
    items = db.batch_get(wanted) if wanted else []
    if len(items) != len(wanted):
        return None
    out: list[VersionRecord] = []
    for item in sorted(items, key=lambda i: str(i[keys.SK])):
        for key, number, action, key_version, blob in json.loads(bytes(item["records"])):
            out.append(
                VersionRecord(
                    key=key,
                    version=number,
                    action=action,
                    blob=base64.b64decode(blob) if blob else None,
                    key_version=key_version,
                    comment=str(item.get("comment", "")),
                    created_at=str(item["created_at"]),
                    created_by=str(item["created_by"]),
                )
            )
    return out


def large_change(
    env_id: str, snap: SnapshotRecord, records: list[VersionRecord], *, change_id: str, previous: SnapshotRecord | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the SNAPSHOT item to publish, the items to write ahead of it) of a large change: the new
    snapshot's parts keyed by `change_id`, the change set, and a head naming both and the
    previous revision's parts (to delete once finished)."""
    staged_sets = change_set_items(env_id, change_id, records)
    marked = snap.model_copy(
        update={
            "parts_id": change_id,
            "pending": change_id,
            "pending_parts": len(staged_sets),
            "stale_parts": [k[keys.SK] for k in part_keys(env_id, previous)] if previous else [],
        }
    )
    head, *parts = snapshot_items(env_id, marked)
    return head, [*parts, *staged_sets]


def stage(items: list[dict[str, Any]]) -> None:
    """Write a large change's items ahead of its publication (no reader can reach them yet)."""
    db.put_many(items)


def discard_items(items: Iterable[dict[str, Any]]) -> None:
    """Delete these items (those a refused large change wrote ahead)."""
    db.delete_many([{keys.PK: i[keys.PK], keys.SK: i[keys.SK]} for i in items])


def discard_stale_parts(env_id: str, head: SnapshotRecord) -> None:
    """Delete the parts of the revision `head` replaced (readers holding it read again)."""
    partition = keys.environment_partition(env_id)
    db.delete_many([{keys.PK: partition, keys.SK: sk} for sk in head.stale_parts])


def discard_change_set(env_id: str, change_id: str, parts: int) -> None:
    """Delete a materialized change set."""
    db.delete_many([keys.env_change_set(env_id, change_id, n) for n in range(1, parts + 1)])


def publish_snapshot(
    env_id: str, head: dict[str, Any], *, previous: SnapshotRecord | None, on_fail: AppError
) -> db.Put:
    """A transaction op: the SNAPSHOT item, conditional on `previous` (none yet, or its revision
    and wrapping key unchanged)."""
    return db.Put(
        head,
        # kms_key_id too: a re-wrap (BYOK) between the read and this write must not be undone
        condition="attribute_not_exists(PK)" if previous is None else "revision = :r AND kms_key_id = :k",
        values={} if previous is None else {":r": previous.revision, ":k": previous.kms_key_id},
        on_fail=on_fail,
    )


def materialize(env_id: str, records: list[VersionRecord]) -> None:
    """The version items of a published change (idempotent: only it has those numbers)."""
    db.put_many([version_item(env_id, r) for r in records])


def settle(env_id: str, change_id: str) -> bool:
    """Clear the marker of a finished change; False when it is not (or no longer) there."""
    return db.update_plain(
        keys.env_snapshot(env_id),
        "REMOVE #p, #pp, #sp",
        condition="#p = :c",
        values={":c": change_id},
        names={"#p": "pending", "#pp": "pending_parts", "#sp": "stale_parts"},
    )


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


def secret_counts(env_ids: list[str]) -> dict[str, int]:
    """How many secrets each environment holds (its snapshot's `count`), in BatchGetItems of the
    snapshot items' `count` only; an environment never written holds none."""
    items = db.batch_get([keys.env_snapshot(e) for e in dict.fromkeys(env_ids)], attributes=["count"])
    return {str(i[keys.PK]).removeprefix("ENV#"): int(i.get("count", 0)) for i in items}
