"""Authorization at every route: each route of the route table resolves its access in the route
itself, naming the permission it needs (`org_access(org, "members.manage")`,
`environment_access(…, "secrets.read")`, the runtime's `runtime.token_access()`), or is one of
the account's routes (access.ACCOUNT_ROUTES says who may call it) or a public one listed here.

Read from the route modules' source (no import, no store): a route whose body names no
permission fails, with its route key.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strongroom.http.app import PUBLIC_ROUTES as PUBLIC  # no principal: health, device start and poll
from strongroom.security import access, permissions

ROOT = Path(__file__).resolve().parents[2]
ROUTE_TABLE = ROOT / "layers" / "strongroom" / "strongroom" / "route_table.json"
METHODS = {"get", "put", "post", "patch", "delete"}

# The calls that resolve access and the position of the permission they are given.
RESOLVERS = {"org_access": 1, "project_access": 2, "environment_access": 3}
# Calls whose permission is their own (the runtime API: a service token reading its environment).
# SCIM's routes: the SCIM token's own org (domain/scim.py's caller_org; access.admit lets no other
# credential reach them).
# An agent's own routes: the calling agent itself (domain/agents.py's agent_self; access.admit lets
# no other credential reach them). Platform admin's routes: the platform admin
# (security/platform_admin.py; access.admit refuses everyone else on /v1/admin/).
SELF_NAMED = {"token_access", "caller_org", "agent_self", "platform_access"}
# A function that routes its paths itself behind one greedy route of the table (SCIM: template.yaml
# routes ANY /scim/v2/{proxy+} to it): its routes are what that route covers.
PROXIED = {"ANY /scim/v2/{proxy+}": "/scim/v2/"}

# Routes that decide their authorization inside the domain: none (a route added so fails).
KNOWN_UNNAMED: set[str] = set()


@dataclass(frozen=True)
class Route:
    key: str
    module: Path
    function: str
    permissions: tuple[str, ...]  # what the body names; "" for a self-named resolver


def _strings(module: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _evaluate(node.value, out)
            if value is not None:
                out[node.targets[0].id] = value
    return out


def _evaluate(node: ast.expr, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            part = _evaluate(value.value if isinstance(value, ast.FormattedValue) else value, names)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        return None if left is None or right is None else left + right
    return None


def _named(function: ast.FunctionDef) -> tuple[str, ...]:
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if callee in SELF_NAMED:
            found.append("")
        elif callee in RESOLVERS:
            position = RESOLVERS[callee]
            arg = node.args[position] if len(node.args) > position else None
            kw = next((k.value for k in node.keywords if k.arg == "permission"), None)
            literal = arg if arg is not None else kw
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                found.append(literal.value)
    return tuple(found)


def _routes() -> Iterator[Route]:
    # app.py, and the routers it includes
    for source in sorted((ROOT / "functions").glob("*/*_api/*.py")):
        module = ast.parse(source.read_text(encoding="utf-8"))
        names = _strings(module)
        for node in module.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if not (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in METHODS
                    and decorator.args
                ):
                    continue
                path = _evaluate(decorator.args[0], names)
                assert path is not None, f"{source}: the path of {node.name} is not a string this test can read"
                key = f"{decorator.func.attr.upper()} {path.replace('<', '{').replace('>', '}')}"
                yield Route(key, source, node.name, _named(node))


ROUTES = {route.key: route for route in _routes()}


def test_the_route_modules_hold_exactly_the_route_table() -> None:
    table = set(json.loads(ROUTE_TABLE.read_text(encoding="utf-8"))["routes"])
    proxied = {key for key in ROUTES if key.split(" ", 1)[1].startswith(tuple(PROXIED.values()))}
    assert proxied, "the proxied function's routes were not found"
    assert set(ROUTES) - proxied == table - set(PROXIED)
    assert set(PROXIED) <= table


def test_the_listed_routes_exist_and_are_listed_once() -> None:
    assert set(ROUTES) >= PUBLIC
    assert set(access.ACCOUNT_ROUTES) <= set(ROUTES)
    assert set(ROUTES) >= KNOWN_UNNAMED
    assert not PUBLIC & set(access.ACCOUNT_ROUTES)
    assert not (PUBLIC | set(access.ACCOUNT_ROUTES)) & KNOWN_UNNAMED


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_every_route_names_its_permission(key: str) -> None:
    route = ROUTES[key]
    if key in PUBLIC:
        assert not route.permissions, f"{key} is listed as public but resolves access"
        return
    if key in access.ACCOUNT_ROUTES or key in KNOWN_UNNAMED:
        return
    assert route.permissions, (
        f"{key} ({route.module.relative_to(ROOT)}::{route.function}) names no permission: resolve its access "
        "in the route with org_access/project_access/environment_access(…, '<permission>')"
    )
    catalog = {p.name for p in permissions.CATALOG}
    unknown = [p for p in route.permissions if p and p not in catalog]
    assert not unknown, f"{key} names permissions outside the catalog: {unknown}"


def test_org_routes_are_not_account_routes() -> None:
    """Everything under an org is authorized by org_access, not by the account's audience list."""
    assert not [k for k in access.ACCOUNT_ROUTES if k.partition(" ")[2].startswith(access.ORG_ROUTES)]
