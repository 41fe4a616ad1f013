"""What no route matches: 404, or 405 with `Allow` when the path exists under other methods, in the
error envelope. The one implementation, used by the API's `$default` route (served by `health`), by a
function's resolver when an event names none of its routes, and by the local gateway of a template
without `$default`. The routes are route_table.json's unless the caller names its own; the table is
generated from template.yaml by `scripts/openapi.py --write` (and checked for drift)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from strongroom import errors

ROUTE_TABLE = Path(__file__).resolve().parents[1] / "route_table.json"
DEFAULT_ROUTE = "$default"
_PARAM = re.compile(r"^\{[A-Za-z0-9_.-]+(\+?)\}$")


@cache
def route_keys() -> tuple[str, ...]:
    """The API's route keys ("GET /v1/orgs/{org}", …), from route_table.json."""
    return tuple(json.loads(ROUTE_TABLE.read_text(encoding="utf-8"))["routes"])


@cache
def _pattern(path: str) -> re.Pattern[str]:
    """/v1/orgs/{org} -> ^/v1/orgs/[^/]+$ ; a greedy {proxy+} matches the rest of the path."""
    parts = []
    for segment in path.strip("/").split("/") if path.strip("/") else []:
        found = _PARAM.match(segment)
        parts.append(re.escape(segment) if not found else ".+" if found.group(1) else "[^/]+")
    return re.compile("^/" + "/".join(parts) + "$")


def allowed_methods(method: str, path: str, routes: Iterable[str] | None = None) -> list[str]:
    """The other methods some route accepts for `path`, sorted (the 405's `Allow`)."""
    keys = route_keys() if routes is None else routes
    matching = {m for m, p in (key.split(" ", 1) for key in keys) if _pattern(p).match(path)}
    return sorted(matching - {method.upper()})


def error(method: str, path: str, routes: Iterable[str] | None = None) -> errors.AppError:
    """The answer to `method path` that no route matched (`routes`: route keys; default the API's)."""
    allowed = allowed_methods(method, path, routes)
    if allowed:
        return errors.MethodNotAllowed(
            f"{method.upper()} is not allowed here", details={"allowed": allowed}, headers={"Allow": ", ".join(allowed)}
        )
    return errors.NotFound("no such route")


def is_default_route(event: dict[str, Any]) -> bool:
    """Whether API Gateway sent `event` through the `$default` route (nothing else matched)."""
    return event.get("routeKey") == DEFAULT_ROUTE
