"""What API Gateway (HTTP API) does between the socket and Lambda: match the route, build the
payload-v2.0 event, invoke the handler, and turn its result back into an HTTP response."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import queue
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strongroom_local.template import ROOT, Function, Route

MAX_BODY = 6 * 1024 * 1024  # API Gateway's payload limit
ENVIRONMENTS_PER_FUNCTION = 4  # concurrent execution environments per function
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function: Function) -> None:
        self.function_name = f"strongroom-local-{function.logical_id}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _EnvironmentPool:
    """Up to `size` execution environments of one function, created on demand (a cold start
    each), each an independent load of the handler module."""

    def __init__(self, function: Function, size: int) -> None:
        self.function = function
        self._idle: queue.LifoQueue[Handler] = queue.LifoQueue()
        self._slots = threading.Semaphore(size)
        self._created = 0
        self._lock = threading.Lock()

    def _cold_start(self) -> Handler:
        for entry in (str(self.function.code_uri), str(ROOT / "layers" / "strongroom")):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        module_name, attr = self.function.handler.rsplit(".", 1)
        with self._lock:
            self._created += 1
            instance = self._created
        if instance == 1:
            module = importlib.import_module(module_name)
        else:
            spec = importlib.util.find_spec(module_name)
            assert spec is not None
            assert spec.origin is not None
            copy_spec = importlib.util.spec_from_file_location(f"{module_name}__env{instance}", spec.origin)
            assert copy_spec is not None
            assert copy_spec.loader is not None
            module = importlib.util.module_from_spec(copy_spec)
            copy_spec.loader.exec_module(module)
        return getattr(module, attr)  # type: ignore[no-any-return]

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._slots:
            try:
                handler = self._idle.get_nowait()
            except queue.Empty:
                handler = self._cold_start()
            try:
                return handler(event, context)
            finally:
                self._idle.put(handler)


def _error(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: dict[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}, "request_id": request_id}}
    return HttpResponse(
        status,
        [("Content-Type", "application/json"), ("X-Request-Id", request_id), *headers],
        json.dumps(body).encode(),
    )


class Gateway:
    def __init__(self, routes: list[Route], functions: dict[str, Function]) -> None:
        self.routes = routes
        self.functions = functions
        self.default_route = next((r for r in routes if r.path == "$default"), None)
        self._pools: dict[str, _EnvironmentPool] = {}
        self._lock = threading.Lock()

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for (method, path), its path parameters, and the methods the path allows."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.match(path)
            if not found:
                continue
            if route.method in (method, "ANY"):
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, sorted(set(allowed))

    def handler(self, function: Function) -> Handler:
        """A handler that runs like Lambda: each call borrows one execution environment (its own
        copy of the function's module, so its own resolver) and no environment serves two
        requests at once. The resolver keeps the current event on itself, as it may in Lambda."""
        with self._lock:
            pool = self._pools.get(function.logical_id)
            if pool is None:
                pool = self._pools[function.logical_id] = _EnvironmentPool(function, ENVIRONMENTS_PER_FUNCTION)
        return pool.invoke

    def handle(self, req: HttpRequest) -> HttpResponse:
        request_id = secrets.token_hex(16)
        if len(req.body) > MAX_BODY:
            return _error(413, "payload_too_large", "the request body exceeds 6 MB", request_id)
        route, params, allowed = self.match(req.method, req.path)
        if route is None and self.default_route is not None:
            route, params = self.default_route, {}
        if route is None:
            if allowed:
                return _error(
                    405,
                    "method_not_allowed",
                    f"{req.method} is not allowed here",
                    request_id,
                    details={"allowed": allowed},
                    headers=[("Allow", ", ".join(allowed))],
                )
            return _error(404, "not_found", "no such route", request_id)
        function = self.functions[route.function]
        event = build_event(req, route, params, request_id)
        try:
            result = self.handler(function)(event, LambdaContext(function))
        except Exception as exc:  # noqa: BLE001 - what API Gateway does when a Lambda fails
            print(f"[local] {route.function} raised {type(exc).__name__}", file=sys.stderr)
            return _error(500, "internal_error", "an internal error occurred", request_id)
        return to_response(result)


def build_event(req: HttpRequest, route: Route, params: dict[str, str], request_id: str) -> dict[str, Any]:
    """An API Gateway HTTP API payload-format-2.0 event, as API Gateway builds it."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in req.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    if req.query:
        from urllib.parse import parse_qsl  # noqa: PLC0415

        for k, v in parse_qsl(req.query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if req.body:
        try:
            event["body"] = req.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(req.body).decode()
            event["isBase64Encoded"] = True
    return event


def to_response(result: dict[str, Any]) -> HttpResponse:
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or [])
    return HttpResponse(int(result.get("statusCode", 200)), headers, raw)
