"""The webhook pipeline's two workers: the fan-out (DynamoDB stream of outbox items → one
delivery per matching webhook → SQS) and the dispatcher (SQS → one signed HTTP POST)."""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from strongroom import aws, clock
from strongroom.config import settings
from strongroom.data import chain, db
from strongroom.data import deliveries as delivery_data
from strongroom.data import webhooks as webhook_data
from strongroom.data.deliveries import DeliveryRecord
from strongroom.data.webhooks import WebhookRecord
from strongroom.domain import audit, webhooks
from strongroom.observability import logger, metrics

TIMEOUT = 10.0
MAX_LOG = 20


# --------------------------------------------------------------------------- fan-out


def _image(record: dict[str, Any]) -> dict[str, Any] | None:
    image = record.get("dynamodb", {}).get("NewImage")
    if not image:
        return None
    return db.deserialize(image)


def fan_out(records: list[dict[str, Any]]) -> dict[str, int]:
    """Stream records (INSERTs of audit events) → deliveries, idempotent on (event, webhook)."""
    events = [e for e in (_image(r) for r in records if r.get("eventName") == "INSERT") if e]
    events = [e for e in events if e.get("entity") == audit.ENTITY and str(e.get("scope_id", "")).startswith("org_")]
    hooks: dict[str, list[WebhookRecord]] = {}
    created: list[DeliveryRecord] = []
    for event in events:
        org_id = str(event["scope_id"])
        if org_id not in hooks:
            hooks[org_id] = webhook_data.of_org(org_id)
        for hook in hooks[org_id]:
            if not webhooks.matches(hook, event):
                continue
            delivery = webhooks.new_delivery(hook, event)
            if delivery_data.create_once(delivery, keep=webhooks.DELIVERY_RETENTION):
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
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

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


# --------------------------------------------------------------------------- the decision (pure)

State = Literal["succeeded", "retrying", "failed"]
HookChange = Literal["recover", "fail", "disable"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt's answer makes of the delivery: its state and, when it will be tried
    again, after how many seconds."""

    state: State
    next_delay: int | None = None


def outcome(status: int | None, attempt: int, steps: list[int], *, jitter: float = 1.0) -> Outcome:
    """The `attempt`-th send (1 on the first receive) answered `status` (None: no answer): a 2xx
    succeeded; a failure past the schedule's last step failed for good; any other is retried
    after the schedule's step for this attempt, times `jitter` (the caller draws it in ±20%,
    so that a receiver's recovery is not met by a herd), at least a second."""
    if status is not None and 200 <= status < 300:
        return Outcome("succeeded")
    if attempt >= len(steps) + 1:
        return Outcome("failed")
    base = steps[min(attempt - 1, len(steps) - 1)]
    return Outcome("retrying", max(1, round(base * jitter)) if base else None)


def hook_change(hook: WebhookRecord, result: Outcome, now: datetime) -> HookChange | None:
    """What the attempt changes of its webhook: a failing one that delivered is active again; a
    delivery failed for good makes it failing, or disabled once it has been failing
    DISABLE_AFTER; a retry changes nothing."""
    if result.state == "succeeded":
        return "recover" if hook.status == "failing" else None
    if result.state == "retrying":
        return None
    if hook.failing_since and clock.parse(hook.failing_since) <= now - webhooks.DISABLE_AFTER:
        return "disable"
    return "fail"


def attempt_fields(
    result: Outcome, status: int | None, error: str | None, latency: int, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The delivery's fields after this attempt (None: removed) and the attempt's log entry."""
    fields: dict[str, Any] = {
        "status": result.state,
        "response_code": status,
        "latency_ms": latency,
        "error": error,
        "next_attempt_at": clock.iso(now + timedelta(seconds=result.next_delay)) if result.next_delay else None,
        "updated_at": clock.iso(now),
    }
    return fields, {"at": clock.iso(now), "status_code": status, "latency_ms": latency, "error": error}


# --------------------------------------------------------------------------- the writes


def _load(message: dict[str, Any]) -> tuple[DeliveryRecord, WebhookRecord] | str:
    """The delivery and its webhook, or why there is nothing to send."""
    delivery = delivery_data.get(message["webhook_id"], message["delivery_id"])
    if delivery is None:
        return "gone"
    if delivery.status in {"succeeded", "failed"}:
        return "duplicate"  # idempotent on the delivery id
    hook = webhook_data.get(message["org_id"], message["webhook_id"])
    if hook is None:
        return "webhook gone"
    return delivery, hook


def _send_signed(hook: WebhookRecord, delivery: DeliveryRecord) -> tuple[int | None, str | None, int]:
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "Strongroom-Webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(webhooks.signing_secrets(hook), delivery.id, timestamp, delivery.payload),
    }
    return send(hook.url, delivery.payload, headers)


def _change_hook(hook: WebhookRecord, change: HookChange | None, now: datetime) -> None:
    if change == "recover":
        webhook_data.recovered(hook)
    elif change == "disable":
        _disable(hook)
    elif change == "fail":
        webhook_data.failing(hook, now)


def dispatch(message: dict[str, Any], receive_count: int, receipt_handle: str, queue_url: str) -> str:
    """Deliver one message; raise RetryLater to leave it on the queue (after the backoff)."""
    found = _load(message)
    if isinstance(found, str):
        return found
    delivery, hook = found
    status, error, latency = _send_signed(hook, delivery)
    now = clock.now()
    result = outcome(status, receive_count, schedule(), jitter=random.uniform(0.8, 1.2))  # noqa: S311
    delivery_data.record_attempt(delivery, *attempt_fields(result, status, error, latency, now))
    change = hook_change(hook, result, now)
    if result.state == "succeeded":
        _change_hook(hook, change, now)
        return "delivered"
    logger.info(
        "webhook delivery failed", extra={"webhook_id": hook.id, "status_code": status, "attempt": receive_count}
    )
    # Failed for good: back at once, so that the next receive passes maxReceiveCount and SQS
    # moves it to the DLQ; else back after the backoff.
    visibility = 0 if result.state == "failed" else int(result.next_delay or 0)
    aws.sqs().change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=visibility)
    _change_hook(hook, change, now)
    raise RetryLater(delivery.id)


def _disable(hook: WebhookRecord) -> None:
    """Failing for DISABLE_AFTER: disabled, as one audited change by the system."""
    from strongroom.context import SYSTEM, current  # noqa: PLC0415

    current().principal = SYSTEM
    try:
        chain.transact(
            [webhook_data.disable(hook)],
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
