"""The local stack: moto in-process, the resources template.yaml declares, the functions'
environment, and an HTTP server in front of the gateway.

    with LocalStack(port=0) as stack:          # port 0: any free port
        urllib.request.urlopen(stack.url + "/health")

One stack per process: moto's world and os.environ are process-wide.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from strongroom_local import docs, mailbox, persist
from strongroom_local.atomic import make_dynamodb_atomic
from strongroom_local.environment import local_values, shared_environment
from strongroom_local.events import HttpRequest, HttpResponse, new_request_id
from strongroom_local.gateway import MAX_BODY, Cors, Gateway, error_response
from strongroom_local.intrinsics import ACCOUNT, REGION
from strongroom_local.kms_policy import enforce_kms_key_policies
from strongroom_local.motospeed import serialize_dynamodb_json_directly, skip_idle_request_id_rewrite
from strongroom_local.provision import Resources, provision, template_parameters
from strongroom_local.sts_signatures import check_sts_signatures
from strongroom_local.template import LAYER_DIR, TEMPLATE, functions, http_api_properties, load_template, routes
from strongroom_local.workers import Worker, WorkerRunner, registered_workers

DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body up to this size is read and dropped, so the client sees the 413
DEV_USER_HEADER = "X-Strongroom-Dev-User"
_INVITATION_TOKEN = re.compile(r"^(/+v1/+invitations/+)[^/]+", re.IGNORECASE)
# Never the developer's real AWS account, profile or endpoint.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET_AWS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SECURITY_TOKEN")
Log = Callable[[str], None]


def redact_path(path: str) -> str:
    """Invitation tokens travel in the path (/v1/invitations/<token>/accept); never print them."""
    return _INVITATION_TOKEN.sub(lambda m: f"{m.group(1)}***", path)


def _stdout(line: str) -> None:
    print(line, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class _BadRequest(Exception):
    pass


# --------------------------------------------------------------------------- HTTP


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the stack, writes the response, logs one redacted line."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, a kept-alive connection waits
    # ~40 ms for the client's delayed ACK before the body.
    disable_nagle_algorithm = True
    server_version = "strongroom-local"
    sys_version = ""
    stack: ClassVar[LocalStack]

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the gateway (which answers 404/405 in the envelope), never a bare 501.
        if name.startswith("do_") and name[3:].isalpha():
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        return  # the stdlib's lines carry the raw request line; ours are redacted (_handle)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        try:
            too_big = self._content_length() > MAX_BODY
        except _BadRequest:
            too_big = False
        if too_big:
            self.close_connection = True
            self._finish(
                HttpRequest(self.command, self._split().path, "", [], b"", "", oversize=True), time.perf_counter()
            )
            return False
        return super().handle_expect_100()

    def _split(self) -> Any:
        return urlsplit(self.path if self.path.startswith("/") else "/" + self.path)

    def _content_length(self) -> int:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        if not raw.strip().isdigit():
            raise _BadRequest("invalid Content-Length")
        return int(raw)

    def _read_chunked(self) -> tuple[bytes, bool]:
        body = bytearray()
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("invalid chunk") from None
            if size == 0:
                while self.rfile.readline(65537) not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return bytes(body), False
            if len(body) + size > MAX_BODY:
                self.close_connection = True  # the rest is not read
                return b"", True
            body += self.rfile.read(size)
            self.rfile.readline(3)

    def _read_body(self) -> tuple[bytes, bool]:
        """(body, oversize). An oversized body is drained (up to DRAIN_LIMIT) so that the client reads the 413."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self._content_length()
        if length <= MAX_BODY:
            return (self.rfile.read(length) if length else b""), False
        if length > DRAIN_LIMIT:
            self.close_connection = True
            return b"", True
        remaining = length
        while remaining > 0:
            got = self.rfile.read(min(remaining, 1 << 16))
            if not got:
                break
            remaining -= len(got)
        return b"", True

    def _handle(self) -> None:
        started = time.perf_counter()
        split = self._split()
        try:
            body, oversize = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._write(self.stack.bad_request(str(exc)))
            self.stack.access(self.command, split.path, 400, started)
            return
        request = HttpRequest(
            method=self.command,
            path=split.path,
            query=split.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=str(self.client_address[0]),
            protocol=self.request_version,
            port=int(getattr(self.server, "server_port", 0)),
            oversize=oversize,
        )
        self._finish(request, started)

    def _finish(self, request: HttpRequest, started: float) -> None:
        response = self.stack.dispatch(request)
        self._write(response)
        self.stack.access(request.method, request.path, response.status, started)

    def _write(self, response: HttpResponse) -> None:
        no_body = response.status in {204, 304} or 100 <= response.status < 200
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            if not no_body:
                self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not no_body and self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the stdlib's 5 resets bursts of concurrent clients

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            _stderr(f"[local] connection error: {type(exc).__name__}")


# --------------------------------------------------------------------------- the stack


