"""Rotation policy items (keys in keys.py, layout in docs/data-model.md): one per rotated secret,
`ENV#<env> / ROTATION#<key>`, on GSI1 under `ROTATION#DUE` sorted by when it is next due (its next
rotation, or an old credential's retirement, whichever comes first): the worker's list, read with
a Query, never a Scan.

Every write of a policy is a whole-item Put conditional on the revision (`rev`) read, so a policy
change, a worker's lease and each step of a rotation are compare-and-set: two workers never both
take one rotation, and a step written by a worker that lost its lease is refused. domain/rotation.py
decides; the conditions are built here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import aws
from strongroom.data import db, keys
from strongroom.errors import AppError, Conflict

ENTITY = "rotation"


class Retirement(BaseModel):
    """An old credential to remove at the target once its grace period ends (an IAM access key)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    credential_id: str
    after: str


class RotationRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    project_id: str
    environment_id: str
    key: str
    interval_days: int
    rotator: dict[str, Any]  # the public configuration (no credential)
    sealed: bytes | None = None  # KMS-sealed JSON of the rotator's credentials (master password, signing secret)
    status: str = "scheduled"  # scheduled | rotating | succeeded | failed
    step: str | None = None  # create | set | test | finish, while rotating
    rotation_id: str | None = None
    creating_since: str | None = None  # when a create step with effects at the target (an IAM key) began
    pending: bytes | None = None  # KMS-sealed JSON of the pending value (and the rotator's notes)
    next_rotation_at: str
    last_rotated_at: str | None = None
    last_error: str | None = None
    version: int | None = None
    retire: list[Retirement] = []
    lease_owner: str | None = None
    lease_until: str | None = None
    rev: int = 0
    created_at: str
    updated_at: str
    created_by: str

    @property
    def due_at(self) -> str:
        return min([self.next_rotation_at, *(r.after for r in self.retire)])


def _item(rec: RotationRecord) -> dict[str, Any]:
    return {
        **keys.rotation(rec.environment_id, rec.key),
        **keys.rotation_due_index(rec.due_at, rec.environment_id, rec.key),
        "entity": ENTITY,
        **rec.model_dump(exclude_none=True),
    }


def get(env_id: str, key: str) -> RotationRecord | None:
    item = db.get(keys.rotation(env_id, key))
    return RotationRecord.model_validate(item) if item is not None else None


def due(now: str, *, limit: int) -> list[RotationRecord]:
    """The policies due at `now`, soonest first, at most `limit` (one Query of the due index; the
    index is eventually consistent, so each is read again before it is acted on)."""
    found = db.query(keys.ROTATION_DUE, index=keys.GSI1, limit=limit)
    out = []
    for item in found.items:
        if str(item.get(keys.GSI1SK, "")) > now:
            break
        rec = get(str(item["environment_id"]), str(item["key"]))
        if rec is not None and rec.due_at <= now:
            out.append(rec)
    return out


def create(rec: RotationRecord, *, on_fail: AppError) -> db.Put:
    return db.Put.new(_item(rec), on_fail=on_fail)


def replace(rec: RotationRecord, *, previous: RotationRecord, on_fail: AppError) -> db.Put:
    """`rec` (its `rev` one past `previous`'s) in place of `previous`, as it was read."""
    return db.Put(
        _item(rec), condition="#rev = :rev", names={"#rev": "rev"}, values={":rev": previous.rev}, on_fail=on_fail
    )


def remove(rec: RotationRecord, *, on_fail: AppError) -> db.Delete:
    return db.Delete(
        keys.rotation(rec.environment_id, rec.key),
        condition="#rev = :rev",
        names={"#rev": "rev"},
        values={":rev": rec.rev},
        on_fail=on_fail,
    )


def swap(rec: RotationRecord, *, previous: RotationRecord) -> bool:
    """Bookkeeping outside a transaction (a lease taken, a step recorded): `rec` in place of
    `previous` if nobody wrote it since (one conditional PutItem). False when somebody did."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    params = replace(rec, previous=previous, on_fail=Conflict("moved")).request()["Put"]
    try:
        aws.dynamodb().put_item(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise db.translate(exc) from exc
    except BotoCoreError as exc:
        raise db.translate(exc) from exc
    return True


def discard(rec: RotationRecord) -> None:
    """The policy of an environment that is gone (bookkeeping: the deletion was the audited change)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    params = remove(rec, on_fail=Conflict("moved")).request()["Delete"]
    try:
        aws.dynamodb().delete_item(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise db.translate(exc) from exc
    except BotoCoreError as exc:
        raise db.translate(exc) from exc
