"""Personal access tokens' items (keys in keys.py, layout in docs/data-model.md): `PAT#<id> / PAT`,
indexed by user on GSI1 (`USER#<usr>#PATS`), and the user's count item `USER#<usr> / PATCOUNT`.
Every read of them and every op (with its condition) is built here; domain/pats.py decides what
a change writes and which count op goes with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.data import tokens as token_data
from strongroom.errors import AppError


class PatRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    user_id: str
    name: str
    token_hash: str
    org_ids: list[str] | None = None
    read_only: bool = False
    expires_at: str | None = None
    created_at: str
    created_via: str = "api"
    last_used_at: str | None = None


# --------------------------------------------------------------------------- reads


def get(pat_id: str) -> PatRecord | None:
    item = db.get(keys.personal_token(pat_id))
    return PatRecord.model_validate(item) if item is not None else None


def of_user(user_id: str) -> list[PatRecord]:
    """Every token of the user (GSI1, by creation)."""
    return [PatRecord.model_validate(i) for i in db.query_all(keys.personal_tokens_partition(user_id), index=keys.GSI1)]


def count(user_id: str) -> int | None:
    """The user's count item, None while the user has none."""
    item = db.get(keys.personal_token_count(user_id))
    return int(item["count"]) if item else None


# --------------------------------------------------------------------------- ops of a change


def item(rec: PatRecord) -> dict[str, Any]:
    return {
        **keys.personal_token(rec.id),
        **keys.personal_token_index(rec.user_id, rec.created_at, rec.id),
        "entity": "personal_token",
        **rec.model_dump(exclude_none=True),
    }


def create(rec: PatRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the new token item (a taken ID fails)."""
    return db.Put.new(item(rec), on_fail=on_fail)


def revoke(pat_id: str, *, on_fail: AppError) -> db.Delete:
    """A transaction op: the token item's deletion (it must still exist)."""
    return db.Delete(keys.personal_token(pat_id), condition="attribute_exists(PK)", on_fail=on_fail)


def first_count(user_id: str, value: int, *, on_fail: AppError) -> db.Put:
    """A transaction op: the user's first count item, unless another request wrote one first."""
    key = keys.personal_token_count(user_id)
    return db.Put(
        {**key, "entity": "personal_token_count", "count": value},
        condition="attribute_not_exists(PK)",
        on_fail=on_fail,
    )


def add_to_count(user_id: str, delta: int, *, at_most: int, on_fail: AppError) -> db.Update:
    """A transaction op: the count grows by `delta` (> 0) on the condition that it stays within
    `at_most`."""
    return db.Update(
        keys.personal_token_count(user_id),
        "ADD #c :d",
        condition="#c <= :before",
        names={"#c": "count"},
        values={":d": delta, ":before": at_most - delta},
        on_fail=on_fail,
    )


def take_from_count(user_id: str, delta: int, *, on_fail: AppError) -> db.Update:
    """A transaction op: the count moves by `delta` (≤ 0) on the existing count item."""
    return db.Update(
        keys.personal_token_count(user_id), "ADD #c :d", names={"#c": "count"}, values={":d": delta}, on_fail=on_fail
    )


# --------------------------------------------------------------------------- bookkeeping


def stamp_used(pat_id: str, now: datetime, recent: datetime) -> None:
    """The PAT's `last_used_at` (unaudited, at most once per `recent`)."""
    token_data.stamp_used(keys.personal_token(pat_id), now, recent)
