"""Machine-identity items (keys in keys.py, layout in docs/data-model.md): `IDENTITY#<id> / IDENTITY`,
indexed by org on GSI1 (`ORG#<org>#IDENTITIES`, oldest first), and the replay records of the
credentials a token exchange accepted (`CREDUSED#<sha256> / CREDUSED`, deleted by TTL once the
credential is dead). Every read of them and the ops of create/replace/delete and of the replay
record (with their conditions) are built here; domain/identities.py decides what a change writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys
from strongroom.errors import AppError


class IdentityRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    type: str
    project_id: str
    environment_id: str
    permissions: list[str]
    ttl_seconds: int
    rules: dict[str, Any]
    # Bumped by every replacement: tokens issued under an older revision stop verifying.
    revision: int = 1
    created_at: str
    created_by: str
    updated_at: str | None = None


# --------------------------------------------------------------------------- reads


def get(identity_id: str) -> IdentityRecord | None:
    item = db.get(keys.identity(identity_id))
    return IdentityRecord.model_validate(item) if item is not None else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[IdentityRecord], str | None]:
    """A page of the org's identities (GSI1, by creation)."""
    found = db.query(keys.org_identities_partition(org_id), index=keys.GSI1, limit=limit, cursor=cursor)
    return [IdentityRecord.model_validate(i) for i in found.items], found.next_cursor


# --------------------------------------------------------------------------- ops of a change


def item(rec: IdentityRecord) -> dict[str, Any]:
    return {
        **keys.identity(rec.id),
        **keys.identity_index(rec.org_id, rec.created_at, rec.id),
        "entity": "identity",
        **rec.model_dump(exclude_none=True),
    }


def create(rec: IdentityRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the new identity item (a taken ID fails)."""
    return db.Put.new(item(rec), on_fail=on_fail)


def replace(old: IdentityRecord, new: IdentityRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the identity item replaced, on the condition that it still has the
    revision read (a concurrent replacement or deletion fails it)."""
    return db.Put(item(new), condition="revision = :read", values={":read": old.revision}, on_fail=on_fail)


def delete(rec: IdentityRecord, *, on_fail: AppError) -> db.Delete:
    """A transaction op: the identity item's deletion (it must still exist)."""
    return db.Delete(keys.identity(rec.id), condition="attribute_exists(PK)", on_fail=on_fail)


def credential_used(digest: str, *, identity_id: str, until: datetime, on_fail: AppError) -> db.Put:
    """A transaction op: the replay record of an accepted credential, kept until `until` (its
    expiry); the write fails while a live record of the same credential exists (a replay). A
    record past its time that TTL has not deleted yet does not count."""
    return db.Put(
        {
            **keys.identity_credential_used(digest),
            "entity": "identity_credential_used",
            "identity_id": identity_id,
            "used_at": clock.now_iso(),
            keys.TTL: int(until.timestamp()) + 1,
        },
        condition="attribute_not_exists(PK) OR #ttl < :now",
        names={"#ttl": keys.TTL},
        values={":now": int(clock.now().timestamp())},
        on_fail=on_fail,
    )
