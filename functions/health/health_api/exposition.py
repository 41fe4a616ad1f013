"""/metrics in the Prometheus text exposition format: a custom collector over the gauges read
from the store for this scrape (domain/probes.py), rendered by prometheus_client."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from strongroom.domain import plans, probes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MEDIA_TYPE = "text/plain"
MAX_SCOPES = 20  # labelled series of per-scope sealing lag, worst first (bounded cardinality)


class StoreCollector(Collector):
    def __init__(self, gauges: probes.Gauges) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        g = self.gauges
        yield GaugeMetricFamily("strongroom_orgs", "Organizations (active)", value=g.orgs)
        yield GaugeMetricFamily("strongroom_users", "User accounts", value=g.users)
        by_plan = GaugeMetricFamily("strongroom_orgs_by_plan", "Organizations by plan", labels=["plan"])
        for plan in plans.PLANS:
            by_plan.add_metric([plan], g.orgs_by_plan.get(plan, 0))
        yield by_plan
        for name in ("projects", "environments", "members", "service_tokens", "webhooks"):
            label = name.replace("_", " ")
            yield GaugeMetricFamily(f"strongroom_{name}", f"{label.capitalize()} (all orgs)", value=g.usage[name])
        if g.dlq_messages is not None:
            yield GaugeMetricFamily(
                "strongroom_webhook_dlq_messages", "Webhook deliveries in the dead-letter queue", value=g.dlq_messages
            )
        if g.sync_dlq_messages is not None:
            yield GaugeMetricFamily(
                "strongroom_sync_dlq_messages",
                "Integration syncs in the dead-letter queue (failed after every retry)",
                value=g.sync_dlq_messages,
            )
        yield GaugeMetricFamily("strongroom_secrets", "Live secrets (all orgs)", value=g.secrets)
        deliveries = GaugeMetricFamily(
            "strongroom_webhook_deliveries", "Webhook deliveries of the last 30 days by status", labels=["status"]
        )
        for status, n in sorted(g.deliveries.items()):
            deliveries.add_metric([status], n)
        yield deliveries
        yield GaugeMetricFamily(
            "strongroom_audit_sealing_lag_seconds",
            "Age of the oldest audit event not yet sealed into its scope's Merkle tree (any scope)",
            value=g.sealing_lag_seconds,
        )
        yield GaugeMetricFamily(
            "strongroom_audit_scopes_behind", "Audit scopes with events not yet sealed", value=len(g.scopes_behind)
        )
        behind = GaugeMetricFamily(
            "strongroom_audit_scope_sealing_lag_seconds",
            f"Sealing lag of the {MAX_SCOPES} audit scopes furthest behind",
            labels=["scope"],
        )
        for scope, lag in sorted(g.scopes_behind.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SCOPES]:
            behind.add_metric([scope], lag)
        yield behind


def render(gauges: probes.Gauges) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(gauges))
    return generate_latest(registry).decode()
