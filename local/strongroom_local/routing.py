"""HTTP API route selection: the most specific route wins.

As API Gateway documents it: a full (literal) match beats a match with path variables, which
beats a greedy `{proxy+}`; compared segment by segment from the left. A `{param}` matches exactly
one non-empty path segment. A route for the request's method beats an `ANY` route of the same path.
What no route matches goes to `$default` if the API has one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from strongroom_local.template import DEFAULT_ROUTE, Route

_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")
LITERAL, VARIABLE, GREEDY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def specificity(path: str) -> tuple[int, ...]:
    """Per segment: 0 literal, 1 variable, 2 greedy (lower sorts first = more specific)."""
    kinds = []
    for segment in _segments(path):
        found = _PARAM.match(segment)
        kinds.append(LITERAL if not found else GREEDY if found.group(2) else VARIABLE)
    return tuple(kinds)


def compile_path(path: str) -> re.Pattern[str]:
    """/v1/orgs/{org} -> ^/v1/orgs/(?P<org>[^/]+)$ ; {proxy+} matches the rest of the path."""
    parts = []
    for segment in _segments(path):
        found = _PARAM.match(segment)
        if not found:
            parts.append(re.escape(segment))
        else:
            group = re.sub(r"\W", "_", found.group(1))
            parts.append(f"(?P<{group}>.+)" if found.group(2) else f"(?P<{group}>[^/]+)")
    return re.compile("^/" + "/".join(parts) + "$")


class RouteTable:
    """The API's routes, tried most specific first."""

    def __init__(self, routes: Iterable[Route]) -> None:
        all_routes = list(routes)
        self.default: Route | None = next((r for r in all_routes if r.path == DEFAULT_ROUTE), None)
        explicit = [r for r in all_routes if r.path != DEFAULT_ROUTE]
        explicit.sort(key=lambda r: (specificity(r.path), r.method == "ANY", r.path, r.method))
        self._routes = [(route, compile_path(route.path)) for route in explicit]
        self._names = {route.key: _param_names(route.path) for route in explicit}

    @property
    def routes(self) -> list[Route]:
        return [route for route, _ in self._routes]

    def match(self, method: str, path: str) -> Match | None:
        """The most specific route for (method, path), or None (the caller falls back to `$default`)."""
        method = method.upper()
        for route, pattern in self._routes:
            if route.method not in (method, "ANY"):
                continue
            found = pattern.match(path)
            if found:
                names = self._names[route.key]
                return Match(route, {names[g]: v for g, v in found.groupdict().items()})
        return None


def _param_names(path: str) -> dict[str, str]:
    """Regex group name -> the template's parameter name (they differ only for names with . or -)."""
    names = {}
    for segment in _segments(path):
        found = _PARAM.match(segment)
        if found:
            names[re.sub(r"\W", "_", found.group(1))] = found.group(1)
    return names
