"""What API Gateway (HTTP API) and Lambda do between the socket and a handler: the payload limit,
CORS preflight, route selection, the v2.0 event, the invocation in an execution environment, and
the result turned back into HTTP.

Each function gets a small pool of execution environments, each its own load of the handler
module (so its own resolver), and an environment serves one request at a time, as in Lambda.

One difference from Lambda is forced on us: Powertools' resolvers keep the request being resolved
in class attributes (`BaseRouter.current_event` and `.lambda_context`), shared by every resolver of
the process. Lambda runs one request per process, so that is safe there; here two functions
resolving at once would read each other's request (a body validated against another route's model
was how this showed). So handlers of HTTP-routed functions run one at a time in this process
(`RESOLVER_LOCK`); other functions (stream and queue consumers) run concurrently.
"""

from __future__ import annotations

import importlib
import importlib.util
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strongroom_local.events import (
    HttpRequest,
    HttpResponse,
    LambdaContext,
    build_event,
    new_request_id,
    to_response,
)
from strongroom_local.routing import RouteTable
from strongroom_local.template import LAYER_DIR, Function, Route

if TYPE_CHECKING:
    from strongroom.errors import AppError

__all__ = ["Cors", "Gateway", "HttpRequest", "HttpResponse", "LambdaContext", "build_event", "to_response"]

MAX_BODY = 6 * 1024 * 1024  # Lambda's synchronous payload limit, which API Gateway enforces
ENVIRONMENTS_PER_FUNCTION = 4
JSON = "application/json"
Handler = Callable[[dict[str, Any], Any], Any]
Log = Callable[[str], None]
# Serializes every invocation of an HTTP-routed function (see the module docstring).
RESOLVER_LOCK = threading.RLock()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- CORS


@dataclass(frozen=True, slots=True)
class Cors:
    """The HttpApi's CorsConfiguration, applied the way API Gateway applies it."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_template(cls, config: dict[str, Any] | None) -> Cors | None:
        if not config:
            return None
        max_age = config.get("MaxAge")
        return cls(
            allow_origins=tuple(str(o) for o in config.get("AllowOrigins") or ()),
            allow_methods=tuple(str(m) for m in config.get("AllowMethods") or ()),
            allow_headers=tuple(str(h) for h in config.get("AllowHeaders") or ()),
            expose_headers=tuple(str(h) for h in config.get("ExposeHeaders") or ()),
            max_age=None if max_age is None else int(max_age),
            allow_credentials=str(config.get("AllowCredentials", False)).lower() == "true",
        )

    def _allow_origin(self, origin: str | None) -> str | None:
        if "*" in self.allow_origins and not self.allow_credentials:
            return "*"
        if origin is not None and (origin in self.allow_origins or "*" in self.allow_origins):
            return origin
        return None

    def preflight(self, origin: str | None) -> list[tuple[str, str]]:
        """Headers of the 204 API Gateway answers an OPTIONS request with (none for a refused origin)."""
        allowed = self._allow_origin(origin)
        if allowed is None:
            return []
        headers = [("Access-Control-Allow-Origin", allowed)]
        if self.allow_methods:
            headers.append(("Access-Control-Allow-Methods", ",".join(self.allow_methods)))
        if self.allow_headers:
            headers.append(("Access-Control-Allow-Headers", ",".join(self.allow_headers)))
        if self.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ",".join(self.expose_headers)))
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        if self.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def actual(self, origin: str | None) -> list[tuple[str, str]]:
        """Headers API Gateway adds to a response to a cross-origin request."""
        allowed = self._allow_origin(origin) if origin else None
        if allowed is None:
            return []
        headers = [("Access-Control-Allow-Origin", allowed)]
        if self.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ",".join(self.expose_headers)))
        if self.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers


# --------------------------------------------------------------------------- errors


def error_response(exc: AppError, request_id: str) -> HttpResponse:
    """`exc` in the API's error envelope (strongroom.http.app.error_body), as the handlers answer."""
    import json  # noqa: PLC0415

    from strongroom.http.envelope import error_body  # noqa: PLC0415 - imported once the environment is set

    headers = [("Content-Type", JSON), ("X-Request-Id", request_id), *exc.headers.items()]
    return HttpResponse(exc.status, headers, json.dumps(error_body(exc, request_id)).encode())


