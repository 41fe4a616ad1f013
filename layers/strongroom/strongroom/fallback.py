"""The API's `$default` route: whatever no route matched gets 404, or 405 with `Allow` when the
path exists under other methods, in the error envelope. The route table is generated from
template.yaml into route_table.json by `scripts/openapi.py --write` (and checked for drift)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from strongroom import errors

ROUTE_TABLE = Path(__file__).with_name("route_table.json")


@cache
def _routes() -> list[tuple[str, re.Pattern[str]]]:
    table = json.loads(ROUTE_TABLE.read_text(encoding="utf-8"))
    out = []
    for key in table["routes"]:
        method, path = key.split(" ", 1)
        pattern = re.sub(r"\\\{[A-Za-z0-9_]+\\\}", "[^/]+", re.escape(path))
        out.append((method, re.compile(f"^{pattern}$")))
    return out


def unmatched(method: str, path: str) -> errors.AppError:
    allowed = sorted({m for m, rx in _routes() if rx.match(path) and m != method})
    if allowed:
        return errors.MethodNotAllowed(
            f"{method} is not allowed here", details={"allowed": allowed}, headers={"Allow": ", ".join(allowed)}
        )
    return errors.NotFound("no such route")


def is_fallback(event: dict[str, Any]) -> bool:
    return event.get("routeKey") == "$default"
