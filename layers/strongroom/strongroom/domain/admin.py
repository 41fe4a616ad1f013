"""Platform admin (issue #18): stats, every org (search by slug, paging), an org's detail with its
effective limits and usage, its plan and overrides, the plans' stored configs, and the request
summary from the rate limit's counters. The routes check `platform_admin.require()` first; every
change writes one audit event in the platform's own scope (`AUDIT#platform`) in its transaction."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from strongroom import clock
from strongroom.data import chain, counters, keys
from strongroom.data import orgs as org_data
from strongroom.data import platform as data
from strongroom.data import projects as project_data
from strongroom.data import secrets as secret_data
from strongroom.data.orgs import OrgRecord
from strongroom.domain import audit, plans
from strongroom.errors import NotFound
from strongroom.models.platform import (
    AdminOrg,
    AdminOrgDetail,
    AdminOrgPatch,
    HourSummary,
    MetricsSummary,
    Plan,
    PlanList,
    PlanPut,
    PlatformStats,
    Usage,
    UsageCounts,
)
from strongroom.security.access import OrgAccess

TOP_PRINCIPALS = 10


def _event(action: str, resource_type: str, resource_id: str, metadata: dict[str, Any]) -> audit.AuditEvent:
    return audit.event(
        action, scope_id=keys.PLATFORM_SCOPE, resource_type=resource_type, resource_id=resource_id, metadata=metadata
    )


# --------------------------------------------------------------------------- usage


def counts(org: OrgRecord) -> UsageCounts:
    """The org's counters (its item: O(1)); secrets are its environments' snapshot counts."""
    envs = [e.id for e in project_data.org_environments(org.id)]
    secrets = sum(secret_data.secret_counts(envs).values()) if envs else 0
    return UsageCounts(
        projects=org.usage_projects,
        environments=org.usage_environments,
        secrets=secrets,
        members=org.usage_members,
        service_tokens=org.usage_service_tokens,
        webhooks=org.usage_webhooks,
    )


def usage(access: OrgAccess) -> Usage:
    """GET /v1/orgs/{org}/usage (`members.read`)."""
    org = access.org
    return Usage.model_validate({"plan": org.plan, "usage": counts(org).model_dump(), "limits": plans.limits_of(org)})


# --------------------------------------------------------------------------- orgs


def _org_view(org: OrgRecord) -> AdminOrg:
    return AdminOrg.model_validate(org.model_dump())


def _detail(org: OrgRecord) -> AdminOrgDetail:
    return AdminOrgDetail.model_validate(
        {
            **org.model_dump(),
            "limits": plans.limits_of(org),
            "usage": counts(org).model_dump(),
        }
    )


def list_orgs(*, q: str | None, limit: int, cursor: str | None) -> tuple[list[AdminOrg], str | None]:
    page = data.orgs_page(prefix=q.lower() if q else None, limit=limit, cursor=cursor)
    records = [OrgRecord.model_validate(i) for i in page.items if i.get("status") == "active"]
    return [_org_view(o) for o in records], page.next_cursor


def _org(ref: str) -> OrgRecord:
    org = org_data.resolve(ref)
    if org is None:
        raise NotFound("organization not found")
    return org


def get_org(ref: str) -> AdminOrgDetail:
    return _detail(_org(ref))


def update_org(ref: str, body: AdminOrgPatch) -> AdminOrgDetail:
    """The org's plan and overrides (an override of null drops it), conditional on its item being
    as read (its `updated_at`)."""
    org = _org(ref)
    changes: dict[str, Any] = {}
    if body.plan is not None and body.plan != org.plan:
        changes["plan"] = body.plan
    if body.limit_overrides is not None:
        merged = dict(org.limit_overrides)
        for name, value in body.limit_overrides.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        if merged != org.limit_overrides:
            changes["limit_overrides"] = merged
    if not changes:
        return _detail(org)
    now = clock.now_iso()
    metadata = {"org_id": org.id, "fields": sorted(changes), **({"plan": changes["plan"]} if "plan" in changes else {})}
    if "limit_overrides" in changes:
        metadata["limit_overrides"] = changes["limit_overrides"]
    chain.transact([org_data.update(org.id, changes, now)], audit=_event("admin.org_updated", "org", org.id, metadata))
    return _detail(org.model_copy(update={**changes, "updated_at": now}))


def set_plan(org: OrgRecord, plan: str, *, billing: dict[str, Any], via: str) -> None:
    """The org moves to `plan` (billing: Stripe's webhook), audited in the platform scope."""
    now = clock.now_iso()
    changes: dict[str, Any] = {"plan": plan, **billing}
    metadata = {"org_id": org.id, "plan": plan, "from": org.plan, "via": via}
    chain.transact(
        [org_data.update(org.id, changes, now)], audit=_event("billing.plan_changed", "org", org.id, metadata)
    )


# --------------------------------------------------------------------------- plans


def _plan_view(name: str, stored: dict[str, dict[str, int]]) -> Plan:
    return Plan.model_validate(
        {
            "name": name,
            "limits": plans.plan_limits(name, stored),
            "defaults": plans.DEFAULTS[name],
            "stored": stored.get(name, {}),
        }
    )


def list_plans() -> PlanList:
    stored = data.plan_configs()
    return PlanList(data=[_plan_view(p, stored) for p in plans.PLANS])


def put_plan(name: str, body: PlanPut) -> Plan:
    if name not in plans.PLANS:
        raise NotFound("plan not found")
    limits: dict[str, int] = {str(k): int(v) for k, v in body.limits.items()}
    version = data.plan_configs_version()
    chain.transact(
        [data.put_plan_config(name, limits, version=version)],
        audit=_event("admin.plan_updated", "plan", name, {"limits": limits}),
    )
    plans.forget()
    stored = data.plan_configs()
    return _plan_view(name, stored)


# --------------------------------------------------------------------------- stats


def stats() -> PlatformStats:
    counted = data.stats()
    by_plan: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item in data.all_orgs():
        if item.get("status") != "active":
            continue
        by_plan[str(item.get("plan") or "free")] += 1
        for name, attribute in org_data.USAGE.items():
            totals[name] += int(item.get(attribute, 0))
    return PlatformStats(
        orgs=counted.get("orgs", 0),
        users=counted.get("users", 0),
        orgs_by_plan={p: by_plan.get(p, 0) for p in plans.PLANS},
        usage={**{name: totals.get(name, 0) for name in org_data.USAGE}, "secrets": counters.secrets_total()},
        webhook_deliveries=counters.deliveries_by_status(),
    )


def metrics_summary(hours: int) -> MetricsSummary:
    """Requests counted by the rate limit in the last `hours` clock hours (this one included)."""
    now = clock.now()
    by_hour: list[HourSummary] = []
    per_principal: Counter[str] = Counter()
    refused_total = 0
    for back in range(hours - 1, -1, -1):
        hour = (now - timedelta(hours=back)).strftime("%Y-%m-%dT%H")
        requests = refused = 0
        who: set[str] = set()
        for item in data.hour_windows(hour):
            principal = str(item.get(keys.GSI1SK, "")).rsplit("#", 1)[0]
            n = int(item.get("n", 0))
            requests += n
            refused += int(item.get("refused", 0))
            who.add(principal)
            per_principal[principal] += n
        refused_total += refused
        by_hour.append(HourSummary(hour=hour, requests=requests, refused=refused, principals=len(who)))
    return MetricsSummary(
        hours=hours,
        requests=sum(h.requests for h in by_hour),
        refused=refused_total,
        principals=len(per_principal),
        by_hour=by_hour,
        top_principals=[{"principal": p, "requests": n} for p, n in per_principal.most_common(TOP_PRINCIPALS)],
    )
