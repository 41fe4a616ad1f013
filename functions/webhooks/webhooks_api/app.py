"""Webhooks of an org: CRUD, test, the delivery log, redelivery, secret rotation. Admin."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import webhooks
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
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
from strongroom.security.access import org_access

app = build_app()

WebhookRef = Annotated[str, Path(pattern=REF_PATTERN, description="Webhook ID (whk_…)")]
DeliveryRef = Annotated[str, Path(pattern=REF_PATTERN, description="Delivery ID (dlv_…)")]
W = "/v1/orgs/<org>/webhooks"


@app.get(W)
def list_webhooks(org: OrgRef) -> WebhookList:
    access = org_access(org, "webhooks.manage")
    return webhooks.list_webhooks(access)


@app.post(W, responses={201: {"description": "Created; `secret` is shown this once"}})
def create_webhook(org: OrgRef, body: WebhookCreate) -> Response[WebhookCreated]:
    """Subscribe a URL to events (wildcards like `secret.*`), optionally one project/environment."""
    access = org_access(org, "webhooks.manage")
    return created(webhooks.create(access, body))


@app.get(f"{W}/<id>")
def get_webhook(org: OrgRef, id: WebhookRef) -> Webhook:  # noqa: A002 - the contract's name
    access = org_access(org, "webhooks.manage")
    return webhooks.get(access, id)


@app.patch(f"{W}/<id>")
def patch_webhook(org: OrgRef, id: WebhookRef, body: WebhookPatch) -> Webhook:  # noqa: A002
    access = org_access(org, "webhooks.manage")
    return webhooks.update(access, id, body)


@app.delete(f"{W}/<id>", responses={204: {"description": "Deleted, with its delivery log"}})
def delete_webhook(org: OrgRef, id: WebhookRef) -> Response[str]:  # noqa: A002
    access = org_access(org, "webhooks.manage")
    webhooks.delete(access, id)
    return no_content()


@app.post(f"{W}/<id>/test", responses={201: {"description": "A webhook.test delivery, queued"}})
def test_webhook(org: OrgRef, id: WebhookRef) -> Response[Delivery]:  # noqa: A002
    access = org_access(org, "webhooks.manage")
    return created(webhooks.test(access, id))


@app.post(f"{W}/<id>/rotate-secret")
def rotate_webhook_secret(org: OrgRef, id: WebhookRef, body: WebhookSecretRotate) -> WebhookCreated:  # noqa: A002
    """A new secret, shown once; the old ones keep signing for `grace_seconds`."""
    access = org_access(org, "webhooks.manage")
    return webhooks.rotate_secret(access, id, body)


@app.get(f"{W}/<id>/deliveries")
def list_deliveries(org: OrgRef, id: WebhookRef, limit: Limit = 100, cursor: Cursor = None) -> DeliveryList:  # noqa: A002
    """Status, attempts, response code, latency, next attempt (never response bodies)."""
    access = org_access(org, "webhooks.manage")
    return webhooks.list_deliveries(access, id, limit=limit, cursor=cursor)


@app.post(f"{W}/<id>/deliveries/<delivery>/redeliver", responses={201: {"description": "Queued again"}})
def redeliver(org: OrgRef, id: WebhookRef, delivery: DeliveryRef) -> Response[Delivery]:  # noqa: A002
    access = org_access(org, "webhooks.manage")
    return created(webhooks.redeliver(access, id, delivery))


lambda_handler = make_handler(app)
