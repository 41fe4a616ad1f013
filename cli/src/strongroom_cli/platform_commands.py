"""The platform's commands (issue #18): `usage` (an org's counters and limits), `admin stats|orgs|
org|set-plan|set-limit|plans|set-plan-limit|requests` (platform admins) and `billing status|
checkout|portal`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import click

from strongroom_cli.commands import State, _org, cli, emit, fail

_LIMITS = (
    "projects",
    "environments_per_project",
    "secrets_per_environment",
    "members",
    "service_tokens",
    "webhooks",
    "requests_per_minute",
)
_USAGE_OF = {
    "projects": "projects",
    "environments": "environments_per_project",
    "secrets": "secrets_per_environment",
    "members": "members",
    "service_tokens": "service_tokens",
    "webhooks": "webhooks",
}


_WHOLE = frozenset({"json", "yaml"})  # formats that take the answer as the API gave it


def _limit_text(value: int) -> str:
    return "unlimited" if value == -1 else str(value)


@cli.command()
@click.pass_obj
def usage(state: State) -> None:
    """The org's counts against its plan's limits (--org)."""
    state.user_only()
    body = state.call("GET", f"/v1/orgs/{_org(state)}/usage")
    if state.output in _WHOLE:
        emit(state, body)
        return
    rows = [
        {"counter": name, "used": body["usage"][name], "limit": _limit_text(body["limits"][limit])}
        for name, limit in _USAGE_OF.items()
    ]
    rows.append(
        {"counter": "requests_per_minute", "used": "", "limit": _limit_text(body["limits"]["requests_per_minute"])}
    )
    emit(state, rows, ["counter", "used", "limit"], title=f"plan: {body['plan']}")


# --------------------------------------------------------------------------- admin


@cli.group()
def admin() -> None:
    """Platform administration (the users PLATFORM_ADMINS names)."""


@admin.command("stats")
@click.pass_obj
def admin_stats(state: State) -> None:
    """Orgs and users of the platform, orgs by plan, and what they hold."""
    emit(state, state.call("GET", "/v1/admin/stats"))


@admin.command("orgs")
@click.option("--search", "-s", "search", help="Slugs starting with this")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--all", "every", is_flag=True, help="Follow the cursors to the last page")
@click.pass_obj
def admin_orgs(state: State, search: str | None, limit: int, every: bool) -> None:
    """Every org, by slug."""
    query = {"q": search.lower()} if search else {}
    path = "/v1/admin/orgs" + (f"?{urlencode(query)}" if query else "")
    if every:
        rows: list[Any] = state.pages(path)
    else:
        join = "&" if "?" in path else "?"
        rows = state.call("GET", f"{path}{join}limit={limit}")["data"]
    emit(state, rows, ["id", "slug", "name", "plan", "created_at"])


@admin.command("org")
@click.argument("org")
@click.pass_obj
def admin_org(state: State, org: str) -> None:
    """One org (ID or slug): its plan, overrides, effective limits and usage."""
    emit(state, state.call("GET", f"/v1/admin/orgs/{quote(org, safe='')}"))


@admin.command("set-plan")
@click.argument("org")
@click.argument("plan", type=click.Choice(["free", "team", "enterprise"]))
@click.pass_obj
def admin_set_plan(state: State, org: str, plan: str) -> None:
    """Move an org to a plan."""
    emit(state, state.call("PATCH", f"/v1/admin/orgs/{quote(org, safe='')}", body={"plan": plan}))


def _limit_value(text: str) -> int | None:
    if text in {"default", "none"}:
        return None
    if text == "unlimited":
        return -1
    try:
        value = int(text)
    except ValueError:
        fail(f"a limit is a number, unlimited or default, not {text!r}", 2)
    if value < -1:
        fail("a limit is at least -1 (unlimited)", 2)
    return value


@admin.command("set-limit")
@click.argument("org")
@click.argument("limits", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.pass_obj
def admin_set_limit(state: State, org: str, limits: tuple[str, ...]) -> None:
    """Override limits of one org: projects=10, webhooks=unlimited, members=default (drops it)."""
    overrides: dict[str, int | None] = {}
    for pair in limits:
        name, sep, value = pair.partition("=")
        if not sep or name not in _LIMITS:
            fail(f"{pair!r}: name one of {', '.join(_LIMITS)} as NAME=VALUE", 2)
        overrides[name] = _limit_value(value)
    body = {"limit_overrides": overrides}
    emit(state, state.call("PATCH", f"/v1/admin/orgs/{quote(org, safe='')}", body=body))


@admin.command("plans")
@click.pass_obj
def admin_plans(state: State) -> None:
    """Each plan's limits (its stored config over the built-in defaults)."""
    plans = state.call("GET", "/v1/admin/plans")["data"]
    if state.output in _WHOLE:
        emit(state, plans)
        return
    rows = [{"plan": p["name"], **{k: _limit_text(v) for k, v in p["limits"].items()}} for p in plans]
    emit(state, rows, ["plan", *_LIMITS])


@admin.command("set-plan-limit")
@click.argument("plan", type=click.Choice(["free", "team", "enterprise"]))
@click.argument("limits", nargs=-1, metavar="NAME=VALUE...")
@click.pass_obj
def admin_set_plan_limit(state: State, plan: str, limits: tuple[str, ...]) -> None:
    """Set a plan's stored limits (the ones named; the others fall back to the built-in defaults)."""
    stored: dict[str, int] = {}
    for pair in limits:
        name, sep, value = pair.partition("=")
        parsed = _limit_value(value) if sep and name in _LIMITS else None
        if parsed is None:
            fail(f"{pair!r}: name one of {', '.join(_LIMITS)} as NAME=NUMBER or NAME=unlimited", 2)
        stored[name] = parsed
    emit(state, state.call("PUT", f"/v1/admin/plans/{plan}", body={"limits": stored}))


@admin.command("requests")
@click.option("--hours", type=click.IntRange(1, 168), default=24, show_default=True)
@click.pass_obj
def admin_requests(state: State, hours: int) -> None:
    """Requests counted by the rate limit, by hour (and the busiest principals)."""
    summary = state.call("GET", f"/v1/admin/metrics/summary?hours={hours}")
    if state.output in _WHOLE:
        emit(state, summary)
        return
    emit(state, summary["by_hour"], ["hour", "requests", "refused", "principals"])


# --------------------------------------------------------------------------- billing


@cli.group()
def billing() -> None:
    """The org's billing through Stripe (--org; checkout and portal: owners)."""


@billing.command("status")
@click.pass_obj
def billing_status(state: State) -> None:
    """The org's plan and its subscription's status."""
    state.user_only()
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/billing"))


@billing.command("checkout")
@click.argument("plan", type=click.Choice(["team", "enterprise"]))
@click.pass_obj
def billing_checkout(state: State, plan: str) -> None:
    """A Stripe Checkout page to subscribe to a plan (open its url)."""
    state.user_only()
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/billing/checkout", body={"plan": plan}))


@billing.command("portal")
@click.pass_obj
def billing_portal(state: State) -> None:
    """Stripe's customer portal for the org's subscription (open its url)."""
    state.user_only()
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/billing/portal"))
