"""Helpers shared by the tests: one HTTP call over a real socket."""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from strongroom_local import LocalStack

Api = Callable[..., tuple[int, dict[str, str], Any]]


def unique_email(who: str) -> str:
    """An address no other test uses: `<who>-<8 hex digits>@example.com`."""
    return f"{who}-{secrets.token_hex(4)}@example.com"


def http_call(
    base: str,
    method: str,
    path: str,
    *,
    user: str | None = None,
    json_body: Any = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request over a real socket. Returns (status, lower-cased headers, parsed JSON or text)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if user is not None:
        all_headers["X-Strongroom-Dev-User"] = user
    payload = body if body is not None else (json.dumps(json_body).encode() if json_body is not None else None)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        resp = conn.getresponse()
        raw = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    if not raw:
        return resp.status, resp_headers, None
    if resp_headers.get("content-type", "").startswith("application/json"):
        return resp.status, resp_headers, json.loads(raw)
    return resp.status, resp_headers, raw.decode("utf-8", "replace")


def scan_all(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of the stack's table, in DynamoDB's own (typed) format."""
    from strongroom import aws

    assert stack.resources is not None
    client = aws.dynamodb()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.resources.refs["Table"]}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
