"""Probes (issue #18): liveness (no dependency), readiness (DynamoDB, KMS, the webhook queues: 503
naming what failed), and the gauges of /metrics, derived from the store (per-instance counters
mean nothing on Lambda; request metrics go to CloudWatch through Powertools Metrics instead).

The gauges: platform counters (orgs, users: O(1)), the plan counters summed over the org listing
(one paged Query of GSI1 `ORGS`), live secrets (one Query of its shards), webhook deliveries by
status (one Query of the day buckets), the sealer's backlog (one Query of the scopes it is behind
on, and the platform scope's oldest unsealed event) and the dead-letter queue's depth. Nothing is
read per org: a scrape stays a few requests, however many orgs (data/counters.py)."""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from strongroom import aws, clock
from strongroom.config import settings
from strongroom.data import audit as audit_data
from strongroom.data import counters, db, keys
from strongroom.data import platform as platform_data
from strongroom.data.orgs import USAGE
from strongroom.models import Readiness
from strongroom.observability import logger


def _check(name: str, probe: Callable[[], bool]) -> str:
    try:
        return "ok" if probe() else "fail"
    except Exception as exc:  # noqa: BLE001 - any failure is "fail"; the type is logged, not the text
        logger.warning("readiness check failed", extra={"dependency": name, "error_type": type(exc).__name__})
        return "fail"


def _table() -> bool:
    db.describe_table()
    return True


def _kms() -> bool:
    meta = aws.kms().describe_key(KeyId=settings().kms_key_id)["KeyMetadata"]
    return bool(meta.get("Enabled"))


def _queue(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return True

    return probe


def readiness() -> Readiness:
    """Each dependency answered (ok) or not (fail); not ready when one failed."""
    cfg = settings()
    checks = {"dynamodb": _check("dynamodb", _table), "kms": _check("kms", _kms)}
    queues = (
        ("webhook_queue", cfg.webhook_queue_url),
        ("webhook_dlq", cfg.webhook_dlq_url),
        ("sync_queue", cfg.sync_queue_url),
        ("sync_dlq", cfg.sync_dlq_url),
    )
    for name, url in queues:
        if url:
            checks[name] = _check(name, _queue(url))
    failing = sorted(k for k, v in checks.items() if v != "ok")
    return Readiness.model_validate(
        {"status": "not_ready" if failing else "ready", "checks": checks, "failing": failing}
    )


# --------------------------------------------------------------------------- /metrics


def metrics_token_ok(presented: str) -> bool:
    """The bearer token is the stack's METRICS_TOKEN (constant time; none configured: never)."""
    expected = settings().metrics_token
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


@dataclass(slots=True)
class Gauges:
    """What /metrics exposes, as read from the store."""

    orgs: int = 0
    users: int = 0
    orgs_by_plan: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)  # projects, environments, members, …
    dlq_messages: int | None = None
    sync_dlq_messages: int | None = None  # integrations' syncs that failed for good
    sealing_lag_seconds: float = 0.0  # the most any scope is behind
    secrets: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # by status, those kept (30 days)
    scopes_behind: dict[str, float] = field(default_factory=dict)  # scope -> seconds behind


def _org_items() -> Iterator[dict[str, Any]]:
    for item in platform_data.all_orgs():
        if item.get("status") == "active":
            yield item


def _lag(scope: str, now: float) -> float:
    oldest = audit_data.oldest_unsealed_at(scope)
    return max(0.0, now - clock.parse(oldest).timestamp()) if oldest else 0.0


def gauges() -> Gauges:
    """A few Queries of aggregates and one paged listing of the orgs' items: nothing per org."""
    counted = platform_data.stats()
    out = Gauges(orgs=counted.get("orgs", 0), users=counted.get("users", 0))
    now = clock.now()
    out.scopes_behind = {
        scope: max(0.0, now.timestamp() - clock.parse(since).timestamp())
        for scope, since in counters.sealing_marks().items()
    }
    out.sealing_lag_seconds = max([_lag(keys.PLATFORM_SCOPE, now.timestamp()), *out.scopes_behind.values()])
    out.secrets = counters.secrets_total()
    out.deliveries = counters.deliveries_by_status(now)
    for item in _org_items():
        out.orgs_by_plan[str(item.get("plan") or "free")] += 1
        for name, attribute in USAGE.items():
            out.usage[name] += int(item.get(attribute, 0))
    out.dlq_messages = _depth(settings().webhook_dlq_url)
    out.sync_dlq_messages = _depth(settings().sync_dlq_url)
    return out


def _depth(url: str) -> int | None:
    """A queue's approximate number of messages (None when the stack has no such queue)."""
    if not url:
        return None
    attrs = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))
