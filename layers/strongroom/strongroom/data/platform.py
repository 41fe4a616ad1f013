"""The platform's items (issue #18): the plans' stored configs, the platform counters (orgs,
users), the listing of every org (GSI1 `ORGS`, by slug), the per-principal request counters of
the rate limit, and the Stripe events already applied. Their reads and the ops that change them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from strongroom.data import db, keys
from strongroom.errors import AppError, Conflict

# A request counter outlives its window by this much: the admin's request summary reads a week.
RATE_ITEM_RETENTION = 8 * 86_400


# --------------------------------------------------------------------------- plan configs


def plan_configs() -> dict[str, dict[str, int]]:
    item = db.get(keys.plan_configs())
    plans = (item or {}).get("plans") or {}
    return {str(p): {str(k): int(v) for k, v in limits.items()} for p, limits in plans.items()}


def plan_configs_version() -> int:
    item = db.get(keys.plan_configs(), attributes=["version"])
    return int((item or {}).get("version", 0))


def put_plan_config(plan: str, limits: dict[str, int], *, version: int) -> db.Op:
    """A transaction op: the plan's stored limits become `limits`, conditional on the configs'
    version read (409 when another admin changed them meanwhile)."""
    changed = Conflict("the plans changed meanwhile; retry", code="plans_changed")
    if version == 0:
        item = {**keys.plan_configs(), "entity": "plan_configs", "version": 1, "plans": {plan: limits}}
        return db.Put.new(item, on_fail=changed)
    return db.Update(
        keys.plan_configs(),
        "SET plans.#p = :l, version = :next",
        condition="version = :v",
        names={"#p": plan},
        values={":l": limits, ":v": version, ":next": version + 1},
        on_fail=changed,
    )


# --------------------------------------------------------------------------- platform counters


def count(name: str, delta: int) -> db.Update:
    """A transaction op: the platform counter `name` (orgs, users) moves by `delta`."""
    return db.Update(keys.platform_stats(), "ADD #n :d", condition=None, names={"#n": name}, values={":d": delta})


def stats() -> dict[str, int]:
    item = db.get(keys.platform_stats()) or {}
    return {k: int(v) for k, v in item.items() if k in {"orgs", "users"}}


def set_stats(values: dict[str, int]) -> None:
    """The counters as counted (the backfill migration)."""
    db.put_plain({**keys.platform_stats(), "entity": "platform_stats", **values})


# --------------------------------------------------------------------------- orgs listing


def orgs_page(*, prefix: str | None, limit: int, cursor: str | None) -> db.Page:
    """A page of every org's item, by slug (`prefix`: slugs starting with it)."""
    return db.query(keys.ORGS_GSI_PK, index=keys.GSI1, prefix=prefix, limit=limit, cursor=cursor)


def all_orgs() -> Iterator[dict[str, Any]]:
    yield from db.query_all(keys.ORGS_GSI_PK, index=keys.GSI1)


# --------------------------------------------------------------------------- rate limit


@dataclass(frozen=True, slots=True)
class Counted:
    allowed: bool
    count: int  # requests counted in the window, this one included when allowed


def hit(principal: str, window: int, *, limit: int, hour: str, expires: int) -> Counted:
    """One conditional UpdateItem: count this request in the principal's window while fewer than
    `limit` were counted; refused, the count comes from the failed condition (no second read), and
    the refusal is counted too (one more write, on refused requests only)."""
    key = keys.rate_window(principal, window)
    applied, attributes = db.update_counted(
        key,
        "ADD n :one SET #exp = :exp, GSI1PK = :hour, GSI1SK = :who",
        condition="attribute_not_exists(n) OR n < :limit",
        names={"#exp": keys.TTL},
        values={":one": 1, ":exp": expires, ":limit": limit, ":hour": f"REQ#{hour}", ":who": f"{principal}#{window}"},
    )
    if not applied:
        _refused(key)
        return Counted(False, int(attributes.get("n", limit)))
    return Counted(True, int(attributes.get("n", 1)))


def _refused(key: dict[str, str]) -> None:
    with contextlib.suppress(AppError):  # bookkeeping: the 429 stands whatever this write does
        db.update_plain(key, "ADD refused :one", condition="attribute_exists(PK)", values={":one": 1})


def hour_windows(hour: str) -> Iterator[dict[str, Any]]:
    """The request counters of one clock hour (`2026-12-03T12`), every principal's."""
    yield from db.query_all(f"REQ#{hour}", index=keys.GSI1)


# --------------------------------------------------------------------------- Stripe events


def stripe_event_seen(event_id: str) -> bool:
    return db.get(keys.stripe_event(event_id)) is not None


def record_stripe_event(event_id: str, event_type: str, now: str, expires: int) -> db.Put:
    """A transaction op: the event is applied (create-only: the second delivery finds it)."""
    item = {**keys.stripe_event(event_id), "entity": "stripe_event", "type": event_type, "applied_at": now}
    return db.Put.new({**item, keys.TTL: expires}, on_fail=Conflict("event already applied", code="duplicate_event"))


def customer_org(customer_id: str) -> str | None:
    item = db.get(keys.stripe_customer(customer_id))
    return str(item["org_id"]) if item else None


def link_customer(customer_id: str, org_id: str) -> db.Put:
    item = {**keys.stripe_customer(customer_id), "entity": "stripe_customer", "org_id": org_id}
    return db.Put(item)
