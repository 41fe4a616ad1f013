"""The local server: moto in-process + resources from template.yaml + an HTTP front door."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongroom_local.gateway import Gateway, HttpRequest, HttpResponse
from strongroom_local.provision import ACCOUNT, REGION, Resources, make_dynamodb_atomic, provision
from strongroom_local.template import ROOT, functions, load_template, routes

OPENAPI = ROOT / "docs" / "openapi.json"
_REDACT = re.compile(r"^(/v1/invitations/)[^/]+(/.*)?$")
# Environment that every function gets locally, whatever the template says.
LOCAL_ENV = {
    "STAGE": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "strongroom-local",
    "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    "AWS_LAMBDA_FUNCTION_NAME": "strongroom-local",
}

Worker = Callable[[threading.Event, Resources], None]
_workers: list[tuple[str, Worker]] = []


def register_worker(name: str, worker: Worker) -> None:
    """Add a background worker (a loop that polls moto and calls a worker Lambda's handler until
    the stop event is set). Workers start with the stack and stop with it."""
    _workers.append((name, worker))


def redact_path(path: str) -> str:
    """Invitation tokens travel in the path; never print them."""
    return _REDACT.sub(lambda m: f"{m.group(1)}***{m.group(2) or ''}", path)


def _swagger_html() -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html  # noqa: PLC0415

    assets = Path(sys.modules["aws_lambda_powertools"].__file__ or "").parent / "event_handler/openapi/swagger_ui"
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = OPENAPI.read_text(encoding="utf-8") if OPENAPI.exists() else "{}"
    return generate_swagger_html(spec, js, css, "", None)


class LocalStack:
    """moto + the API on a socket, in this process.

    with LocalStack(port=0) as stack:
        urllib.request.urlopen(stack.url + "/health")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        auth_mode: str = "dev",
        parameters: dict[str, str] | None = None,
        quiet: bool = True,
    ) -> None:
        self.host, self.port, self.quiet = host, port, quiet
        self.parameters = {"AuthMode": auth_mode, "Stage": "local", **(parameters or {})}
        self.resources: Resources | None = None
        self.gateway: Gateway | None = None
        self._mock: Any = None
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LocalStack:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        from moto import mock_aws  # noqa: PLC0415

        self._mock = mock_aws()
        self._mock.start()
        make_dynamodb_atomic()
        template = load_template()
        self.resources = provision(template, parameters=self.parameters)
        fns = functions(template)
        os.environ.update(self._environment(fns))
        self.gateway = Gateway(routes(template), fns)
        self._serve()
        for name, worker in _workers:
            self._spawn(name, worker)
        return self

    def _environment(self, fns: dict[str, Any]) -> dict[str, str]:
        assert self.resources is not None
        env: dict[str, str] = {}
        for fn in fns.values():
            for key, value in fn.environment.items():
                if key in LOCAL_ENV:
                    continue
                resolved = str(self.resources.resolve(value))
                if key in env and env[key] != resolved:
                    raise RuntimeError(f"functions disagree on {key}; the local stack shares one environment")
                env[key] = resolved
        env.update(LOCAL_ENV)
        return env

    def _serve(self) -> None:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "strongroom-local"

            def _handle(self) -> None:
                started = time.perf_counter()
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = stack.dispatch(
                    HttpRequest(
                        method=self.command,
                        path=split.path,
                        query=split.query,
                        headers=list(self.headers.items()),
                        body=body,
                        source_ip=self.client_address[0],
                    )
                )
                self.send_response(response.status)
                for name, value in response.headers:
                    if name.lower() not in {"content-length", "connection"}:
                        self.send_header(name, value)
                # Like API Gateway: no body on 204/304 or for HEAD.
                body = b"" if response.status in {204, 304} else response.body
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                if not stack.quiet:
                    ms = (time.perf_counter() - started) * 1000
                    print(f"{self.command} {redact_path(split.path)} {response.status} {ms:.0f}ms", flush=True)

            def __getattr__(self, name: str) -> Any:
                # Every method reaches the gateway (which answers 404/405 in the envelope), not 501.
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # access lines are printed by _handle, redacted

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the stdlib's 5 resets bursts of concurrent clients

        self._server = Server((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        thread = threading.Thread(target=self._server.serve_forever, name="strongroom-http", daemon=True)
        thread.start()
        self._threads.append(thread)

    def dispatch(self, req: HttpRequest) -> HttpResponse:
        assert self.gateway is not None
        if req.method == "GET" and req.path == "/openapi.json":
            if not OPENAPI.exists():
                return HttpResponse(
                    404,
                    [("Content-Type", "application/json")],
                    json.dumps(
                        {
                            "error": {
                                "code": "not_found",
                                "message": "run `make openapi` first",
                                "details": {},
                                "request_id": "",
                            }
                        }
                    ).encode(),
                )
            return HttpResponse(200, [("Content-Type", "application/json")], OPENAPI.read_bytes())
        if req.method == "GET" and req.path in {"/docs", "/docs/"}:
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], _swagger_html().encode())
        if req.method == "OPTIONS":
            return HttpResponse(204, self._cors(), b"")
        return self.gateway.handle(req)

    def _cors(self) -> list[tuple[str, str]]:
        api = next((r for r in load_template()["Resources"].values() if r["Type"] == "AWS::Serverless::HttpApi"), {})
        cors = api.get("Properties", {}).get("CorsConfiguration") or {}
        return [
            ("Access-Control-Allow-Origin", ",".join(cors.get("AllowOrigins", ["*"]))),
            ("Access-Control-Allow-Methods", ",".join(cors.get("AllowMethods", []))),
            ("Access-Control-Allow-Headers", ",".join(cors.get("AllowHeaders", []))),
            ("Access-Control-Expose-Headers", ",".join(cors.get("ExposeHeaders", []))),
        ]

    def _spawn(self, name: str, worker: Worker) -> None:
        assert self.resources is not None
        resources = self.resources
        thread = threading.Thread(target=worker, args=(self._stop, resources), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def quick_start(self) -> str:
        url = self.url
        h = "-H 'X-Strongroom-Dev-User: you@example.com'"
        return "\n".join(
            [
                f"Strongroom is serving on {url}  (moto in-process, account {ACCOUNT}, {REGION})",
                f"  OpenAPI: {url}/openapi.json   Swagger UI: {url}/docs",
                f"  Auth: AUTH_MODE={self.parameters['AuthMode']}"
                + (
                    " - say who you are with the header X-Strongroom-Dev-User: <email>"
                    if self.parameters["AuthMode"] == "dev"
                    else ""
                ),
                "",
                f"  curl -s {url}/health",
                f'  curl -s -XPOST {url}/v1/orgs {h} -d \'{{"name": "Acme"}}\'',
                f"  curl -s {url}/v1/orgs {h}",
                "",
                "Ctrl-C stops it. State lives in memory and is gone when it stops.",
            ]
        )
