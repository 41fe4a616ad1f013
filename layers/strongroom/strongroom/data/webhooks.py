"""Webhook items in the org's partition (keys in keys.py, layout in docs/data-model.md):
`ORG#<org> / WEBHOOK#<whk>`, with their sealed signing secrets. Every read of them and every op
(with its condition) is built here: the audited create/replace/delete/disable ops and the
dispatcher's unaudited status moves (failing, active again). domain/webhooks.py and delivery.py
decide which one happens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys
from strongroom.errors import AppError


class SecretRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    sealed: bytes
    created_at: str
    expires_at: str | None = None


class WebhookRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    url: str
    events: list[str]
    project_id: str | None = None
    environment_id: str | None = None
    description: str = ""
    enabled: bool = True
    status: str = "active"  # active | failing | disabled
    failing_since: str | None = None
    secrets: list[SecretRecord]
    created_at: str
    updated_at: str


_STATUS = {"#st": "status"}


# --------------------------------------------------------------------------- reads


def get(org_id: str, webhook_id: str) -> WebhookRecord | None:
    item = db.get(keys.webhook(org_id, webhook_id))
    return WebhookRecord.model_validate(item) if item is not None else None


def of_org(org_id: str) -> list[WebhookRecord]:
    """Every webhook of the org (one Query of its partition's `WEBHOOK#` items)."""
    return [
        WebhookRecord.model_validate(i) for i in db.query_all(keys.org_partition(org_id), prefix=keys.WEBHOOK_PREFIX)
    ]


def count_upto(org_id: str, limit: int) -> int:
    """How many webhooks the org has, counting no further than `limit` (one page)."""
    return len(db.query(keys.org_partition(org_id), prefix=keys.WEBHOOK_PREFIX, limit=limit).items)


# --------------------------------------------------------------------------- audited ops


def item(rec: WebhookRecord) -> dict[str, Any]:
    return {**keys.webhook(rec.org_id, rec.id), "entity": "webhook", **rec.model_dump(exclude_none=True)}


def create(rec: WebhookRecord) -> db.Put:
    """A transaction op: the new webhook item (a taken ID fails)."""
    return db.Put.new(item(rec))


def replace(seen: WebhookRecord, updated: WebhookRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: `updated` over `seen`, on the condition that it has not changed since."""
    return db.Put(item(updated), condition="updated_at = :seen", values={":seen": seen.updated_at}, on_fail=on_fail)


def delete(rec: WebhookRecord, *, on_fail: AppError) -> db.Delete:
    """A transaction op: the webhook item's deletion (it must still exist)."""
    return db.Delete(keys.webhook(rec.org_id, rec.id), condition="attribute_exists(PK)", on_fail=on_fail)


def disable(rec: WebhookRecord) -> db.Update:
    """A transaction op: a failing webhook becomes disabled (only while it is still failing)."""
    return db.Update(
        keys.webhook(rec.org_id, rec.id),
        "SET #st = :disabled, enabled = :false",
        condition="#st = :failing",
        names=_STATUS,
        values={":disabled": "disabled", ":false": False, ":failing": "failing"},
    )


# --------------------------------------------------------------------------- the dispatcher, unaudited


def recovered(rec: WebhookRecord) -> bool:
    """A failing webhook delivered again: active (False when it was not failing any more)."""
    return db.update_plain(
        keys.webhook(rec.org_id, rec.id),
        "SET #st = :active REMOVE failing_since",
        condition="#st = :failing",
        names=_STATUS,
        values={":active": "active", ":failing": "failing"},
    )


def failing(rec: WebhookRecord, now: datetime) -> bool:
    """A delivery failed for good: the webhook is failing, since its first such failure (never
    over a disabled one)."""
    return db.update_plain(
        keys.webhook(rec.org_id, rec.id),
        "SET #st = :failing, failing_since = if_not_exists(failing_since, :now)",
        condition="attribute_exists(PK) AND #st <> :disabled",
        names=_STATUS,
        values={":failing": "failing", ":now": clock.iso(now), ":disabled": "disabled"},
    )
