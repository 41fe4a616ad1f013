"""Webhooks: an org's subscriptions to its events, signed per Standard Webhooks.

Management (admin: `webhooks.manage`): create (the `whsec_…` secret is shown once and stored
encrypted by KMS, bound to org and webhook), list, get, change, delete, test, the delivery log,
redelivery, and secret rotation with a grace period during which old and new secrets both sign.

Delivery (workers): every audit event is an outbox item; the fan-out turns each into one
delivery per matching webhook (event patterns with wildcards, optional project/environment
filter) and one SQS message each; the dispatcher sends it (netguard: https only outside dev
mode, public addresses only, pinned to the address checked, no redirects, 10 s, response bodies
discarded), records the attempt, and on failure lets SQS redeliver it after the next backoff
delay (visibility timeout), until the queue's redrive sends it to the dead-letter queue and the
webhook is marked failing. Payloads carry type, ids, key names, versions, actor and time, never
a value (audit metadata cannot hold one).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.data import chain
from strongroom.data import deliveries as delivery_data
from strongroom.data import orgs as org_data
from strongroom.data import webhooks as webhook_data
from strongroom.data.deliveries import DeliveryRecord
from strongroom.data.webhooks import SecretRecord, WebhookRecord
from strongroom.domain import audit, plans, purge
from strongroom.errors import NotFound, Unprocessable
from strongroom.models import (
    Delivery,
    DeliveryList,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPatch,
    WebhookSecretRotate,
)
from strongroom.security import crypto
from strongroom.security.access import OrgAccess

# The records live with their reads and writes (data/webhooks.py, data/deliveries.py).
__all__ = ["DeliveryRecord", "SecretRecord", "WebhookRecord"]

MAX_WEBHOOKS = 100
DISABLE_AFTER = timedelta(days=3)  # failing this long: disabled, with an event
DEFAULT_GRACE = timedelta(hours=24)
DELIVERY_RETENTION = timedelta(days=30)  # the delivery log of a webhook: what `…/deliveries` shows
PERMISSION = "webhooks.manage"


def _context(org_id: str, webhook_id: str) -> dict[str, str]:
    return {"org": org_id, "webhook": webhook_id, "purpose": "webhook-secret"}


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_destination(url: str) -> None:
    """422 naming why a URL may not receive webhooks (at creation; the dispatcher checks again)."""
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    try:
        check_url(url, allow_http_loopback=settings().auth_mode.value == "dev")
    except UnsafeUrl as exc:
        raise Unprocessable(
            f"this URL cannot receive webhooks: {exc.reason}",
            code="unsafe_url",
            details={"fields": [{"field": "url", "location": "body", "issue": exc.reason}]},
        ) from None


def _view(rec: WebhookRecord) -> Webhook:
    return Webhook.model_validate(rec.model_dump(exclude={"secrets"}))


def _get(access: OrgAccess, webhook_id: str) -> WebhookRecord:
    """The org's webhook (404 for another's or none); `access` must hold webhooks.manage."""
    access.require(PERMISSION)
    rec = webhook_data.get(access.org.id, webhook_id) if ids.is_id(webhook_id, "whk") else None
    if rec is None:
        raise NotFound("webhook not found")
    return rec


def _scope_ids(access: OrgAccess, project: str | None, environment: str | None) -> tuple[str | None, str | None]:
    from strongroom.data import projects as project_data  # noqa: PLC0415

    if environment and not project:
        raise Unprocessable("an environment filter needs its project", code="environment_without_project")
    if not project:
        return None, None
    found = project_data.resolve(access.org.id, project)
    if found is None:
        raise Unprocessable("no such project", code="unknown_project")
    if not environment:
        return found.id, None
    env = project_data.resolve_environment(access.org.id, found.id, environment)
    if env is None:
        raise Unprocessable("no such environment", code="unknown_environment")
    return found.id, env.id


def _replace(org_id: str, seen: WebhookRecord, updated: WebhookRecord, action: str, metadata: dict[str, Any]) -> None:
    """Write `updated` over `seen` (404 if it changed or went meanwhile), audited as `action`."""
    chain.transact(
        [webhook_data.replace(seen, updated, on_fail=NotFound("webhook not found"))],
        audit=audit.event(action, scope_id=org_id, resource_type="webhook", resource_id=seen.id, metadata=metadata),
    )


def create(access: OrgAccess, body: WebhookCreate) -> WebhookCreated:
    access.require(PERMISSION)
    check_destination(body.url)
    if webhook_data.count_upto(access.org.id, MAX_WEBHOOKS + 1) >= MAX_WEBHOOKS:
        raise Unprocessable(f"an org has at most {MAX_WEBHOOKS} webhooks", code="too_many_webhooks")
    project_id, environment_id = _scope_ids(access, body.project, body.environment)
    webhook_id = ids.new_id("whk")
    secret = _new_secret()
    now = clock.now_iso()
    sealed = crypto.seal(secret.encode(), _context(access.org.id, webhook_id), settings().kms_key_id)
    rec = WebhookRecord(
        id=webhook_id,
        org_id=access.org.id,
        url=body.url,
        events=sorted(set(body.events)),
        project_id=project_id,
        environment_id=environment_id,
        description=body.description,
        enabled=body.enabled,
        secrets=[SecretRecord(sealed=sealed, created_at=now)],
        created_at=now,
        updated_at=now,
    )
    limit = plans.limit_of(access.org, "webhooks")
    counted = org_data.guard(
        rec.org_id,
        usage={"webhooks": 1},
        limit=("webhooks", plans.room(access.org, "webhooks"), plans.reached("webhooks", limit)),
    )
    chain.transact(
        [counted, webhook_data.create(rec)],
        audit=audit.event(
            "webhook.created",
            scope_id=access.org.id,
            resource_type="webhook",
            resource_id=webhook_id,
            metadata={"events": rec.events, "host": body.url.split("/")[2][:200]},
        ),
    )
    return WebhookCreated(**_view(rec).model_dump(), secret=secret)


def list_webhooks(access: OrgAccess) -> WebhookList:
    access.require(PERMISSION)
    return WebhookList(data=[_view(r) for r in webhook_data.of_org(access.org.id)])


def get(access: OrgAccess, webhook_id: str) -> Webhook:
    return _view(_get(access, webhook_id))


def update(access: OrgAccess, webhook_id: str, body: WebhookPatch) -> Webhook:
    rec = _get(access, webhook_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "url" in changes:
        check_destination(changes["url"])
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    if "project" in changes or "environment" in changes:
        project_id, environment_id = _scope_ids(access, changes.pop("project", None), changes.pop("environment", None))
        changes |= {"project_id": project_id, "environment_id": environment_id}
    if changes.get("enabled") is True:
        changes |= {"status": "active", "failing_since": None}
    updated = rec.model_copy(update={**changes, "updated_at": clock.now_iso()})
    _replace(access.org.id, rec, updated, "webhook.updated", {"fields": sorted(body.model_dump(exclude_unset=True))})
    return _view(updated)


def delete(access: OrgAccess, webhook_id: str) -> None:
    rec = _get(access, webhook_id)
    chain.transact(
        [
            webhook_data.delete(rec, on_fail=NotFound("webhook not found")),
            org_data.guard(access.org.id, usage={"webhooks": -1}),
            purge.job_op("webhook", rec.id, org_id=access.org.id),  # its delivery log, by the purge worker
        ],
        audit=audit.event("webhook.deleted", scope_id=access.org.id, resource_type="webhook", resource_id=rec.id),
    )


def rotate_secret(access: OrgAccess, webhook_id: str, body: WebhookSecretRotate) -> WebhookCreated:
    """A new signing secret; the current ones keep signing for `grace_seconds` (default a day)."""
    rec = _get(access, webhook_id)
    now = clock.now()
    grace_end = clock.iso(now + timedelta(seconds=body.grace_seconds))
    secret = _new_secret()
    kept = [
        s.model_copy(update={"expires_at": s.expires_at or grace_end})
        for s in rec.secrets
        if s.expires_at is None or clock.parse(s.expires_at) > now
    ]
    sealed = crypto.seal(secret.encode(), _context(access.org.id, rec.id), settings().kms_key_id)
    updated = rec.model_copy(
        update={
            "secrets": [SecretRecord(sealed=sealed, created_at=clock.iso(now)), *kept],
            "updated_at": clock.iso(now),
        }
    )
    _replace(access.org.id, rec, updated, "webhook.secret_rotated", {"grace_seconds": body.grace_seconds})
    return WebhookCreated(**_view(updated).model_dump(), secret=secret)


# --------------------------------------------------------------------------- deliveries


def delivery_id(event_id: str, webhook_id: str) -> str:
    """Deterministic, so that a re-read stream record makes the same delivery (idempotent)."""
    digest = hashlib.sha256(f"{event_id}|{webhook_id}".encode()).hexdigest()[:26]
    return f"dlv_{digest}"


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """What a receiver gets for an audit event: type, ids, names, versions, actor, time."""
    return {
        "type": event["action"],
        "timestamp": event["created_at"],
        "data": {
            "event_id": event["id"],
            "org_id": event["scope_id"],
            "project_id": event.get("project_id"),
            "environment_id": event.get("environment_id"),
            "actor": event["actor"],
            "resource": event["resource"],
            "metadata": event.get("metadata", {}),
        },
    }


def matches(rec: WebhookRecord, event: dict[str, Any]) -> bool:
    if not rec.enabled or rec.status == "disabled":
        return False
    if not any(fnmatch.fnmatchcase(event["action"], pattern) for pattern in rec.events):
        return False
    if rec.project_id and event.get("project_id") != rec.project_id:
        return False
    return not (rec.environment_id and event.get("environment_id") != rec.environment_id)


def signing_secrets(rec: WebhookRecord) -> list[str]:
    now = clock.now()
    return [
        crypto.unseal(s.sealed, _context(rec.org_id, rec.id)).decode()
        for s in rec.secrets
        if s.expires_at is None or clock.parse(s.expires_at) > now
    ]


def sign(secrets_: list[str], message_id: str, timestamp: int, body: str) -> str:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`, one per secret."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    out = []
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        out.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
    return " ".join(out)


def list_deliveries(access: OrgAccess, webhook_id: str, *, limit: int, cursor: str | None) -> DeliveryList:
    rec = _get(access, webhook_id)
    records, next_cursor = delivery_data.page(rec.id, limit=limit, cursor=cursor)
    return DeliveryList(data=[_delivery_view(r) for r in records], next_cursor=next_cursor)


def _delivery_view(rec: DeliveryRecord) -> Delivery:
    return Delivery.model_validate(rec.model_dump(exclude={"payload"}))


def enqueue(deliveries: list[DeliveryRecord]) -> None:
    """One SQS message per delivery, ten per SendMessageBatch."""
    from strongroom import aws  # noqa: PLC0415

    queue = settings().webhook_queue_url
    for i in range(0, len(deliveries), 10):
        chunk = deliveries[i : i + 10]
        aws.sqs().send_message_batch(
            QueueUrl=queue,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"delivery_id": d.id, "webhook_id": d.webhook_id, "org_id": d.org_id}),
                }
                for n, d in enumerate(chunk)
            ],
        )


def new_delivery(rec: WebhookRecord, event: dict[str, Any], *, delivery: str | None = None) -> DeliveryRecord:
    now = clock.now_iso()
    return DeliveryRecord(
        id=delivery or delivery_id(event["id"], rec.id),
        webhook_id=rec.id,
        org_id=rec.org_id,
        event_id=event["id"],
        event_type=event["action"],
        payload=json.dumps(payload(event), separators=(",", ":"), sort_keys=True),
        created_at=now,
        updated_at=now,
    )


def test(access: OrgAccess, webhook_id: str) -> Delivery:
    """Send a `webhook.test` event now (through the queue, as any delivery)."""
    rec = _get(access, webhook_id)
    event = audit.event("webhook.tested", scope_id=access.org.id, resource_type="webhook", resource_id=rec.id)
    body = event.model_dump()
    delivery = new_delivery(
        rec.model_copy(update={"enabled": True}), {**body, "action": "webhook.test"}, delivery=ids.new_id("dlv")
    )
    chain.transact(delivery_data.create(delivery, keep=DELIVERY_RETENTION), audit=event)
    enqueue([delivery])
    return _delivery_view(delivery)


def redeliver(access: OrgAccess, webhook_id: str, delivery: str) -> Delivery:
    rec = _get(access, webhook_id)
    old = delivery_data.get(rec.id, delivery) if ids.is_id(delivery, "dlv") else None
    if old is None:
        raise NotFound("delivery not found")
    fresh = old.model_copy(
        update={
            "id": ids.new_id("dlv"),
            "status": "pending",
            "attempts": 0,
            "log": [],
            "created_at": clock.now_iso(),
            "updated_at": clock.now_iso(),
            "response_code": None,
            "latency_ms": None,
            "error": None,
        }
    )
    chain.transact(
        delivery_data.create(fresh, keep=DELIVERY_RETENTION),
        audit=audit.event(
            "webhook.redelivered",
            scope_id=access.org.id,
            resource_type="webhook_delivery",
            resource_id=fresh.id,
            metadata={"webhook_id": rec.id, "of": old.id, "event_type": old.event_type},
        ),
    )
    enqueue([fresh])
    return _delivery_view(fresh)
