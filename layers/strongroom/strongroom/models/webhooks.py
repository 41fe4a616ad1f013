"""Webhooks and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Items,
    Page,
    Request,
    Response,
    ScopeRef,
)

EventPattern = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+(\.([a-z0-9_]+|\*))*)$", max_length=100)]
WebhookUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=2048)]  # printable ASCII


class WebhookCreate(Request):
    url: WebhookUrl = Field(description="https (http to 127.0.0.1 only in dev mode); public addresses only")
    events: list[EventPattern] = Field(min_length=1, max_length=50, description='e.g. ["secret.*", "member.invited"]')
    project: ScopeRef | None = None
    environment: ScopeRef | None = None
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    enabled: bool = True


class WebhookPatch(Request):
    url: WebhookUrl | None = None
    events: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    project: ScopeRef | None = None
    environment: ScopeRef | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    enabled: bool | None = None


class WebhookSecretRotate(Request):
    grace_seconds: int = Field(default=86_400, ge=0, le=7 * 86_400, description="How long the old secret still signs")


class Webhook(Response):
    id: str
    url: str
    events: list[str]
    project_id: str | None = None
    environment_id: str | None = None
    description: str = ""
    enabled: bool
    status: Literal["active", "failing", "disabled"]
    failing_since: str | None = None
    created_at: str
    updated_at: str


class WebhookCreated(Webhook):
    secret: ShownOnce = Field(description="whsec_… (Standard Webhooks). Shown once; stored encrypted by KMS.")


class WebhookList(Items[Webhook]):
    pass


class Delivery(Response):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "retrying", "failed"]
    attempts: int
    response_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    created_at: str
    updated_at: str
    log: list[dict[str, Any]] = Field(default_factory=list, description="Each attempt: at, status code, latency")


class DeliveryList(Page[Delivery]):
    pass
