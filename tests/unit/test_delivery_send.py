"""The dispatcher's send checks the destination again at send time (outside dev mode nothing but
public addresses; in dev mode loopback too), and never follows a redirect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from strongroom.domain import delivery


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-cursor-signing-key")
    monkeypatch.delenv("OIDC_ISSUER", raising=False)
    monkeypatch.delenv("OIDC_AUDIENCE", raising=False)
    return monkeypatch


@pytest.fixture
def redirecting() -> Iterator[str]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(302)
            self.send_header("location", "http://169.254.169.254/latest/meta-data")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/x"],
)
def test_outside_dev_mode_private_and_loopback_are_refused_at_send(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("AUTH_MODE", "oidc")
    status, error, latency = delivery.send(url, "{}", {})
    assert (status, latency) == (None, 0)
    assert error is not None
    assert error.startswith("refused: ")


@pytest.mark.parametrize("url", ["https://10.0.0.1/hook", "https://0x7f000001/hook", "https://[::ffff:127.0.0.1]/x"])
def test_in_dev_mode_only_plain_loopback_is_allowed(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("AUTH_MODE", "dev")
    status, error, _ = delivery.send(url, "{}", {})
    assert status is None
    assert error is not None
    assert error.startswith("refused: ")


def test_a_redirect_is_a_failed_attempt_never_followed(env: pytest.MonkeyPatch, redirecting: str) -> None:
    env.setenv("AUTH_MODE", "dev")
    status, error, _ = delivery.send(redirecting, "{}", {"content-type": "application/json"})
    assert (status, error) == (302, None)  # recorded as a 3xx: not 2xx, so it is retried, not followed
