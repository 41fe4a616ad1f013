"""Platform admin (/v1/admin/*: the users PLATFORM_ADMINS names) and an org's usage."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import admin
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import Cursor, Limit, OrgRef
from strongroom.models.platform import (
    AdminOrgDetail,
    AdminOrgList,
    AdminOrgPatch,
    MetricsSummary,
    Plan,
    PlanList,
    PlanPut,
    PlatformStats,
    Usage,
)
from strongroom.security.access import org_access
from strongroom.security.platform_admin import platform_access

app = build_app()

PlanRef = Annotated[str, Path(pattern=r"^(free|team|enterprise)$", description="Plan name")]
Search = Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,64}$", description="Slugs starting with this")]
Hours = Annotated[int, Query(ge=1, le=168, description="Clock hours back, this one included (1-168)")]


@app.get("/v1/orgs/<org>/usage")
def get_usage(org: OrgRef) -> Usage:
    access = org_access(org, "members.read")  # a member's; a service token's scope is narrower
    return admin.usage(access)


@app.get("/v1/admin/stats")
def get_admin_stats() -> PlatformStats:
    platform_access()
    return admin.stats()


@app.get("/v1/admin/orgs")
def list_admin_orgs(q: Search = None, limit: Limit = 100, cursor: Cursor = None) -> AdminOrgList:
    platform_access()
    return AdminOrgList.of(admin.list_orgs(q=q, limit=limit, cursor=cursor))


@app.get("/v1/admin/orgs/<org>")
def get_admin_org(org: OrgRef) -> AdminOrgDetail:
    platform_access()
    return admin.get_org(org)


@app.patch("/v1/admin/orgs/<org>")
def patch_admin_org(org: OrgRef, body: AdminOrgPatch) -> AdminOrgDetail:
    platform_access()
    return admin.update_org(org, body)


@app.get("/v1/admin/plans")
def list_admin_plans() -> PlanList:
    platform_access()
    return admin.list_plans()


@app.put("/v1/admin/plans/<plan>")
def put_admin_plan(plan: PlanRef, body: PlanPut) -> Plan:
    platform_access()
    return admin.put_plan(plan, body)


@app.get("/v1/admin/metrics/summary")
def get_admin_metrics_summary(hours: Hours = 24) -> MetricsSummary:
    platform_access()
    return admin.metrics_summary(hours)


lambda_handler = make_handler(app)
