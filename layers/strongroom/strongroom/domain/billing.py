"""Billing's rules (issue #18), without Stripe's library (functions/billing holds it: the layer never
imports it). What a verified Stripe event does to an org's plan, applied once per event id:
- `checkout.session.completed`: the org and plan its `metadata` names (set at checkout), its
  customer and subscription remembered;
- `customer.subscription.updated`: the plan its `metadata.plan` (or its price, STRIPE_PRICES) names
  while it is active or trialing, else `free`;
- `customer.subscription.deleted`: `free`.
The move and the event's id are one transaction (a redelivered event finds its id: nothing moves)
with one audit event in the platform's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strongroom import clock
from strongroom.config import settings
from strongroom.context import Principal, acting_as
from strongroom.data import chain, db, keys
from strongroom.data import orgs as org_data
from strongroom.data import platform as data
from strongroom.domain import audit, plans
from strongroom.errors import Conflict
from strongroom.models.platform import BillingStatus
from strongroom.observability import logger, metrics
from strongroom.security.access import OrgAccess

STRIPE = Principal(type="system", id="stripe", via="stripe_webhook")
EVENT_RETENTION_SECONDS = 90 * 86_400  # Stripe retries for three days; its ids are kept longer
ACTIVE = frozenset({"active", "trialing"})


@dataclass(frozen=True, slots=True)
class Move:
    """What an event asks: the org, its plan, the billing fields to keep."""

    org_id: str
    plan: str
    billing: dict[str, Any]


def prices() -> dict[str, str]:
    """Stripe price id -> plan, from STRIPE_PRICES (`team=price_…,enterprise=price_…`)."""
    out: dict[str, str] = {}
    for pair in settings().stripe_prices.split(","):
        plan, _, price = pair.strip().partition("=")
        if plan in plans.PLANS and price:
            out[price] = plan
    return out


def price_of(plan: str) -> str | None:
    return next((price for price, named in prices().items() if named == plan), None)


def _subscription_plan(obj: dict[str, Any]) -> str:
    if obj.get("status") not in ACTIVE:
        return "free"
    named = str((obj.get("metadata") or {}).get("plan") or "")
    if named in plans.PLANS:
        return named
    items = ((obj.get("items") or {}).get("data")) or []
    by_price = prices()
    for item in items:
        price = (item.get("price") or {}).get("id")
        if price in by_price:
            return by_price[price]
    return "free"


def decide(event_type: str, obj: dict[str, Any], customer_org: str | None) -> Move | None:
    """Pure: the move an event asks, or None (not ours, or names no org)."""
    if event_type == "checkout.session.completed":
        meta = obj.get("metadata") or {}
        org_id, plan = str(meta.get("org_id") or ""), str(meta.get("plan") or "")
        if not org_id or plan not in plans.PLANS:
            return None
        billing = {"billing_status": "active"}
        if obj.get("customer"):
            billing["billing_customer_id"] = str(obj["customer"])
        if obj.get("subscription"):
            billing["billing_subscription_id"] = str(obj["subscription"])
        return Move(org_id, plan, billing)
    if event_type in {"customer.subscription.updated", "customer.subscription.deleted"}:
        org_id = str((obj.get("metadata") or {}).get("org_id") or customer_org or "")
        if not org_id:
            return None
        deleted = event_type == "customer.subscription.deleted"
        plan = "free" if deleted else _subscription_plan(obj)
        return Move(org_id, plan, {"billing_status": "canceled" if deleted else str(obj.get("status") or "")})
    return None


def apply(event_id: str, event_type: str, obj: dict[str, Any]) -> bool:
    """Apply a verified event once: True when it moved an org now (False: not ours, or applied
    before)."""
    if data.stripe_event_seen(event_id):
        return False
    customer = str(obj.get("customer") or "")
    move = decide(event_type, obj, data.customer_org(customer) if customer else None)
    if move is None:
        return False
    org = org_data.get(move.org_id)
    if org is None:
        logger.warning("billing event for an unknown org", extra={"event_type": event_type})
        return False
    now = clock.now()
    ops: list[db.Op] = [
        org_data.update(org.id, {"plan": move.plan, **move.billing}, clock.iso(now)),
        data.record_stripe_event(event_id, event_type, clock.iso(now), int(now.timestamp()) + EVENT_RETENTION_SECONDS),
    ]
    if "billing_customer_id" in move.billing:
        ops.append(data.link_customer(move.billing["billing_customer_id"], org.id))
    metadata = {"org_id": org.id, "plan": move.plan, "from": org.plan, "stripe_event": event_type}
    with acting_as(STRIPE):
        event = audit.event(
            "billing.plan_changed",
            scope_id=keys.PLATFORM_SCOPE,
            resource_type="org",
            resource_id=org.id,
            metadata=metadata,
        )
        try:
            chain.transact(ops, audit=event)
        except Conflict as exc:
            if exc.code == "duplicate_event":
                return False  # a concurrent delivery of the same event applied it
            raise
    metrics.add_metric(name="PlanChanged", unit="Count", value=1)
    return True


def status(access: OrgAccess) -> BillingStatus:
    org = access.org
    cfg = settings()
    configured = bool(cfg.stripe_secret_key or cfg.stripe_secret_arn)
    return BillingStatus(
        plan=org.plan,  # type: ignore[arg-type]
        status=org.billing_status,
        configured=configured,
        customer=org.billing_customer_id is not None,
    )
