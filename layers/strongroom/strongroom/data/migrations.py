"""Data migrations: each idempotent (running one twice, or over data already in shape, changes
nothing), run in order by the local stack when it starts on kept data and by `scripts/migrate.py`
against a deployed table (docs/decisions.md, 2026-12-02). They read with Scan, which no request
path does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strongroom.data import db, keys
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


MIGRATIONS: tuple[tuple[str, Callable[[], int]], ...] = (
    ("2026-12-02 index environments by slug", index_environment_slugs),
)


def run() -> dict[str, int]:
    """Every migration, in order: its name -> how many items it changed."""
    return {name: migrate() for name, migrate in MIGRATIONS}
