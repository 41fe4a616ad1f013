"""Stripe, through its library (this function alone imports it): Checkout and Portal sessions, and
the webhook's signature, verified on the exact raw body. The secret key and the webhook secret come
from Secrets Manager (STRIPE_SECRET_ARN, STRIPE_WEBHOOK_SECRET_ARN) or, locally, the environment."""

from __future__ import annotations

from functools import cache
from typing import Any

import stripe

from strongroom import aws
from strongroom.config import settings
from strongroom.errors import Invalid, Unavailable

LOCAL_WEBHOOK_SECRET = "whsec_strongroom_local"  # noqa: S105 - the local stack's (STAGE=local), documented
TOLERANCE_SECONDS = 300


class NotConfigured(Unavailable):
    def __init__(self) -> None:
        super().__init__("billing is not configured on this stack", code="billing_not_configured")


@cache
def _secret_value(arn: str) -> str:
    value = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return str(value).strip()


def _secret_key() -> str:
    cfg = settings()
    key = cfg.stripe_secret_key or (_secret_value(cfg.stripe_secret_arn) if cfg.stripe_secret_arn else "")
    if not key:
        raise NotConfigured
    return key


def webhook_secret() -> str:
    cfg = settings()
    if cfg.stripe_webhook_secret:
        return cfg.stripe_webhook_secret
    if cfg.stripe_webhook_secret_arn:
        return _secret_value(cfg.stripe_webhook_secret_arn)
    if cfg.stage == "local":
        return LOCAL_WEBHOOK_SECRET
    raise NotConfigured


def _client() -> stripe.StripeClient:
    cfg = settings()
    base = {"api": cfg.stripe_api_base} if cfg.stripe_api_base else None
    return stripe.StripeClient(_secret_key(), base_addresses=base, max_network_retries=1)  # type: ignore[arg-type]


def _unavailable(exc: stripe.StripeError) -> Unavailable:
    return Unavailable("the payment provider did not answer as expected", code="billing_unavailable")


def checkout(*, org_id: str, plan: str, price: str, customer: str | None, email: str, return_url: str) -> str:
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": f"{return_url}?checkout=success",
        "cancel_url": f"{return_url}?checkout=cancelled",
        "client_reference_id": org_id,
        "metadata": {"org_id": org_id, "plan": plan},
        "subscription_data": {"metadata": {"org_id": org_id, "plan": plan}},
    }
    if customer:
        params["customer"] = customer
    elif email:
        params["customer_email"] = email
    try:
        session = _client().v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        raise _unavailable(exc) from exc
    return str(session.url)


def portal(*, customer: str, return_url: str) -> str:
    try:
        session = _client().v1.billing_portal.sessions.create(params={"customer": customer, "return_url": return_url})
    except stripe.StripeError as exc:
        raise _unavailable(exc) from exc
    return str(session.url)


def verified_event(payload: bytes, signature: str) -> dict[str, Any]:
    """The event, when `Stripe-Signature` signs exactly `payload` with the webhook secret within the
    tolerance; else 400 `invalid_signature` (nothing of the payload is echoed)."""
    secret = webhook_secret()
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise Invalid("the Stripe-Signature header does not verify", code="invalid_signature") from exc
    return event.to_dict()
