"""The one 404/405 of requests no route matches: over route_table.json by default, or the routes a
caller names (the local gateway's template)."""

from __future__ import annotations

from strongroom import errors
from strongroom.http import unmatched


def test_a_path_of_no_route_is_404() -> None:
    assert isinstance(unmatched.error("GET", "/nope"), errors.NotFound)


def test_a_known_path_under_another_method_is_405_naming_the_others() -> None:
    exc = unmatched.error("put", "/v1/orgs/acme")
    assert isinstance(exc, errors.MethodNotAllowed)
    assert exc.message == "PUT is not allowed here"
    assert exc.details == {"allowed": ["DELETE", "GET", "PATCH"]}
    assert exc.headers == {"Allow": "DELETE, GET, PATCH"}


def test_the_routes_come_from_the_route_table() -> None:
    assert "GET /health" in unmatched.route_keys()
    assert unmatched.allowed_methods("POST", "/health") == ["GET"]


def test_named_routes_replace_the_table_and_a_greedy_variable_takes_the_rest() -> None:
    keys = ["GET /files/{proxy+}", "POST /files/{name}"]
    assert unmatched.allowed_methods("DELETE", "/files/a/b", keys) == ["GET"]
    assert unmatched.allowed_methods("DELETE", "/files/a", keys) == ["GET", "POST"]
    assert unmatched.allowed_methods("GET", "/other", keys) == []


def test_only_the_default_route_is_unmatched() -> None:
    assert unmatched.is_default_route({"routeKey": "$default"})
    assert not unmatched.is_default_route({"routeKey": "GET /health"})
