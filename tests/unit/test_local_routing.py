"""Route selection as API Gateway HTTP APIs do it, and the gateway's own 404/405 when a template
has no $default route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strongroom.http import unmatched
from strongroom_local.events import HttpRequest
from strongroom_local.gateway import Cors, Gateway
from strongroom_local.routing import RouteTable, compile_path, specificity
from strongroom_local.template import Function, Route, load_template, routes


def table(*keys: str) -> RouteTable:
    return RouteTable(Route(method=k.split(" ")[0], path=k.split(" ")[1], function="Fn") for k in keys)


def matched(t: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = t.match(method, path)
    return (found.route.key, found.params) if found else None


def test_a_static_route_wins_over_a_parameterised_one() -> None:
    t = table("GET /v1/orgs/{org}", "GET /v1/orgs/mine")
    assert matched(t, "GET", "/v1/orgs/mine") == ("GET /v1/orgs/mine", {})
    assert matched(t, "GET", "/v1/orgs/acme") == ("GET /v1/orgs/{org}", {"org": "acme"})


def test_specificity_is_compared_segment_by_segment_from_the_left() -> None:
    t = table("GET /a/{x}/c/d", "GET /a/b/{y}/{z}")
    assert matched(t, "GET", "/a/b/c/d") == ("GET /a/b/{y}/{z}", {"y": "c", "z": "d"})
    assert specificity("/a/b/{y}/{z}") < specificity("/a/{x}/c/d")


def test_a_parameter_matches_exactly_one_non_empty_segment() -> None:
    t = table("GET /v1/orgs/{org}/members/{user}")
    assert matched(t, "GET", "/v1/orgs/acme/members/u1") == (
        "GET /v1/orgs/{org}/members/{user}",
        {"org": "acme", "user": "u1"},
    )
    assert matched(t, "GET", "/v1/orgs/acme/x/members/u1") is None
    assert matched(t, "GET", "/v1/orgs//members/u1") is None
    assert matched(t, "GET", "/v1/orgs/acme/members/u1/extra") is None


def test_a_greedy_parameter_takes_the_rest_and_loses_to_everything_else() -> None:
    t = table("GET /files/{proxy+}", "GET /files/{name}")
    assert matched(t, "GET", "/files/a") == ("GET /files/{name}", {"name": "a"})
    assert matched(t, "GET", "/files/a/b/c") == ("GET /files/{proxy+}", {"proxy": "a/b/c"})


def test_the_method_must_match_and_an_exact_method_beats_any() -> None:
    t = table("ANY /things", "GET /things", "POST /v1/orgs")
    assert matched(t, "GET", "/things") == ("GET /things", {})
    assert matched(t, "DELETE", "/things") == ("ANY /things", {})
    assert matched(t, "GET", "/v1/orgs") is None
    keys = [route.key for route in t.routes]
    assert unmatched.allowed_methods("GET", "/v1/orgs", keys) == ["POST"]
    assert unmatched.allowed_methods("GET", "/nothing", keys) == []


def test_parameter_names_with_dashes_survive_the_regex() -> None:
    assert compile_path("/x/{a-b}").match("/x/1") is not None
    assert matched(table("GET /x/{a-b}"), "GET", "/x/1") == ("GET /x/{a-b}", {"a-b": "1"})


def test_every_template_route_is_reachable_through_the_table() -> None:
    template_routes = [r for r in routes(load_template()) if r.path != "$default"]
    assert template_routes, "the template declares HttpApi routes"
    t = RouteTable(routes(load_template()))
    for route in template_routes:
        concrete = route.path.replace("{", "x").replace("}", "")  # /v1/orgs/{org} -> /v1/orgs/xorg
        found = t.match(route.method, concrete)
        assert found is not None, route.key
        assert found.route == route


# --------------------------------------------------------------------------- the gateway without $default


def _gateway(*, cors: Cors | None = None, code_uri: Path = Path("/nonexistent")) -> Gateway:
    fn = Function(logical_id="Fn", code_uri=code_uri, handler="nowhere_to_be_found.handler")
    return Gateway([Route("GET", "/health", "Fn"), Route("PATCH", "/v1/orgs/{org}", "Fn")], {"Fn": fn}, cors=cors)


def _req(method: str, path: str, **changes: object) -> HttpRequest:
    fields: dict[str, object] = {
        "method": method,
        "path": path,
        "query": "",
        "headers": [],
        "body": b"",
        "source_ip": "127.0.0.1",
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


def test_unmatched_path_is_404_in_the_envelope() -> None:
    response = _gateway().handle(_req("GET", "/nope"))
    body = json.loads(response.body)
    assert response.status == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["details"] == {}
    assert body["error"]["request_id"] == response.header("x-request-id") == response.header("apigw-requestid")


def test_known_path_with_another_method_is_405_with_allow() -> None:
    response = _gateway().handle(_req("DELETE", "/v1/orgs/acme"))
    body = json.loads(response.body)
    assert response.status == 405
    assert response.header("allow") == "PATCH"
    assert body["error"]["code"] == "method_not_allowed"
    assert body["error"]["details"] == {"allowed": ["PATCH"]}
    assert body["error"]["request_id"]


def test_a_body_over_6_mb_is_413_before_routing() -> None:
    response = _gateway().handle(_req("POST", "/nope", body=b"x" * (6 * 1024 * 1024 + 1)))
    assert response.status == 413
    assert json.loads(response.body)["error"]["code"] == "payload_too_large"
    assert _gateway().handle(_req("POST", "/nope", oversize=True)).status == 413


def test_a_failing_function_is_a_500_envelope_without_details(tmp_path: Path) -> None:
    lines: list[str] = []
    gateway = _gateway(code_uri=tmp_path)
    gateway.log = lines.append
    response = gateway.handle(_req("GET", "/health"))  # its handler module does not exist
    body = json.loads(response.body)
    assert response.status == 500
    assert body["error"]["code"] == "internal_error"
    assert len(lines) == 1
    assert "ModuleNotFoundError" in lines[0]


def test_routes_naming_unknown_functions_are_refused() -> None:
    with pytest.raises(ValueError, match="Ghost"):
        Gateway([Route("GET", "/x", "Ghost")], {})


def test_cors_preflight_and_actual_responses() -> None:
    cors = Cors(
        allow_origins=("https://app.example",),
        allow_methods=("GET", "POST"),
        allow_headers=("content-type",),
        expose_headers=("x-request-id",),
        max_age=600,
    )
    preflight = _gateway(cors=cors).handle(
        _req("OPTIONS", "/v1/orgs/acme", headers=[("Origin", "https://app.example")])
    )
    assert preflight.status == 204
    assert preflight.body == b""
    assert preflight.header("access-control-allow-origin") == "https://app.example"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    assert preflight.header("access-control-max-age") == "600"
    refused = _gateway(cors=cors).handle(_req("OPTIONS", "/x", headers=[("Origin", "https://evil.example")]))
    assert refused.status == 204
    assert refused.header("access-control-allow-origin") is None
    actual = _gateway(cors=cors).handle(_req("GET", "/nope", headers=[("Origin", "https://app.example")]))
    assert actual.header("access-control-allow-origin") == "https://app.example"
    assert actual.header("access-control-expose-headers") == "x-request-id"


def test_without_cors_options_is_routed_like_any_method() -> None:
    assert _gateway().handle(_req("OPTIONS", "/health")).status == 405