class LocalStack:
    """moto + the template's resources + the API on a socket, in this process."""

    _active: ClassVar[LocalStack | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        auth_mode: str = "dev",
        parameters: dict[str, str] | None = None,
        quiet: bool = True,
        workers: Iterable[Worker] | None = None,
        template_path: Path = TEMPLATE,
        log: Log = _stdout,
        data_dir: Path | None = None,
    ) -> None:
        if auth_mode not in {"dev", "oidc"}:
            raise ValueError("auth_mode is dev or oidc")
        self.host, self.port, self.quiet, self.auth_mode = host, port, quiet, auth_mode
        # Webhook retries compressed to seconds, so that they can be watched locally.
        self.parameters = {
            "Stage": "local",
            "WebhookRetrySchedule": "1,1,2,2,3,3,4",
            "SyncRetrySchedule": "1,1,1,1,1",
            # Platform (issue #18): admin@example.com is the platform admin; orgs start on the
            # enterprise plan (unlimited, requests included) and requests outside an org are not
            # limited, so that no local run or test meets a plan limit or a 429 it did not ask for,
            # nor pays the count's write; unauthenticated ones are counted, far from any limit
            # (docs/decisions.md).
            "PlatformAdmins": "admin@example.com",
            "NewOrgPlan": "enterprise",
            "AnonymousRequestsPerMinute": "1000000",
            "DefaultRequestsPerMinute": "-1",
            **(parameters or {}),
            "AuthMode": auth_mode,
        }
        self.template_path = template_path
        self.log = log
        self.resources: Resources | None = None
        self.gateway: Gateway | None = None
        self.environment: dict[str, str] = {}
        self.notes: list[str] = []
        self._workers = list(workers) if workers is not None else None
        self._runner = WorkerRunner(log=_stderr)
        self._mock: Any = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        # None: in memory (the default, and every test's); else the directory moto's state is kept in.
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.store: persist.Store | None = None
        self.restored = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", ""} else "[::1]" if self.host == "::" else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LocalStack:
        with LocalStack._active_lock:
            if LocalStack._active is not None:
                raise RuntimeError("a LocalStack is already running in this process (moto and os.environ are shared)")
            LocalStack._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if str(LAYER_DIR) not in sys.path:
            sys.path.insert(0, str(LAYER_DIR))
        self._set_env(FAKE_AWS, unset=UNSET_AWS + tuple(k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")))
        from moto import mock_aws  # noqa: PLC0415 - after the fake credentials are in place

        self._mock = mock_aws()
        self._mock.start()
        make_dynamodb_atomic()
        skip_idle_request_id_rewrite()
        serialize_dynamodb_json_directly()
        enforce_kms_key_policies()
        check_sts_signatures()
        mailbox.stamp_send_times()
        template = load_template(self.template_path)
        self.resources = self._resources(template)
        fns = functions(template)
        # API_URL (the template's execute-api URL) is this server's own, known once the port is bound.
        overrides = {**local_values(self.auth_mode), "API_URL": self.url}
        self.environment, self.notes = shared_environment(fns.values(), self.resources, overrides)
        self._set_env(self.environment)
        _forget_cached_clients()
        if self.environment.get("MAIL_FROM"):
            mailbox.verify_sender(self.environment["MAIL_FROM"])
        if self.restored:
            self._migrate()
        cors = Cors.from_template(http_api_properties(template).get("CorsConfiguration"))
        self.gateway = Gateway(routes(template), fns, cors=cors, log=_stderr)
        self._serve()
        workers = self._workers if self._workers is not None else registered_workers()
        self._runner.start(workers, self.resources, self.invoke)

    def _resources(self, template: dict[str, Any]) -> Resources:
        """Provisioned afresh, or (with a data directory that has state) the saved ones, not re-created."""
        if self.data_dir is None:
            return provision(template, parameters=self.parameters)
        self.store = persist.Store(self.data_dir)
        self.store.acquire()
        if self.store.has_state():
            resources: Resources = self.store.load()
            # Parameters (--auth-mode, --parameter) are this run's; the names and ARNs are the saved ones.
            resources.parameters = template_parameters(template, self.parameters)
            resources.conditions = dict(template.get("Conditions") or {})
            resources.mappings = dict(template.get("Mappings") or {})
            _check_saved(resources, template, self.data_dir)
            self.restored = True
        else:
            resources = provision(template, parameters=self.parameters)
        self.store.snapshot(resources)  # the provisioned state, or the journal compacted
        persist.attach(self.store)
        return resources

    def _migrate(self) -> None:
        """Bring kept data up to this code's shape (strongroom.data.migrations: idempotent), before
        serving."""
        from strongroom.data import migrations  # noqa: PLC0415 - the layer, once on sys.path

        for name, changed in migrations.run().items():
            if changed:
                _stderr(f"[local] migration {name!r}: {changed} item(s) changed")

    def _serve(self) -> None:
        handler = type("RequestHandler", (_RequestHandler,), {"stack": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = int(self._server.server_address[1])
        # The API's own URL (single sign-on's redirect URI), now that the port is bound.
        self.environment["API_URL"] = self.url
        self._set_env({"API_URL": self.url})
        self._thread = threading.Thread(target=self._server.serve_forever, name="strongroom-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop workers, the server and moto, and restore the environment (idempotent)."""
        left = self._runner.stop()
        if left:
            _stderr(f"[local] workers still running at shutdown: {', '.join(left)}")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.store is not None:
            self.store.release()
            self.store = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._restore_env()
        _forget_cached_clients()
        with LocalStack._active_lock:
            if LocalStack._active is self:
                LocalStack._active = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str], unset: Iterable[str] = ()) -> None:
        for key in [*values, *unset]:
            self._saved_env.setdefault(key, os.environ.get(key))
        for key in unset:
            os.environ.pop(key, None)
        os.environ.update(values)

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # ------------------------------------------------------------------ requests

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function's handler directly (workers: queue batches, stream records, schedules)."""
        if self.gateway is None:
            raise RuntimeError("the stack is not running")
        return self.gateway.invoke(logical_id, event)

    def dispatch(self, req: HttpRequest) -> HttpResponse:
        """One HTTP request: the local documentation pages and mailbox, else API Gateway + Lambda."""
        if self.gateway is None:
            raise RuntimeError("the stack is not running")
        try:
            path = req.decoded_path
            if docs.is_docs_path(req.method, path) and self.gateway.table.match(req.method, path) is None:
                return self._docs(path)
            if mailbox.is_mailbox_path(req.method, path) and self.gateway.table.match(req.method, path) is None:
                return self._mailbox(req.query)
            return self.gateway.handle(req)
        except Exception as exc:  # noqa: BLE001 - a bug here must still answer in the envelope
            _stderr(f"[local] request failed in the local gateway: {type(exc).__name__}")
            from strongroom import errors  # noqa: PLC0415

            return error_response(errors.Internal("an internal error occurred"), new_request_id())

    def _docs(self, path: str) -> HttpResponse:
        from strongroom import errors  # noqa: PLC0415

        request_id = new_request_id()
        page = docs.serve(path)
        if page is None:
            missing = errors.NotFound(
                "docs/openapi.json does not exist yet (make openapi writes it)"
                if path == docs.OPENAPI_PATH
                else "no such page"
            )
            return error_response(missing, request_id)
        return HttpResponse(page.status, [*page.headers, ("X-Request-Id", request_id)], page.body)

    def _mailbox(self, query: str) -> HttpResponse:
        page = mailbox.serve(query)
        return page or self.bad_request("the query parameter to (an email address) is required")

    def bad_request(self, message: str) -> HttpResponse:
        from strongroom import errors  # noqa: PLC0415

        return error_response(errors.Invalid(message, code="bad_request"), new_request_id())

    def access(self, method: str, path: str, status: int, started: float) -> None:
        """One access line: method, path (invitation tokens redacted), status, duration. Never headers or bodies."""
        if not self.quiet:
            self.log(f"{method} {redact_path(path)} {status} {(time.perf_counter() - started) * 1000:.0f}ms")

    # ------------------------------------------------------------------ quick start

    def quick_start(self) -> str:
        url = self.url
        lines = [
            f"Strongroom is serving on {url}  (moto in-process: account {ACCOUNT}, {REGION}; {self._state_line()})",
            f"  Console: {url}/   OpenAPI: {url}{docs.OPENAPI_PATH}   Swagger UI: {url}{docs.DOCS_PATH}",
        ]
        if self.auth_mode == "dev":
            who = f"-H '{DEV_USER_HEADER}: you@example.com'"
            lines.append(f"  Auth: dev mode - say who you are with the header {DEV_USER_HEADER}: you@example.com")
        else:
            who = '-H "Authorization: Bearer $TOKEN"'
            lines.append("  Auth: oidc - send Authorization: Bearer <a JWT of the configured issuer>")
        lines += [
            "",
            f"  curl -s {url}/health",
            f"  curl -s -X POST {url}/v1/orgs {who} -H 'Content-Type: application/json' -d '{{\"name\": \"Acme\"}}'",
            f"  curl -s {url}/v1/orgs {who}",
            "",
            *(f"  note: {n}" for n in self.notes),
            "Ctrl-C stops it.",
        ]
        return "\n".join(lines)

    def _state_line(self) -> str:
        if self.data_dir is None:
            return "state is in memory"
        return f"state is kept in {self.data_dir}" + (" (restored)" if self.restored else " (new)")


def _check_saved(resources: Resources, template: dict[str, Any], data_dir: Path) -> None:
    """The saved state must have every resource this template.yaml creates (else: reset)."""
    from strongroom_local.provision import PROVISIONERS  # noqa: PLC0415

    declared = template.get("Resources") or {}
    missing = sorted(
        k
        for k, v in declared.items()
        if v.get("Type") in PROVISIONERS
        and k not in resources.refs
        and ("Condition" not in v or resources.condition(str(v["Condition"])))
    )
    if missing:
        raise persist.CorruptState(
            f"the data directory {data_dir} was made from a template.yaml without {', '.join(missing)}; "
            "delete it to start afresh (its data is lost), or use another --data-dir"
        )


def _forget_cached_clients() -> None:
    """boto3 clients made before moto started (or after it stopped) must not be reused."""
    aws = sys.modules.get("strongroom.aws")
    if aws is not None:
        aws.reset()
