"""What API Gateway (HTTP API, payload format 2.0) hands Lambda and takes back.

- `build_event`: an HTTP request -> the v2.0 event, as API Gateway builds it;
- `LambdaContext`: the context object's attributes that handlers and Powertools read;
- `to_response`: the handler's result -> an HTTP response (including v2.0's inferred format).

Fidelity notes: header names are lower-cased and repeated headers comma-joined; `Cookie` headers
become `cookies`; repeated query parameters are comma-joined in `queryStringParameters` (all of
them stay in `rawQueryString`); HTTP APIs deliver `rawPath`, `requestContext.http.path` and
`pathParameters` URL-decoded; a body that is not UTF-8 is base64-encoded with `isBase64Encoded`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from strongroom_local.intrinsics import ACCOUNT, REGION, STACK_NAME
from strongroom_local.template import Function

API_ID = "local"
STAGE = "$default"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str  # as sent, percent-encoded, without the query
    query: str  # as sent, without the "?"
    headers: list[tuple[str, str]]  # in order, repeated names repeated
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    port: int = 0  # the server's, for X-Forwarded-Port
    oversize: bool = False  # the body was over the limit and was not read

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def new_request_id() -> str:
    """An API Gateway-style request id (16 base64 characters, like `Jx1abcDEFghIJ0w=`)."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


class LambdaContext:
    """The Lambda context object: what handlers and Powertools read from it."""

    def __init__(self, function: Function, *, request_id: str | None = None) -> None:
        self.function_name = f"{STACK_NAME}-{function.logical_id}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = function.memory_size
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --------------------------------------------------------------------------- request -> event


def _headers_and_cookies(req: HttpRequest) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in req.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # API Gateway appends the caller's address and says how it was reached.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {req.source_ip}" if forwarded else req.source_ip
    headers["x-forwarded-proto"] = "http"
    if req.port:
        headers["x-forwarded-port"] = str(req.port)
    return headers, cookies


def _query(raw: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    return query


def _domain(host: str | None) -> tuple[str, str]:
    """domainName (the Host without its port) and domainPrefix (its first label)."""
    try:
        name = urlsplit(f"//{host}").hostname or "localhost"
    except ValueError:
        name = "localhost"
    return name, name.split(".", 1)[0]


def build_event(
    req: HttpRequest,
    route_key: str,
    path_parameters: dict[str, str],
    request_id: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway would send for `req` matched to `route_key`."""
    headers, cookies = _headers_and_cookies(req)
    when = now or datetime.now(UTC)
    domain_name, domain_prefix = _domain(headers.get("host"))
    path = req.decoded_path
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": req.method.upper(),
                "path": path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": STAGE,
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = _query(req.query)
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if req.body:
        try:
            event["body"] = req.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(req.body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


# --------------------------------------------------------------------------- result -> response


def to_response(result: Any) -> HttpResponse:
    """The handler's return value as API Gateway turns it into HTTP (payload format 2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # v2.0 infers the format: any JSON value without statusCode is a 200 JSON body.
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(result).encode())
    body = result.get("body")
    if body is None:
        raw = b""
    elif result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    headers = [(str(k), _header_value(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_value(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in _cookies(result.get("cookies")))
    return HttpResponse(int(result["statusCode"]), headers, raw)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cookies(value: Any) -> Iterable[str]:
    return [str(c) for c in value] if isinstance(value, list) else []
