"""Billing through Stripe: an org's billing status, Checkout and Portal sessions (owners), and
Stripe's webhook (no auth: its signature, verified on the exact raw body)."""

from __future__ import annotations

import base64
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

from billing_api import gateway
from strongroom.config import settings
from strongroom.domain import billing
from strongroom.errors import Invalid, Unprocessable
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import OrgRef
from strongroom.models.platform import BillingSession, BillingStatus, CheckoutCreate, WebhookReceived
from strongroom.security.access import org_access

app = build_app()

StripeSignature = Annotated[str, Header(alias="Stripe-Signature", max_length=2048, description="Stripe's signature")]


def _return_url(org: str) -> str:
    return f"{settings().console_url.rstrip('/')}/orgs/{org}/billing"


@app.get("/v1/orgs/<org>/billing")
def get_billing(org: OrgRef) -> BillingStatus:
    access = org_access(org, "members.read")
    return billing.status(access)


@app.post("/v1/orgs/<org>/billing/checkout")
def create_checkout(org: OrgRef, body: CheckoutCreate) -> BillingSession:
    access = org_access(org, "org.transfer")  # owners: what the org pays
    price = billing.price_of(body.plan)
    if price is None:
        raise Unprocessable(f"no Stripe price is configured for the {body.plan} plan", code="plan_not_for_sale")
    url = gateway.checkout(
        org_id=access.org.id,
        plan=body.plan,
        price=price,
        customer=access.org.billing_customer_id,
        email=access.principal.email,
        return_url=_return_url(access.org.slug),
    )
    return BillingSession(url=url)


@app.post("/v1/orgs/<org>/billing/portal")
def create_portal(org: OrgRef) -> BillingSession:
    access = org_access(org, "org.transfer")
    if access.org.billing_customer_id is None:
        raise Unprocessable("the organization has no Stripe customer yet: check out first", code="no_customer")
    return BillingSession(
        url=gateway.portal(customer=access.org.billing_customer_id, return_url=_return_url(access.org.slug))
    )


@app.post("/v1/billing/webhook")
def stripe_webhook(stripe_signature: StripeSignature) -> WebhookReceived:
    event = app.current_event
    raw = event.raw_event.get("body") or ""
    payload = base64.b64decode(raw) if event.raw_event.get("isBase64Encoded") else str(raw).encode()
    if not payload:
        raise Invalid("the body is empty", code="invalid_signature")
    verified = gateway.verified_event(payload, stripe_signature)
    obj = (verified.get("data") or {}).get("object") or {}
    applied = billing.apply(str(verified.get("id") or ""), str(verified.get("type") or ""), obj)
    return WebhookReceived(received=True, applied=applied)


lambda_handler = make_handler(app)
