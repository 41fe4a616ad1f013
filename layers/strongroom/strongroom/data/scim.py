"""SCIM tokens' items (keys in keys.py, layout in docs/data-model.md): `SCIMTOK#<id> / SCIMTOK`,
indexed by org on GSI1 (`ORG#<org>#SCIMTOKENS`). Every read of them and every op (with its
condition) is built here; domain/scim_tokens.py decides what a change writes."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.data import tokens as token_data
from strongroom.errors import AppError


class ScimTokenRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    token_hash: str
    created_at: str
    created_by: str
    last_used_at: str | None = None


def get(token_id: str) -> ScimTokenRecord | None:
    item = db.get(keys.scim_token(token_id))
    return ScimTokenRecord.model_validate(item) if item is not None else None


def of_org(org_id: str) -> list[ScimTokenRecord]:
    """Every SCIM token of the org (GSI1, by creation)."""
    return [
        ScimTokenRecord.model_validate(i) for i in db.query_all(keys.org_scim_tokens_partition(org_id), index=keys.GSI1)
    ]


def create(rec: ScimTokenRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the new token item (a taken ID fails)."""
    item: dict[str, Any] = {
        **keys.scim_token(rec.id),
        **keys.scim_token_index(rec.org_id, rec.created_at, rec.id),
        "entity": "scim_token",
        **rec.model_dump(exclude_none=True),
    }
    return db.Put.new(item, on_fail=on_fail)


def revoke(token_id: str, *, on_fail: AppError) -> db.Delete:
    """A transaction op: the token item's deletion (it must still exist)."""
    return db.Delete(keys.scim_token(token_id), condition="attribute_exists(PK)", on_fail=on_fail)


def stamp_used(token_id: str, now: datetime, recent: datetime) -> None:
    """The token's `last_used_at` (unaudited, at most once per `recent`)."""
    token_data.stamp_used(keys.scim_token(token_id), now, recent)


# --------------------------------------------------------------------------- provisioned users


class ScimUserRecord(BaseModel):
    """What the org's identity provider said of one of its users: the SCIM attributes it sent
    (`attributes`, JSON text), the userName it is known by, the account it stands for. Whether the
    user is active is whether the membership exists (never stored twice)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    user_id: str
    user_name: str
    email: str
    attributes: str
    created_at: str
    updated_at: str
    version: int = 1
    # The role the user holds while active (the Group it is in): kept while inactive, so that the
    # membership a reactivation restores has it.
    role: str = "viewer"


def _name_digest(user_name: str) -> str:
    return hashlib.sha256(user_name.lower().encode()).hexdigest()


def user(org_id: str, user_id: str) -> ScimUserRecord | None:
    item = db.get(keys.scim_user(org_id, user_id))
    return ScimUserRecord.model_validate(item) if item is not None else None


def user_by_name(org_id: str, user_name: str) -> ScimUserRecord | None:
    pointer = db.get(keys.scim_user_name(org_id, _name_digest(user_name)))
    return user(org_id, str(pointer["user_id"])) if pointer else None


def users_of_org(org_id: str) -> list[ScimUserRecord]:
    """Every user the org provisioned, by user ID (one Query of the org's partition)."""
    return [
        ScimUserRecord.model_validate(i) for i in db.query_all(keys.org_partition(org_id), prefix=keys.SCIM_USER_PREFIX)
    ]


def _user_item(rec: ScimUserRecord) -> dict[str, Any]:
    return {**keys.scim_user(rec.org_id, rec.user_id), "entity": "scim_user", **rec.model_dump()}


def create_user(rec: ScimUserRecord, *, taken: AppError) -> list[db.Op]:
    """Transaction ops: the record and its userName pointer (a userName or user the org
    provisioned already fails with `taken`)."""
    pointer = {
        **keys.scim_user_name(rec.org_id, _name_digest(rec.user_name)),
        "entity": "scim_user_name",
        "user_id": rec.user_id,
    }
    return [db.Put.new(_user_item(rec), on_fail=taken), db.Put.new(pointer, on_fail=taken)]


def replace_user(rec: ScimUserRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the record's new version, on the condition that it is the next one."""
    return db.Put(_user_item(rec), condition="version = :v", values={":v": rec.version - 1}, on_fail=on_fail)


def delete_user(rec: ScimUserRecord, *, on_fail: AppError) -> list[db.Op]:
    """Transaction ops: the record (as read) and its userName pointer."""
    return [
        db.Delete(
            keys.scim_user(rec.org_id, rec.user_id),
            condition="version = :v",
            values={":v": rec.version},
            on_fail=on_fail,
        ),
        db.Delete(keys.scim_user_name(rec.org_id, _name_digest(rec.user_name)), condition=None),
    ]


# --------------------------------------------------------------------------- Groups' externalId


def group_external_ids(org_id: str) -> dict[str, str]:
    """group id -> the externalId the org's identity provider gave it (one Query)."""
    items = db.query_all(keys.org_partition(org_id), prefix="SCIMGROUP#")
    return {str(i["SK"]).removeprefix("SCIMGROUP#"): str(i["external_id"]) for i in items if i.get("external_id")}


def put_group_external_id(org_id: str, group_id: str, external_id: str | None) -> db.Op:
    """A transaction op: the Group's externalId (none: the item goes)."""
    if external_id is None:
        return db.Delete(keys.scim_group(org_id, group_id), condition=None)
    return db.Put({**keys.scim_group(org_id, group_id), "entity": "scim_group", "external_id": external_id})
