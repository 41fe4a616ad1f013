"""Delivery items, a webhook's delivery log (keys in keys.py, layout in docs/data-model.md):
`WEBHOOK#<whk> / DLV#<dlv>`, removed by DynamoDB's TTL after their retention. Every read of them
and every write (the audited create op, the fan-out's create-once, the dispatcher's record of an
attempt) is built here; domain/webhooks.py and delivery.py decide what is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys


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


def create(rec: DeliveryRecord, *, keep: timedelta) -> db.Put:
    """A transaction op: the new delivery (a taken ID fails)."""
    return db.Put.new(item(rec, keep=keep))


def create_once(rec: DeliveryRecord, *, keep: timedelta) -> bool:
    """The fan-out's delivery, unaudited (the audit event it delivers is its record); False when
    it exists already (an earlier read of the same stream record made it)."""
    try:
        db.put_plain(item(rec, keep=keep), condition="attribute_not_exists(PK)")
    except Exception:  # noqa: BLE001 - already made by an earlier read of this record
        return False
    return True


def record_attempt(rec: DeliveryRecord, fields: dict[str, Any], attempt: dict[str, Any]) -> None:
    """One attempt of the delivery: `fields` set (a None removes the attribute), `attempts`
    counted and `attempt` appended to its log (unaudited bookkeeping of the dispatcher)."""
    sets = [f"#{k} = :{k}" for k, v in fields.items() if v is not None]
    removes = [f"#{k}" for k, v in fields.items() if v is None]
    db.update_plain(
        keys.delivery(rec.webhook_id, rec.id),
        "SET "
        + ", ".join([*sets, "attempts = attempts + :one", "#log = list_append(if_not_exists(#log, :empty), :attempt)"])
        + (" REMOVE " + ", ".join(removes) if removes else ""),
        condition="attribute_exists(PK)",
        names={**{f"#{k}": k for k in fields}, "#log": "log"},
        values={
            **{f":{k}": v for k, v in fields.items() if v is not None},
            ":one": 1,
            ":empty": [],
            ":attempt": [{k: v for k, v in attempt.items() if v is not None}],
        },
    )


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
