"""Delivery items, a webhook's delivery log (keys in keys.py, layout in docs/data-model.md):
`WEBHOOK#<whk> / DLV#<dlv>`, removed by DynamoDB's TTL after their retention. Every read of them
and every write (the audited create op, the fan-out's create-once, the dispatcher's record of an
attempt) is built here; domain/webhooks.py and delivery.py decide what is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import counters, db, keys
from strongroom.errors import Conflict

ATTEMPTS = 4  # writes of a delivery that lost a race (its counter shard, its status)


class DeliveryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    webhook_id: str
    org_id: str
    event_id: str
    event_type: str
    payload: str  # the JSON body sent (no values: built from the audit event)
    status: str = "pending"  # pending | succeeded | retrying | failed
    attempts: int = 0
    response_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    created_at: str
    updated_at: str
    log: list[dict[str, Any]] = []


# --------------------------------------------------------------------------- reads


def get(webhook_id: str, delivery_id: str) -> DeliveryRecord | None:
    item = db.get(keys.delivery(webhook_id, delivery_id))
    return DeliveryRecord.model_validate(item) if item is not None else None


def page(webhook_id: str, *, limit: int, cursor: str | None) -> tuple[list[DeliveryRecord], str | None]:
    """A page of the webhook's deliveries, newest first."""
    found = db.query(
        keys.deliveries_partition(webhook_id), prefix=keys.DELIVERY_PREFIX, limit=limit, cursor=cursor, forward=False
    )
    return [DeliveryRecord.model_validate(i) for i in found.items], found.next_cursor


# --------------------------------------------------------------------------- writes


def item(rec: DeliveryRecord, *, keep: timedelta) -> dict[str, Any]:
    """A delivery and its log, kept `keep` from its creation (then DynamoDB's TTL removes it)."""
    expires = clock.parse(rec.created_at) + keep
    return {
        **keys.delivery(rec.webhook_id, rec.id),
        "entity": "webhook_delivery",
        **rec.model_dump(exclude_none=True),
        keys.TTL: int(expires.timestamp()),
    }


def create(rec: DeliveryRecord, *, keep: timedelta) -> list[db.Op]:
    """Transaction ops: the new delivery (a taken ID fails) and its count among the platform's
    deliveries by status (data/counters.py)."""
    return [db.Put.new(item(rec, keep=keep)), counters.delivery_created(rec.created_at)]


def create_once(rec: DeliveryRecord, *, keep: timedelta) -> bool:
    """The fan-out's delivery, unaudited (the audit event it delivers is its record), counted in
    the same transaction; False when it exists already (an earlier read of the same stream record
    made it)."""
    for attempt in range(ATTEMPTS):
        try:
            db.transact(create(rec, keep=keep))
        except db.Contended:  # another write on the same counter shard: again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        except Conflict:  # already made by an earlier read of this record
            return False
        return True
    return False


def record_attempt(rec: DeliveryRecord, fields: dict[str, Any], attempt: dict[str, Any]) -> None:
    """One attempt of the delivery: `fields` set (a None removes the attribute), `attempts`
    counted and `attempt` appended to its log (unaudited bookkeeping of the dispatcher). A status
    change moves the platform's deliveries by status in the same transaction, conditional on the
    status read (a concurrent receive of the same message moved it: read again)."""
    current: DeliveryRecord | None = rec
    for _ in range(ATTEMPTS):
        if current is None or (current is not rec and current.status in {"succeeded", "failed"}):
            return  # gone meanwhile (its webhook's purge), or settled by a concurrent receive
        try:
            _attempt_write(current, fields, attempt)
        except Conflict:
            current = get(rec.webhook_id, rec.id)
            continue
        return


def _attempt_write(rec: DeliveryRecord, fields: dict[str, Any], attempt: dict[str, Any]) -> None:
    sets = [f"#{k} = :{k}" for k, v in fields.items() if v is not None]
    removes = [f"#{k}" for k, v in fields.items() if v is None]
    status = fields.get("status") or rec.status
    update = db.Update(
        keys.delivery(rec.webhook_id, rec.id),
        "SET "
        + ", ".join([*sets, "attempts = attempts + :one", "#log = list_append(if_not_exists(#log, :empty), :attempt)"])
        + (" REMOVE " + ", ".join(removes) if removes else ""),
        condition="#status = :was",
        names={**{f"#{k}": k for k in fields}, "#log": "log", "#status": "status"},
        values={
            **{f":{k}": v for k, v in fields.items() if v is not None},
            ":one": 1,
            ":empty": [],
            ":attempt": [{k: v for k, v in attempt.items() if v is not None}],
            ":was": rec.status,
        },
    )
    if status == rec.status:
        if not db.update_plain(
            update.key, update.expression, condition="#status = :was", names=update.names, values=update.values
        ):
            raise Conflict("the delivery moved meanwhile")
        return
    db.transact([update, counters.delivery_moved(rec.created_at, {rec.status: -1, status: 1})])


def recent_statuses(webhook_id: str, *, limit: int) -> list[str]:
    """The statuses of the webhook's `limit` newest deliveries (/metrics)."""
    page = db.query(
        keys.deliveries_partition(webhook_id),
        prefix=keys.DELIVERY_PREFIX,
        limit=limit,
        forward=False,
        attributes=["status"],
    )
    return [str(i.get("status", "pending")) for i in page.items]
