"""The secrets extension (sdk/extensions/strongroom-secrets) run as Lambda runs an external
extension: its launcher started with a function's environment (the role's credentials, the
Extensions API's address), against an emulation of the Extensions API here; it signs in as the
function's role (an aws_iam machine identity, moto's STS), serves `GET /secrets` on localhost,
shows a change after its refresh interval, and exits on SHUTDOWN."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from support import Api, unique_email

pytestmark = pytest.mark.http
ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "sdk" / "extensions" / "strongroom-secrets"


class ExtensionsApi:
    """Lambda's Extensions API as the extension sees it: register, then event/next (blocking until
    `shutdown()`), and init/error."""

    def __init__(self) -> None:
        self.registered: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._shutdown = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
                if self.path.endswith("/register"):
                    api.registered.append({"name": self.headers.get("Lambda-Extension-Name"), **body})
                else:
                    api.errors.append(body)
                self._answer({"functionName": "fn"})

            def do_GET(self) -> None:
                api._shutdown.wait(60)
                self._answer({"eventType": "SHUTDOWN", "shutdownReason": "spindown"})

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Lambda-Extension-Identifier", "ext-1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def shutdown(self) -> None:
        self._shutdown.set()

    def close(self) -> None:
        self._shutdown.set()
        self.server.shutdown()


@pytest.fixture
def extensions_api() -> Iterator[ExtensionsApi]:
    api = ExtensionsApi()
    yield api
    api.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _role_session(name: str) -> dict[str, Any]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    boto3.client("iam", region_name="us-east-1").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return dict(
        boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::123456789012:role/{name}", RoleSessionName="fn"
        )["Credentials"]
    )


def _get(port: int, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-Strongroom-Extension-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_extension_serves_the_functions_secrets_as_its_role(
    api: Api, local_stack: str, extensions_api: ExtensionsApi
) -> None:
    owner, slug = unique_email("ext"), f"ext-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Ext", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    staging = f"/v1/orgs/{slug}/projects/web/environments/staging"
    assert api("PUT", f"{staging}/secrets/DB_URL", user=owner, json={"value": "postgres://one"})[0] == 200
    role = f"fn-role-{pysecrets.token_hex(3)}"
    rules = {"account": "123456789012", "role_arn": f"arn:aws:iam::123456789012:role/{role}"}
    body = {"name": "fn", "type": "aws_iam", "project": "web", "environment": "staging", "rules": rules}
    status, _, identity = api("POST", f"/v1/orgs/{slug}/identities", user=owner, json=body)
    assert status == 201, identity
    credentials, port = _role_session(role), _free_port()
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # python3: this one
        "AWS_LAMBDA_RUNTIME_API": extensions_api.address,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_IDENTITY": identity["id"],
        "STRONGROOM_REFRESH_SECONDS": "0.3",
        "STRONGROOM_EXTENSION_PORT": str(port),
    }
    process = subprocess.Popen([str(LAUNCHER)], env=environ, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        answer: tuple[int, Any] = (0, None)
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = _get(port, "/secrets", credentials["SessionToken"])
                break
            except OSError:
                time.sleep(0.1)
        assert answer == (200, {"secrets": {"DB_URL": "postgres://one"}}), process.stderr and process.poll()
        assert extensions_api.registered == [{"name": "strongroom-secrets", "events": ["INVOKE", "SHUTDOWN"]}]
        assert _get(port, "/secrets/DB_URL", credentials["SessionToken"]) == (
            200,
            {"key": "DB_URL", "value": "postgres://one"},
        )
        # another process of the sandbox without the session token reads nothing
        assert _get(port, "/secrets", "")[0] == 403
        # a change on the server shows after the refresh interval
        assert api("PUT", f"{staging}/secrets/DB_URL", user=owner, json={"value": "postgres://two"})[0] == 200
        deadline = time.monotonic() + 10
        while _get(port, "/secrets/DB_URL", credentials["SessionToken"])[1]["value"] != "postgres://two":
            assert time.monotonic() < deadline, "the change never showed"
            time.sleep(0.1)
        # and SHUTDOWN ends it
        extensions_api.shutdown()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
