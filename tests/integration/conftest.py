"""Handlers invoked in-process, as Lambda invokes them, with the sample events of events/, on the
session's moto world (tables and keys created from template.yaml)."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strongroom_local import LocalStack
from strongroom_local.gateway import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
Invoke = Callable[..., dict[str, Any]]


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event with a fresh request id; `headers=`, `body=`, `path_parameters=` adjust it."""
    event = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    event["requestContext"]["requestId"] = secrets.token_hex(8)
    if "routeKey" in changes:
        event["routeKey"] = event["requestContext"]["routeKey"] = changes.pop("routeKey")
        event["requestContext"]["http"]["method"] = event["routeKey"].split(" ", 1)[0]
    if "headers" in changes:
        event["headers"] = {**event["headers"], **changes.pop("headers")}
        event["headers"] = {k: v for k, v in event["headers"].items() if v is not None}
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


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
