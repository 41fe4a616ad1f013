"""The discovered-secret inventory: what agents find where they run (a ref, its provider and
cluster, labels, a keyed fingerprint of the value; never a value), upserted in bulk and listed
with filters (docs/design.md, "Agents").

A discovered secret's ID is derived from (org, cluster, provider, ref), so the same secret reported
twice, by any agent, is the same item: a report is idempotent. A report of up to 5,000 items is
written with BatchWriteItem (25 an item request) after one BatchGetItem per 100 of them (what is
new, and its first sighting kept); its one audit event (`discovery.reported`, with the counts)
follows the items, in a transaction with the check that the agent still stands
(docs/decisions.md: an inventory refresh of thousands of items cannot be one transaction).
An item not reported for STALE_AFTER is `stale`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from strongroom import clock, ids
from strongroom.data import agents as data
from strongroom.data import chain
from strongroom.data.agents import AgentRecord, DiscoveredRecord
from strongroom.domain import audit
from strongroom.errors import Unauthorized
from strongroom.models.agents import DiscoveredSecret, DiscoveryBulk, DiscoveryResult
from strongroom.security.access import OrgAccess

STALE_AFTER = timedelta(hours=24)


def secret_id(org_id: str, cluster_name: str, provider: str, ref: str) -> str:
    digest = hashlib.sha256("\x00".join((org_id, cluster_name, provider, ref)).encode()).digest()
    return ids.derived_id("dsc", digest)


def report(agent: AgentRecord, body: DiscoveryBulk) -> DiscoveryResult:
    now = clock.now_iso()
    latest: dict[str, DiscoveredRecord] = {}
    for item in body.secrets:
        sid = secret_id(agent.org_id, item.cluster_name, item.provider, item.ref)
        latest[sid] = DiscoveredRecord(
            id=sid,
            org_id=agent.org_id,
            agent_id=agent.id,
            ref=item.ref,
            provider=item.provider,
            cluster_name=item.cluster_name,
            labels=dict(item.labels),
            fingerprint=item.fingerprint,
            first_seen_at=now,
            last_seen_at=now,
        )
    existing = data.discovered_existing(agent.org_id, [(r.ref, r.id) for r in latest.values()])
    records = [
        r.model_copy(update={"first_seen_at": str(existing[r.id]["first_seen_at"])}) if r.id in existing else r
        for r in latest.values()
    ]
    data.upsert_discovered(records)
    result = DiscoveryResult(received=len(body.secrets), created=len(records) - len(existing), updated=len(existing))
    chain.transact(
        [data.active_check(agent, on_fail=Unauthorized("invalid token"))],
        audit=audit.event(
            "discovery.reported",
            scope_id=agent.org_id,
            resource_type="agent",
            resource_id=agent.id,
            metadata=result.model_dump(),
        ),
    )
    return result


def view(rec: DiscoveredRecord, stale_before: str) -> DiscoveredSecret:
    status = "stale" if rec.last_seen_at < stale_before else "active"
    return DiscoveredSecret.model_validate({**rec.model_dump(), "status": status})


def list_discovered(
    access: OrgAccess,
    *,
    cluster_name: str | None,
    provider: str | None,
    ref_prefix: str | None,
    status: str | None,
    labels: list[str],
    limit: int,
    cursor: str | None,
) -> tuple[list[DiscoveredSecret], str | None]:
    access.require("agents.manage")
    cutoff = clock.iso(clock.now() - STALE_AFTER)
    pairs = [tuple(label.split(":", 1)) for label in labels]
    found, next_cursor = data.discovered_page(
        access.org.id,
        ref_prefix=ref_prefix,
        cluster_name=cluster_name,
        provider=provider,
        stale_before=cutoff if status == "stale" else None,
        active_since=cutoff if status == "active" else None,
        labels=[(k, v) for k, v in pairs],
        limit=limit,
        cursor=cursor,
    )
    return [view(r, cutoff) for r in found], next_cursor


def managed_by(org_id: str, agent_id: str, ref: str) -> bool:
    """Whether this agent reported this ref (an access request may then ask it for the value)."""
    return any(r.agent_id == agent_id for r in data.discovered_of_ref(org_id, ref))
