"""The webhook pipeline's two workers: the fan-out (DynamoDB stream of outbox items → one
delivery per matching webhook → SQS) and the dispatcher (SQS → one signed HTTP POST)."""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer

from strongroom import audit, aws, clock, db, keys
from strongroom.config import settings
from strongroom.data import chain
from strongroom.domain import webhooks
from strongroom.observability import logger, metrics

TIMEOUT = 10.0
MAX_LOG = 20


# --------------------------------------------------------------------------- fan-out


def _image(record: dict[str, Any]) -> dict[str, Any] | None:
    image = record.get("dynamodb", {}).get("NewImage")
    if not image:
        return None
    deserializer = TypeDeserializer()
    plain: dict[str, Any] = db._plain({k: deserializer.deserialize(v) for k, v in image.items()})
    return plain


def fan_out(records: list[dict[str, Any]]) -> dict[str, int]:
    """Stream records (INSERTs of audit events) → deliveries, idempotent on (event, webhook)."""
    events = [e for e in (_image(r) for r in records if r.get("eventName") == "INSERT") if e]
    events = [e for e in events if e.get("entity") == audit.ENTITY and str(e.get("scope_id", "")).startswith("org_")]
    hooks: dict[str, list[webhooks.WebhookRecord]] = {}
    created: list[webhooks.DeliveryRecord] = []
    for event in events:
        org_id = str(event["scope_id"])
        if org_id not in hooks:
            hooks[org_id] = [
                webhooks.WebhookRecord.model_validate(i)
                for i in db.query_all(keys.org_partition(org_id), prefix=keys.WEBHOOK_PREFIX)
            ]
        for hook in hooks[org_id]:
            if not webhooks.matches(hook, event):
                continue
            delivery = webhooks.new_delivery(hook, event)
            try:
                db.put_plain(webhooks.delivery_item(delivery), condition="attribute_not_exists(PK)")
            except Exception:  # noqa: BLE001, S112 - already made by an earlier read of this record
                continue
            created.append(delivery)
    if created:
        webhooks.enqueue(created)
    metrics.add_metric(name="WebhookDeliveriesCreated", unit="Count", value=len(created))
    return {"events": len(events), "deliveries": len(created)}


