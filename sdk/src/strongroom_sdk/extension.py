"""The Strongroom secrets extension: a Lambda external extension (like AWS's Parameters and
Secrets extension) that serves the function's environment on a local HTTP endpoint inside its
sandbox, from a cache the SDK refreshes with If-None-Match, so the function's code needs no token
and no SDK: `GET http://localhost:2772/secrets` → `{"secrets": {KEY: value}}`,
`GET /secrets/<KEY>` → `{"key", "value"}`.

It authenticates as the function itself: with `STRONGROOM_IDENTITY` (an `aws_iam` machine
identity whose `role_arn` names the function's execution role), it signs sts:GetCallerIdentity
with the role's credentials (the sandbox's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN) and renews the short-lived token itself; `STRONGROOM_TOKEN` (a service token)
works too. Configuration (the function's environment variables): `STRONGROOM_API_URL`,
`STRONGROOM_IDENTITY` or `STRONGROOM_TOKEN`, `STRONGROOM_REFRESH_SECONDS` (default 300),
`STRONGROOM_EXTENSION_PORT` (default 2772).

Only the sandbox's own processes can reach 127.0.0.1, and when the sandbox has an
AWS_SESSION_TOKEN a request must also carry it in `X-Strongroom-Extension-Token` (as AWS's
extension asks for `X-Aws-Parameters-Secrets-Token`), so that a server-side request forgery in
the function cannot read the secrets.

Lifecycle (the Extensions API, `AWS_LAMBDA_RUNTIME_API`): register for INVOKE and SHUTDOWN, read
the environment once (init fails, reported to Lambda, if that fails), serve, and wait for events
until SHUTDOWN.
"""

from __future__ import annotations

import hmac
import http.client
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from strongroom_sdk.client import Client, Identity, StrongroomError

NAME = "strongroom-secrets"  # the file name in /opt/extensions/, as Lambda requires
DEFAULT_PORT = 2772
DEFAULT_REFRESH_SECONDS = 300.0
TOKEN_HEADER = "X-Strongroom-Extension-Token"  # noqa: S105 - a header name


class ExtensionsApi:
    """Lambda's Extensions API (2020-01-01) at AWS_LAMBDA_RUNTIME_API."""

    def __init__(self, address: str) -> None:
        host, _, port = address.partition(":")
        self.host, self.port = host, int(port or 80)
        self.identifier = ""

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=None)  # event/next blocks
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, f"/2020-01-01/extension{path}", body=payload, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 300:
                raise OSError(f"Extensions API {path}: {resp.status}")
            self.identifier = resp.getheader("Lambda-Extension-Identifier") or self.identifier
            return json.loads(data) if data else {}
        finally:
            conn.close()

    def register(self) -> None:
        self._call("POST", "/register", {"events": ["INVOKE", "SHUTDOWN"]}, {"Lambda-Extension-Name": NAME})

    def next_event(self) -> dict[str, Any]:
        return dict(self._call("GET", "/event/next", headers={"Lambda-Extension-Identifier": self.identifier}))

    def init_error(self, message: str) -> None:
        headers = {
            "Lambda-Extension-Identifier": self.identifier,
            "Lambda-Extension-Function-Error-Type": "Extension.Init",
        }
        self._call("POST", "/init/error", {"errorMessage": message, "errorType": "Extension.Init"}, headers)


def client_from_environment(environ: dict[str, str]) -> Client:
    url = environ["STRONGROOM_API_URL"]
    refresh = float(environ.get("STRONGROOM_REFRESH_SECONDS") or DEFAULT_REFRESH_SECONDS)
    if environ.get("STRONGROOM_IDENTITY"):
        identity = Identity(environ["STRONGROOM_IDENTITY"], aws=True, aws_region=environ.get("STRONGROOM_STS_REGION"))
        return Client(url, identity=identity, refresh_interval=refresh)
    return Client(url, token=environ["STRONGROOM_TOKEN"], refresh_interval=refresh)


def handler(client: Client, required_token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            given = self.headers.get(TOKEN_HEADER, "")
            if required_token and not hmac.compare_digest(given.encode(), required_token.encode()):
                self._answer(403, {"error": f"send the sandbox's AWS_SESSION_TOKEN in {TOKEN_HEADER}"})
                return
            path = self.path.split("?", 1)[0].rstrip("/")
            values = client.secrets()
            if path == "/secrets":
                self._answer(200, {"secrets": values})
            elif path.startswith("/secrets/") and path[len("/secrets/") :] in values:
                key = path[len("/secrets/") :]
                self._answer(200, {"key": key, "value": values[key]})
            else:
                self._answer(404, {"error": "no such secret or path"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            return  # never the paths (key names) or headers

    return Handler


def main(environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    api = ExtensionsApi(env["AWS_LAMBDA_RUNTIME_API"])
    api.register()
    try:
        client = client_from_environment(env)
        client.secrets()  # the first read: init fails here rather than at the first request
    except (KeyError, ValueError, StrongroomError) as exc:
        message = f"strongroom-secrets: {type(exc).__name__}: {exc}"
        print(message, file=sys.stderr, flush=True)
        api.init_error(message)
        return 1
    port = int(env.get("STRONGROOM_EXTENSION_PORT") or DEFAULT_PORT)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(client, env.get("AWS_SESSION_TOKEN", "")))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="strongroom-secrets", daemon=True).start()
    try:
        while api.next_event().get("eventType") != "SHUTDOWN":
            pass
    finally:
        server.shutdown()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
