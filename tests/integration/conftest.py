"""Handlers invoked in-process, as Lambda invokes them, with the sample events of events/, on the
session's moto world: the table, key and queues are created from template.yaml's own resource
definitions by `strongroom_local` (see the `stack` fixture in tests/conftest.py)."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom_local import LocalStack
from strongroom_local.gateway import LambdaContext
from support import scan_all

EVENTS = Path(__file__).resolve().parents[2] / "events"
Invoke = Callable[..., dict[str, Any]]


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event with a fresh request id. `headers=` merges (None removes a header),
    `body=` replaces (a str as is, anything else as JSON), `routeKey=` and `path_parameters=`
    re-target it; any other keyword is set on the event."""
    event = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8")))
    event["requestContext"]["requestId"] = f"it-{secrets.token_hex(8)}"
    if "routeKey" in changes:
        event["routeKey"] = event["requestContext"]["routeKey"] = changes.pop("routeKey")
        if " " in event["routeKey"]:
            method, path = event["routeKey"].split(" ", 1)
            event["requestContext"]["http"]["method"] = method
            event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if "headers" in changes:
        merged = {**event["headers"], **changes.pop("headers")}
        event["headers"] = {k: v for k, v in merged.items() if v is not None}
    if "body" in changes:
        body = changes.pop("body")
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if "path_parameters" in changes:
        params = changes.pop("path_parameters")
        event["pathParameters"] = params
        path = event["routeKey"].split(" ", 1)[1]
        for key, value in params.items():
            path = path.replace("{" + key + "}", value)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event.update(changes)
    return event


@pytest.fixture(scope="session")
def invoke(stack: LocalStack) -> Invoke:
    """invoke(function_logical_id, event) -> the handler's API Gateway response dict."""
    assert stack.gateway is not None
    gateway = stack.gateway

    def call(function: str, event: dict[str, Any]) -> dict[str, Any]:
        fn = gateway.functions[function]
        return gateway.handler(fn)(event, LambdaContext(fn))

    return call


@pytest.fixture
def oidc_mode(stack: LocalStack, oidc_issuer: Any) -> Any:
    """AUTH_MODE=oidc against the test issuer, on top of the running stack's environment
    (the stack is started first, so that its environment is what is restored afterwards)."""
    assert stack.resources is not None
    return oidc_issuer


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


def dev_user() -> dict[str, str]:
    """Headers of a fresh dev-mode user."""
    return {"x-strongroom-dev-user": f"it-{secrets.token_hex(5)}@example.com"}


def plain(attr: dict[str, Any]) -> Any:
    """One typed attribute value, untyped (S/N/B/BOOL/NULL/M/L/SS/NS/BS)."""
    ((kind, value),) = attr.items()
    if kind == "M":
        return {k: plain(v) for k, v in value.items()}
    if kind == "L":
        return [plain(v) for v in value]
    return value


def values_in(item: dict[str, Any]) -> Iterator[str | bytes]:
    """Every attribute name and every string or binary value of an item, nested ones included."""

    def walk(value: Any) -> Iterator[str | bytes]:
        if isinstance(value, str | bytes):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from walk(v)
        elif isinstance(value, list | tuple | set):
            for v in value:
                yield from walk(v)

    yield from walk(item)


def items_containing(stack: LocalStack, needle: str) -> list[dict[str, Any]]:
    raw = needle.encode()
    return [
        item
        for item in scan_all(stack)
        if any((needle in v) if isinstance(v, str) else (raw in v) for v in values_in(item))
    ]


def entity(item: dict[str, Any]) -> str:
    return str(item.get("entity", {}).get("S", ""))
