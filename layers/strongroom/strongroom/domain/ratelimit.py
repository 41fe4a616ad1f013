"""Rate limits per principal (issue #18): a fixed one-minute window per principal (a user, a
personal access token, a service token, a SCIM token; the source IP when nobody authenticated),
counted by one conditional UpdateItem per request (data/platform.py `hit`), from the org's
effective `requests_per_minute` (domain/plans.py) when the request is in an org, else the stack's
defaults. The entry point (http/app.py) calls `admit` before routing: no function can forget it.

Fixed window, not GCRA: one ADD under a condition is what DynamoDB does atomically in one call,
and the window's counter is also the admin's record of requests (docs/decisions.md)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from strongroom import ids
from strongroom.config import settings
from strongroom.context import Principal, RequestContext
from strongroom.data import db, keys
from strongroom.data import platform as data
from strongroom.domain import plans
from strongroom.errors import Throttled
from strongroom.observability import metrics

WINDOW_SECONDS = 60
POLICY = "minute"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the headers say: the limit, how many remain in the window, when it ends (Unix s)."""

    limit: int
    remaining: int
    reset: int
    now: float

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* (Reset in Unix seconds) and the IETF fields (draft-ietf-httpapi-ratelimit-headers:
        `RateLimit-Policy` with quota `q` and window `w`, `RateLimit` with remaining `r` and the
        seconds to the reset `t`), structured fields of one item each."""
        seconds = max(0, math.ceil(self.reset - self.now))
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={seconds}',
        }


def window_of(now: float) -> tuple[int, int]:
    """Pure: (the window's start, its end), Unix seconds."""
    start = int(now) - int(now) % WINDOW_SECONDS
    return start, start + WINDOW_SECONDS


def verdict(limit: int, counted: int, allowed: bool, now: float) -> Verdict:
    """Pure: the headers' values after a request was counted (or refused) in its window."""
    _start, end = window_of(now)
    remaining = max(0, limit - counted) if allowed else 0
    return Verdict(limit=limit, remaining=remaining, reset=end, now=now)


def refusal(v: Verdict) -> Throttled:
    retry = max(1, math.ceil(v.reset - v.now))
    return Throttled(
        f"too many requests: at most {v.limit} a minute; retry in {retry} s",
        details={"limit": v.limit, "window_seconds": WINDOW_SECONDS, "retry_after": retry},
        headers={**v.headers(), "Retry-After": str(retry)},
    )


def principal_key(who: Principal | None, ctx: RequestContext) -> str:
    """Who is counted: a PAT apart from its user's other credentials (by its digest, never the
    token), a service or SCIM token by its ID, a user by theirs; nobody: the source IP."""
    if who is None:
        return f"ip:{ctx.ip or 'unknown'}"
    if who.via == "pat" and ctx.credential:
        return f"pat:{ctx.credential[:32]}"
    return f"{who.type}:{who.id}"


def _org_limit(who: Principal | None, ctx: RequestContext) -> int | None:
    """The `requests_per_minute` of the org the request is in, from what its read-ahead read
    (no read of its own): a token's org, else the org its path names; None when unknown."""
    org_id: str | None = None
    if who is not None and who.org_ids is not None and len(who.org_ids) == 1 and who.type == "service_token":
        org_id = next(iter(who.org_ids))
    elif ref := ctx.refs.get("org"):
        if ids.is_id(ref, "org"):
            org_id = ref
        else:
            _known, pointer = db.read_ahead(keys.org_slug(ref.lower()))
            org_id = str(pointer["org_id"]) if pointer else None
    if org_id is None:
        return None
    _known, item = db.read_ahead(keys.org(org_id))
    if item is None or item.get("status") != "active":
        return None
    overrides = {str(k): int(v) for k, v in (item.get("limit_overrides") or {}).items()}
    return plans.effective(str(item.get("plan") or "free"), overrides, plans.stored_configs())["requests_per_minute"]


def limit_for(who: Principal | None, ctx: RequestContext) -> int:
    cfg = settings()
    if who is None:
        return cfg.anonymous_requests_per_minute
    found = _org_limit(who, ctx)
    return cfg.default_requests_per_minute if found is None else found


def admit(who: Principal | None, ctx: RequestContext) -> Verdict | None:
    """Count this request; its headers' values (None: unlimited, not counted), or 429 `rate_limited`
    with `Retry-After` past the limit."""
    limit = limit_for(who, ctx)
    if limit == plans.UNLIMITED:
        return None
    now = time.time()
    start, end = window_of(now)
    hour = time.strftime("%Y-%m-%dT%H", time.gmtime(now))
    counted = data.hit(principal_key(who, ctx), start, limit=limit, hour=hour, expires=end + data.RATE_ITEM_RETENTION)
    v = verdict(limit, counted.count, counted.allowed, now)
    if not counted.allowed:
        metrics.add_metric(name="RateLimited", unit="Count", value=1)
        raise refusal(v)
    return v
