"""Platform shapes (issue #18): plans and limits, an org's usage, platform admin, billing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from strongroom.models.common import Page, Request, Response

PlanName = Literal["free", "team", "enterprise"]
LimitName = Literal[
    "projects",
    "environments_per_project",
    "secrets_per_environment",
    "members",
    "service_tokens",
    "webhooks",
    "requests_per_minute",
]
LimitValue = Annotated[int, Field(ge=-1, le=1_000_000_000, description="-1 is unlimited")]


class Limits(Response):
    projects: int
    environments_per_project: int
    secrets_per_environment: int
    members: int
    service_tokens: int
    webhooks: int
    requests_per_minute: int


class UsageCounts(Response):
    projects: int
    environments: int
    secrets: int
    members: int  # members and pending invitations
    service_tokens: int
    webhooks: int


class Usage(Response):
    """GET /v1/orgs/{org}/usage: the counters, and the effective limits (-1 unlimited)."""

    plan: PlanName
    usage: UsageCounts
    limits: Limits


class AdminOrg(Response):
    id: str
    name: str
    slug: str
    plan: PlanName
    created_at: str


class AdminOrgList(Page[AdminOrg]):
    pass


class AdminOrgDetail(AdminOrg):
    limit_overrides: dict[str, int]
    limits: Limits
    usage: UsageCounts
    billing_status: str | None = None


class AdminOrgPatch(Request):
    """`limit_overrides` names the overrides to set (a number) or to drop (null); the others stay."""

    plan: PlanName | None = None
    limit_overrides: dict[LimitName, LimitValue | None] | None = None


class Plan(Response):
    name: PlanName
    limits: Limits  # its stored config over the built-in defaults
    defaults: Limits
    stored: dict[str, int]


class PlanList(Response):
    data: list[Plan]


class PlanPut(Request):
    """The plan's stored limits: each named one replaces the built-in default (unnamed: default)."""

    limits: dict[LimitName, LimitValue]


class PlatformStats(Response):
    orgs: int
    users: int
    orgs_by_plan: dict[str, int]
    usage: dict[str, int]  # the plan counters summed over the orgs, and the platform's live secrets
    webhook_deliveries: dict[str, int]  # those of the last 30 days, by status


class HourSummary(Response):
    hour: str  # 2026-12-03T12 (UTC)
    requests: int
    refused: int
    principals: int


class MetricsSummary(Response):
    hours: int
    requests: int
    refused: int
    principals: int
    by_hour: list[HourSummary]
    top_principals: list[dict[str, int | str]]


class BillingStatus(Response):
    plan: PlanName
    status: str | None
    configured: bool
    customer: bool


class CheckoutCreate(Request):
    plan: Literal["team", "enterprise"]


class BillingSession(Response):
    url: str


class WebhookReceived(Response):
    received: bool
    applied: bool
