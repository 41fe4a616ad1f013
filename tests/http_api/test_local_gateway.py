"""The local server behaves like API Gateway (HTTP API) + Lambda, over real sockets; and
`python -m strongroom_local` (what `make run` runs) starts, prints its quick-start, logs redacted
access lines and stops cleanly."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from strongroom_local import LocalStack, docs
from strongroom_local.template import http_api_properties, load_template, routes
from support import Api

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from conftest import LocalProcess, OidcStack

    RunLocal = Callable[..., AbstractContextManager[LocalProcess]]

pytestmark = pytest.mark.http
STARTUP_BUDGET_SECONDS = 60.0  # `make run` must answer /health within this after it starts


def connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def user() -> str:
    return f"http-{secrets.token_hex(4)}@example.com"


# --------------------------------------------------------------------------- API Gateway behaviour


def test_health_is_200_with_dynamodb_and_kms_ok(api: Api) -> None:
    status, headers, body = api("GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"] == {"dynamodb": "ok", "kms": "ok"}
    assert headers["x-request-id"] == headers["apigw-requestid"]


def test_unknown_route_is_404_in_the_envelope_with_the_request_id(api: Api) -> None:
    status, headers, body = api("GET", "/v1/no-such-thing")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert set(body) == {"error"}
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"]
    assert body["error"]["details"] == {}
    assert body["error"]["request_id"] == headers["x-request-id"]


def test_wrong_method_on_health_is_405_with_allow(api: Api) -> None:
    status, headers, body = api("DELETE", "/health")
    assert status == 405
    assert headers["allow"] == "GET"
    assert body["error"]["code"] == "method_not_allowed"
    assert body["error"]["details"] == {"allowed": ["GET"]}
    assert body["error"]["request_id"] == headers["x-request-id"]


def test_wrong_method_on_a_parameterised_route_lists_the_template_methods(api: Api) -> None:
    status, headers, body = api("PUT", "/v1/orgs/acme", user=user())
    assert status == 405
    declared = {r.method for r in routes(load_template()) if r.path == "/v1/orgs/{org}"}
    assert set(headers["allow"].split(", ")) == declared
    assert sorted(body["error"]["details"]["allowed"]) == sorted(declared)


def test_options_is_answered_with_the_template_cors_configuration(local_stack: str) -> None:
    cors = http_api_properties(load_template())["CorsConfiguration"]
    conn = connection(local_stack)
    conn.request(
        "OPTIONS",
        "/v1/orgs",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    response = conn.getresponse()
    assert response.status == 204
    assert response.read() == b""
    assert response.getheader("Access-Control-Allow-Origin") == ("*" if "*" in cors["AllowOrigins"] else None)
    assert response.getheader("Access-Control-Allow-Methods", "").split(",") == cors["AllowMethods"]
    assert response.getheader("Access-Control-Allow-Headers", "").split(",") == cors["AllowHeaders"]
    # The same connection stays usable (HTTP/1.1 keep-alive), and a cross-origin response gets CORS headers.
    conn.request("GET", "/health", headers={"Origin": "https://app.example"})
    actual = conn.getresponse()
    actual.read()
    assert actual.status == 200
    assert actual.getheader("Access-Control-Allow-Origin") is not None
    assert actual.getheader("Access-Control-Expose-Headers", "").split(",") == cors["ExposeHeaders"]
    conn.close()


def test_a_body_over_6_mb_is_413_in_the_envelope(api: Api) -> None:
    status, headers, body = api("POST", "/v1/orgs", user=user(), body=b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["request_id"] == headers["x-request-id"]
    assert api("GET", "/health")[0] == 200  # and the server carries on


def test_an_oversized_body_announced_with_expect_100_continue_is_refused_before_it_is_sent(local_stack: str) -> None:
    parts = urlsplit(local_stack)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/orgs HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
            b"Content-Length: 7340032\r\nExpect: 100-continue\r\n\r\n"
        )
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413 ")
    assert "100 Continue" not in head


def test_a_chunked_body_reaches_the_handler(local_stack: str) -> None:
    name = f"Chunked {secrets.token_hex(3)}"
    conn = connection(local_stack)
    payload = json.dumps({"name": name}).encode()
    conn.request(
        "POST",
        "/v1/orgs",
        body=iter([payload[:5], payload[5:]]),
        headers={"Content-Type": "application/json", "X-Strongroom-Dev-User": user()},
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 201
    assert body["name"] == name


def test_a_body_that_is_not_utf8_reaches_the_handler_base64_encoded(api: Api) -> None:
    # Sent as text it would be invalid JSON; sent base64-encoded the layer decodes it and says why.
    status, _, body = api("POST", "/v1/orgs", user=user(), body=b'{"name": "\xff\xfe"}')
    assert status == 400
    assert body["error"]["code"] == "invalid_body"
    assert "UTF-8" in body["error"]["message"]


def test_the_handler_receives_a_v2_event_built_from_the_real_request(
    stack: LocalStack, local_stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.gateway is not None
    seen: list[tuple[dict[str, Any], Any]] = []
    real = stack.gateway.handler

    def spy(function: Any) -> Any:
        invoke = real(function)

        def wrapped(event: dict[str, Any], context: Any) -> Any:
            if "routeKey" in event:  # not the webhook pipeline's workers' invocations
                seen.append((json.loads(json.dumps(event)), context))
            return invoke(event, context)

        return wrapped

    monkeypatch.setattr(stack.gateway, "handler", spy)
    conn = connection(local_stack)
    conn.putrequest("GET", "/v1/orgs/acme-corp/members?limit=5&tag=a&tag=b")
    for name, value in [
        ("X-Strongroom-Dev-User", user()),
        ("X-Trace", "one"),
        ("x-trace", "two"),
        ("Cookie", "a=1; b=2"),
        ("User-Agent", "probe/1.0"),
    ]:
        conn.putheader(name, value)
    conn.endheaders()
    conn.getresponse().read()
    conn.close()

    assert len(seen) == 1
    event, context = seen[0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /v1/orgs/{org}/members"
    assert event["rawPath"] == "/v1/orgs/acme-corp/members"
    assert event["rawQueryString"] == "limit=5&tag=a&tag=b"
    assert event["queryStringParameters"] == {"limit": "5", "tag": "a,b"}
    assert event["pathParameters"] == {"org": "acme-corp"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-trace"] == "one,two"
    assert all(k == k.lower() for k in event["headers"])
    http_ctx = event["requestContext"]["http"]
    assert http_ctx == {
        "method": "GET",
        "path": "/v1/orgs/acme-corp/members",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "probe/1.0",
    }
    assert event["requestContext"]["stage"] == "$default"
    assert abs(event["requestContext"]["timeEpoch"] / 1000 - time.time()) < 60
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert context.function_name == "strongroom-local-OrgsFunction"
    assert 0 < context.get_remaining_time_in_millis() <= 30_000


def test_concurrent_creates_of_one_slug_one_wins(api: Api) -> None:
    name = f"Race {secrets.token_hex(4)}"
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(
                lambda i: api("POST", "/v1/orgs", user=f"race{i}-{name[5:]}@example.com", json={"name": name}),
                range(20),
            )
        )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] + [409] * 19
    assert {body["error"]["code"] for status, _, body in results if status == 409} == {"slug_taken"}


def test_concurrent_requests_to_two_functions_each_see_their_own_body(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools keeps the current event in class attributes shared by every resolver of the
    process; without the gateway's RESOLVER_LOCK, an invitation was once validated against a
    concurrent project's body (a 400 naming `name`, `slug`, `description`). A pause before
    validation makes the window wide enough to hit every time."""
    from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
        OpenAPIRequestValidationMiddleware as Validation,
    )

    owner = user()
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Bodies {secrets.token_hex(3)}"})
    assert status == 201
    validate = Validation.handler

    def paused(self: Any, app: Any, next_middleware: Any) -> Any:
        time.sleep(0.02)
        return validate(self, app, next_middleware)

    monkeypatch.setattr(Validation, "handler", paused)

    def invite(i: int) -> int:
        body = {"email": f"invitee{i}-{secrets.token_hex(3)}@example.com", "role": "developer"}
        return api("POST", f"/v1/orgs/{org['id']}/invitations", user=owner, json=body)[0]

    def project(i: int) -> int:
        body = {"name": f"P {i}", "slug": f"p-{i}-{secrets.token_hex(3)}", "description": "x"}
        return api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json=body)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        invites = [pool.submit(invite, i) for i in range(8)]
        projects = [pool.submit(project, i) for i in range(8)]
        statuses = [f.result() for f in invites + projects]
    assert statuses == [201] * 16