# --------------------------------------------------------------------------- dispatch


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the address netguard checked (no second DNS answer), verifying the name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def send(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str | None, int]:
    """POST once: (status, error, latency ms). No redirects (a 3xx is a failure), body discarded."""
    from strongroom.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    started = time.perf_counter()
    try:
        addresses = check_url(url, allow_http_loopback=settings().auth_mode.value == "dev")
    except UnsafeUrl as exc:
        return None, f"refused: {exc.reason}", 0
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = kind(parts.hostname or "", addresses[0], port, TIMEOUT)
    try:
        conn.request("POST", parts.path + (f"?{parts.query}" if parts.query else "") or "/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(64 * 1024)  # drained, not kept
        status: int | None = resp.status
        error = None
    except (OSError, http.client.HTTPException) as exc:
        status, error = None, type(exc).__name__
    finally:
        conn.close()
    return status, error, int((time.perf_counter() - started) * 1000)


def schedule() -> list[int]:
    return [int(s) for s in settings().webhook_retry_schedule.split(",") if s.strip()]


class RetryLater(Exception):
    """The delivery failed and will be tried again when the message comes back."""


def dispatch(message: dict[str, Any], receive_count: int, receipt_handle: str, queue_url: str) -> str:
    """Deliver one message; raise RetryLater to leave it on the queue (after the backoff)."""
    webhook_id, delivery_id = message["webhook_id"], message["delivery_id"]
    item = db.get(keys.delivery(webhook_id, delivery_id))
    if item is None:
        return "gone"
    delivery = webhooks.DeliveryRecord.model_validate(item)
    if delivery.status in {"succeeded", "failed"}:
        return "duplicate"  # idempotent on the delivery id
    hook_item = db.get(keys.webhook(message["org_id"], webhook_id))
    if hook_item is None:
        return "webhook gone"
    hook = webhooks.WebhookRecord.model_validate(hook_item)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "Strongroom-Webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(webhooks.signing_secrets(hook), delivery.id, timestamp, delivery.payload),
    }
    status, error, latency = send(hook.url, delivery.payload, headers)
    ok = status is not None and 200 <= status < 300
    steps = schedule()
    final = not ok and receive_count >= len(steps) + 1
    now = clock.now()
    # Exponential-ish schedule with ±20% jitter, so that a receiver's recovery is not met by a herd.
    base_delay = None if ok or final else steps[min(receive_count - 1, len(steps) - 1)]
    next_delay = max(1, round(base_delay * random.uniform(0.8, 1.2))) if base_delay else None  # noqa: S311
    attempt = {"at": clock.iso(now), "status_code": status, "latency_ms": latency, "error": error}
    fields: dict[str, Any] = {
        "status": "succeeded" if ok else ("failed" if final else "retrying"),
        "response_code": status,
        "latency_ms": latency,
        "error": error,
        "next_attempt_at": clock.iso(now + timedelta(seconds=next_delay)) if next_delay else None,
        "updated_at": clock.iso(now),
    }
    sets = [f"#{k} = :{k}" for k, v in fields.items() if v is not None]
    removes = [f"#{k}" for k, v in fields.items() if v is None]
    db.update_plain(
        keys.delivery(webhook_id, delivery_id),
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
    if ok:
        if hook.status == "failing":
            db.update_plain(
                keys.webhook(hook.org_id, hook.id),
                "SET #st = :active REMOVE failing_since",
                condition="#st = :failing",
                names={"#st": "status"},
                values={":active": "active", ":failing": "failing"},
            )
        return "delivered"
    logger.info(
        "webhook delivery failed", extra={"webhook_id": hook.id, "status_code": status, "attempt": receive_count}
    )
    if final:
        # Back at once: the next receive passes maxReceiveCount and SQS moves it to the DLQ.
        aws.sqs().change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)
        if hook.failing_since and clock.parse(hook.failing_since) <= now - webhooks.DISABLE_AFTER:
            _disable(hook)
        else:
            db.update_plain(
                keys.webhook(hook.org_id, hook.id),
                "SET #st = :failing, failing_since = if_not_exists(failing_since, :now)",
                condition="attribute_exists(PK) AND #st <> :disabled",
                names={"#st": "status"},
                values={":failing": "failing", ":now": clock.iso(now), ":disabled": "disabled"},
            )
    else:
        aws.sqs().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(next_delay or 0)
        )
    raise RetryLater(delivery.id)


def _disable(hook: webhooks.WebhookRecord) -> None:
    """Failing for DISABLE_AFTER: disabled, as one audited change by the system."""
    from strongroom.context import SYSTEM, current  # noqa: PLC0415

    current().principal = SYSTEM
    try:
        chain.transact(
            [
                db.Update(
                    keys.webhook(hook.org_id, hook.id),
                    "SET #st = :disabled, enabled = :false",
                    condition="#st = :failing",
                    names={"#st": "status"},
                    values={":disabled": "disabled", ":false": False, ":failing": "failing"},
                )
            ],
            audit=audit.event(
                "webhook.disabled",
                scope_id=hook.org_id,
                resource_type="webhook",
                resource_id=hook.id,
                metadata={"failing_since": hook.failing_since, "reason": "failing for days"},
            ),
        )
    except Exception:  # noqa: BLE001 - already disabled (or changed) by someone else
        logger.info("webhook not disabled: it changed meanwhile", extra={"webhook_id": hook.id})


def queue_url_of(arn: str) -> str:
    """The queue URL for an event source ARN (arn:aws:sqs:region:account:name)."""
    configured = settings().webhook_queue_url
    if configured:
        return configured
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def message_of(body: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data