def _where(exc: BaseException) -> str:
    """The innermost frame only (file:line): messages and tracebacks may carry data."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"


# --------------------------------------------------------------------------- execution environments


class _EnvironmentPool:
    """Up to `size` execution environments of one function, created on demand (each a cold start,
    each an independent load of the handler module); one request at a time per environment."""

    def __init__(self, function: Function, size: int, *, serialized: bool = False) -> None:
        self.function = function
        self._serialized = serialized
        self._idle: queue.LifoQueue[Handler] = queue.LifoQueue()
        self._slots = threading.Semaphore(size)
        self._created = 0
        self._lock = threading.Lock()

    def _cold_start(self) -> Handler:
        for entry in (str(LAYER_DIR), str(self.function.code_uri)):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        with self._lock:
            self._created += 1
            instance = self._created
        name = self.function.module
        if instance == 1:
            module = importlib.import_module(name)
        else:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ImportError(f"cannot find {name}")
            copy_spec = importlib.util.spec_from_file_location(f"{name}__env{instance}", spec.origin)
            if copy_spec is None or copy_spec.loader is None:
                raise ImportError(f"cannot load {name}")
            module = importlib.util.module_from_spec(copy_spec)
            copy_spec.loader.exec_module(module)
        handler = getattr(module, self.function.attribute)
        if not callable(handler):
            raise TypeError(f"{self.function.handler} is not callable")
        return handler  # type: ignore[no-any-return]

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        with self._slots:
            try:
                handler = self._idle.get_nowait()
            except queue.Empty:
                handler = self._cold_start()
            try:
                if self._serialized:
                    with RESOLVER_LOCK:
                        return handler(event, context)
                return handler(event, context)
            finally:
                self._idle.put(handler)


# --------------------------------------------------------------------------- the gateway


class Gateway:
    """HTTP request in, HTTP response out, through the template's routes and functions."""

    def __init__(
        self,
        routes: Iterable[Route],
        functions: dict[str, Function],
        *,
        cors: Cors | None = None,
        environments_per_function: int = ENVIRONMENTS_PER_FUNCTION,
        log: Log = _stderr,
    ) -> None:
        self.routes = list(routes)
        self.table = RouteTable(self.routes)
        self.functions = functions
        self.cors = cors
        self.log = log
        self._size = environments_per_function
        self._pools: dict[str, _EnvironmentPool] = {}
        self._lock = threading.Lock()
        self._http_functions = frozenset(r.function for r in self.routes)
        missing = self._http_functions - set(functions)
        if missing:
            raise ValueError(f"routes name unknown functions: {', '.join(sorted(missing))}")

    @property
    def default_route(self) -> Route | None:
        return self.table.default

    def handler(self, function: Function) -> Handler:
        """Invoke `function` like Lambda: in one of its execution environments."""
        with self._lock:
            pool = self._pools.get(function.logical_id)
            if pool is None:
                pool = self._pools[function.logical_id] = _EnvironmentPool(
                    function, self._size, serialized=function.logical_id in self._http_functions
                )
        return pool.invoke

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function (HTTP or not) with any event, e.g. from a worker polling a queue."""
        function = self.functions[logical_id]
        return self.handler(function)(event, LambdaContext(function))

    def handle(self, req: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        response = self._handle(req, request_id)
        extra = [("Apigw-Requestid", request_id)]
        if self.cors is not None and req.method.upper() != "OPTIONS":
            extra.extend(self.cors.actual(req.header("origin")))
        return HttpResponse(response.status, [*response.headers, *extra], response.body)

    def _handle(self, req: HttpRequest, request_id: str) -> HttpResponse:
        from strongroom import errors  # noqa: PLC0415 - imported once the environment is set
        from strongroom.http import unmatched  # noqa: PLC0415 - imported once the environment is set

        if req.oversize or len(req.body) > MAX_BODY:
            return error_response(errors.PayloadTooLarge("the request body exceeds 6 MB"), request_id)
        if req.method.upper() == "OPTIONS" and self.cors is not None:
            return HttpResponse(204, self.cors.preflight(req.header("origin")))
        path = req.decoded_path
        match = self.table.match(req.method, path)
        if match is not None:
            route, params = match.route, match.params
        elif self.table.default is not None:
            route, params = self.table.default, {}
        else:
            keys = [route.key for route in self.table.routes]
            return error_response(unmatched.error(req.method, path, keys), request_id)
        return self._invoke(route, build_event(req, route.key, params, request_id), request_id)

    def _invoke(self, route: Route, event: dict[str, Any], request_id: str) -> HttpResponse:
        from strongroom import errors  # noqa: PLC0415

        function = self.functions[route.function]
        started = time.perf_counter()
        try:
            result = self.handler(function)(event, LambdaContext(function))
        except Exception as exc:  # noqa: BLE001 - what API Gateway does when the function fails
            self.log(f"[local] {function.logical_id} failed: {type(exc).__name__} at {_where(exc)}")
            return error_response(errors.Internal("an internal error occurred"), request_id)
        elapsed = time.perf_counter() - started
        if elapsed > function.timeout:
            self.log(
                f"[local] {function.logical_id} took {elapsed:.1f}s, over its Timeout of {function.timeout}s: "
                "Lambda would have stopped it"
            )
        try:
            return to_response(result)
        except (TypeError, ValueError) as exc:
            self.log(f"[local] {function.logical_id} returned a malformed response: {type(exc).__name__}")
            return error_response(errors.Internal("an internal error occurred"), request_id)