# --------------------------------------------------------------------------- local pages


def test_openapi_json_is_the_committed_document(api: Api) -> None:
    if not docs.OPENAPI.is_file():
        pytest.skip("docs/openapi.json is not generated yet")
    status, headers, body = api("GET", "/openapi.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == json.loads(docs.OPENAPI.read_text(encoding="utf-8"))


def test_openapi_json_missing_is_a_404_envelope(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(docs, "OPENAPI", tmp_path / "absent.json")
    status, headers, body = api("GET", "/openapi.json")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert "make openapi" in body["error"]["message"]
    assert body["error"]["request_id"] == headers["x-request-id"]


def test_swagger_ui_reads_openapi_json_and_its_assets_are_served(api: Api) -> None:
    status, headers, page = api("GET", "/docs")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert 'url: "/openapi.json"' in page
    for asset, kind in [
        ("/docs/swagger-ui-bundle.min.js", "text/javascript"),
        ("/docs/swagger-ui.min.css", "text/css"),
    ]:
        assert f'"{asset}"' in page
        status, headers, content = api("GET", asset)
        assert status == 200
        assert headers["content-type"].startswith(kind)
        assert len(content) > 10_000


# --------------------------------------------------------------------------- python -m strongroom_local


def test_make_run_serves_health_quickly_prints_a_quick_start_and_stops_on_sigterm(run_local: RunLocal) -> None:
    with run_local() as proc:
        assert proc.wait_healthy() == 200, proc.output()
        startup = time.monotonic() - proc.started
        print(f"python -m strongroom_local: /health answered 200 {startup:.1f}s after the process started")
        assert startup < STARTUP_BUDGET_SECONDS

        out = proc.output()
        assert f"serving on {proc.url}" in out
        assert "X-Strongroom-Dev-User: you@example.com" in out
        assert f"Console: {proc.url}/ " in out
        curls = [line.strip() for line in out.splitlines() if line.strip().startswith("curl ")]
        assert len(curls) == 3
        assert curls[0].endswith(f"{proc.url}/health")
        assert "POST" in curls[1]
        assert f"{proc.url}/v1/orgs" in curls[1]
        assert curls[2].startswith(f"curl -s {proc.url}/v1/orgs")

        if shutil.which("curl"):  # the quick-start's commands work as printed
            outputs = [
                subprocess.run(shlex.split(c), capture_output=True, text=True, check=True, timeout=30).stdout
                for c in curls
            ]
            assert json.loads(outputs[0])["status"] == "ok"
            created = json.loads(outputs[1])
            assert created["name"] == "Acme"
            assert [o["id"] for o in json.loads(outputs[2])["data"]] == [created["id"]]

        assert proc.stop(signal.SIGTERM) == 0
        out = proc.output()
        assert "Traceback" not in out
        assert "stopping" in out


def test_access_lines_never_carry_tokens_headers_or_bodies(run_local: RunLocal) -> None:
    token, who, marker = f"sr_inv_{secrets.token_hex(12)}", user(), f"marker-{secrets.token_hex(6)}"
    with run_local() as proc:
        conn = connection(proc.url)
        conn.request(
            "POST",
            f"/v1/invitations/{token}/accept",
            body=json.dumps({"note": marker}),
            headers={"X-Strongroom-Dev-User": who, "Content-Type": "application/json"},
        )
        status = conn.getresponse().status
        conn.close()
        line = proc.wait_for(r"^POST /v1/invitations/")
        assert line is not None, proc.output()
        assert proc.stop(signal.SIGINT) == 0  # Ctrl-C
    out = proc.output()
    assert re.search(rf"^POST /v1/invitations/\*\*\*/accept {status} \d+ms$", out, re.MULTILINE), out
    for secret in (token, who, marker):
        assert secret not in out
    assert "Traceback" not in out


def test_a_port_in_use_is_a_clear_error_not_a_traceback(run_local: RunLocal) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with run_local("--port", str(port), wait=False) as proc:
            code = proc.process.wait(timeout=STARTUP_BUDGET_SECONDS)
    assert code == 1
    assert f"port {port} is in use" in proc.output()
    assert "Traceback" not in proc.output()


# --------------------------------------------------------------------------- AUTH_MODE=oidc


def test_oidc_mode_refuses_the_dev_header_and_accepts_the_issuers_tokens(oidc_stack: OidcStack) -> None:
    conn = connection(oidc_stack.url)
    conn.request("GET", "/v1/me", headers={"X-Strongroom-Dev-User": "dev@example.com"})
    refused = conn.getresponse()
    refused_body = json.loads(refused.read())
    assert refused.status == 401
    assert refused_body["error"]["code"] == "unauthorized"

    conn.request("GET", "/v1/me", headers={"Authorization": f"Bearer {oidc_stack.token()}"})
    accepted = conn.getresponse()
    me = json.loads(accepted.read())
    assert accepted.status == 200, me
    assert me["email"] == "oidc-local@example.com"

    conn.request("GET", "/v1/me", headers={"Authorization": f"Bearer {oidc_stack.token(aud='someone-else')}"})
    wrong_audience = conn.getresponse()
    wrong_audience.read()
    assert wrong_audience.status == 401
    conn.close()
