"""Data migrations: each idempotent (running one twice, or over data already in shape, changes
nothing), run in order by the local stack when it starts on kept data and by `scripts/migrate.py`
against a deployed table (docs/decisions.md, 2026-12-02). They read with Scan, which no request
path does."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from strongroom.data import db, keys, platform
from strongroom.data import projects as project_data
from strongroom.errors import Conflict

ATTEMPTS = 5


def index_environment_slugs() -> int:
    """2026-12-02: every project slug pointer indexes its project's environments by slug (pointers
    written before carry no index: a request naming project and environment by slug would cost a
    round more). How many pointers changed."""
    return sum(_reindex(pointer) for pointer in db.scan_prefix(keys.PROJECT_SLUG_PREFIX))


def _reindex(pointer: dict[str, Any]) -> bool:
    """Reindex one pointer, reading it again when an environment or the project changed meanwhile
    (gone: nothing to do; still busy after ATTEMPTS: its own changes keep the index from then on)."""
    key = {keys.PK: str(pointer[keys.PK]), keys.SK: str(pointer[keys.SK])}
    current: dict[str, Any] | None = pointer
    for attempt in range(ATTEMPTS):
        if current is None:
            return False
        try:
            return project_data.reindex(current)
        except Conflict:
            time.sleep(0.01 * (attempt + 1))
            current = db.get(key)
    return False


def count_plan_usage() -> int:
    """2026-12-03 (issue #18): orgs written before plans and limits get their counters (projects,
    environments, members with pending invitations, service tokens, webhooks), the plan new orgs
    start on, and their place in the admin's listing (GSI1 `ORGS`); projects their environments'
    count; the platform its counters of orgs and users. Only what is missing is set (a counter
    set, by this or by a create since, is left as it is), and only orgs missing something are read
    further (their projects with them: both predate the counters): how many items changed."""
    from strongroom.config import settings  # noqa: PLC0415

    changed = 0
    orgs = 0
    for org in db.scan_prefix("ORG"):
        if org.get("entity") != "org" or org.get("status") != "active":
            continue
        orgs += 1
        if not all(k in org for k in _ORG_ATTRIBUTES):
            changed += _backfill_org(org, settings().new_org_plan)
    if db.get(keys.platform_stats()) is None:
        users = sum(1 for item in db.scan_prefix("PROFILE") if item.get("entity") == "user")
        platform.set_stats({"orgs": orgs, "users": users})
        changed += 1
    return changed


_ORG_ATTRIBUTES = (
    "usage_projects",
    "usage_environments",
    "usage_members",
    "usage_service_tokens",
    "usage_webhooks",
    "plan",
    keys.GSI1PK,
)


def _backfill_org(org: dict[str, Any], plan: str) -> int:
    org_id = str(org["id"])
    partition = list(db.query_all(keys.org_partition(org_id)))
    projects = {str(i["id"]): i for i in partition if i.get("entity") == "project" and i.get("status") == "active"}
    envs = [i for i in partition if i.get("entity") == "environment" and str(i.get("project_id")) in projects]
    changed = sum(_backfill_project(org_id, p, envs) for p in projects.values() if "environment_count" not in p)
    pending = sum(1 for i in partition if i.get("entity") == "invitation" and i.get("status") == "pending")
    counts = {
        "usage_projects": len(projects),
        "usage_environments": len(envs),
        "usage_members": sum(1 for i in partition if i.get("entity") == "membership") + pending,
        "usage_service_tokens": sum(
            1 for t in db.query_all(keys.org_tokens_partition(org_id), index=keys.GSI1) if not t.get("identity_id")
        ),
        "usage_webhooks": sum(1 for i in partition if i.get("entity") == "webhook"),
    }
    missing: dict[str, Any] = {k: v for k, v in counts.items() if k not in org}
    if "plan" not in org:
        missing["plan"] = plan
    if keys.GSI1PK not in org:
        missing.update(keys.org_listing_gsi(str(org["slug"])))
    names = {f"#m{n}": k for n, k in enumerate(missing)}
    expression = "SET " + ", ".join(f"#m{n} = :m{n}" for n in range(len(missing)))
    values = {f":m{n}": v for n, v in enumerate(missing.values())}
    guard = " AND ".join(f"attribute_not_exists(#m{n})" for n in range(len(missing)))
    return changed + int(db.update_plain(keys.org(org_id), expression, condition=guard, values=values, names=names))


def _backfill_project(org_id: str, project: dict[str, Any], envs: list[dict[str, Any]]) -> int:
    count = sum(1 for e in envs if str(e["project_id"]) == str(project["id"]))
    return int(
        db.update_plain(
            keys.project(org_id, str(project["id"])),
            "SET environment_count = :n",
            condition="attribute_not_exists(environment_count)",
            values={":n": count},
        )
    )


def count_platform_aggregates() -> int:
    """2026-12-07 (issue #18): the aggregates /metrics reads, seeded from what the table holds:
    live secrets (every environment's SNAPSHOT count, those awaiting their purge included: the
    purge subtracts them) and webhook deliveries by status (those of the last
    counters.DELIVERY_DAYS days, by the day they were made). Each is seeded once (a marker in the
    same transaction); a second run changes nothing. Counts the writes since this version was
    deployed made are in the shards already: run it right after deploying (docs/decisions.md,
    2026-12-07). How many aggregates were seeded."""
    from strongroom import clock  # noqa: PLC0415
    from strongroom.data import counters  # noqa: PLC0415

    seeded, at = 0, clock.now_iso()
    if not counters.seeded("secrets"):
        total = sum(int(i.get("count", 0)) for i in db.scan_prefix("SNAPSHOT") if i.get(keys.SK) == "SNAPSHOT")
        counters.seed("secrets", [counters.secrets_moved(total)] if total else [], at)
        seeded += 1
    if not counters.seeded("deliveries"):
        oldest = clock.iso(clock.now() - timedelta(days=counters.DELIVERY_DAYS))[:10]
        by_day: dict[str, Counter[str]] = {}
        for item in db.scan_prefix(keys.DELIVERY_PREFIX):
            day = str(item.get("created_at", ""))[:10]
            if item.get("entity") == "webhook_delivery" and day >= oldest:
                by_day.setdefault(day, Counter())[str(item.get("status", "pending"))] += 1
        ops: list[db.Op] = [counters.delivery_moved(f"{d}T00:00:00.000Z", dict(c)) for d, c in sorted(by_day.items())]
        counters.seed("deliveries", ops, at)
        seeded += 1
    return seeded


MIGRATIONS: tuple[tuple[str, Callable[[], int]], ...] = (
    ("2026-12-02 index environments by slug", index_environment_slugs),
    ("2026-12-03 count plan usage", count_plan_usage),
    ("2026-12-07 count platform aggregates", count_platform_aggregates),
)


def run() -> dict[str, int]:
    """Every migration, in order: its name -> how many items it changed."""
    return {name: migrate() for name, migrate in MIGRATIONS}
