"""Fixtures for the local server's HTTP tests (real sockets).

From tests/conftest.py (one embedded stack per test process; moto and os.environ are shared):
- `stack`: the running `strongroom_local.LocalStack` (in-process, port 0);
- `local_stack`: its base URL (session-scoped);
- `api(method, path, *, user=None, json=None, body=None, headers=None) -> (status, headers, body)`:
  one request over a real socket; headers lower-cased; body parsed JSON, text, or None.

Here:
- `run_local(*args)`: `python -m strongroom_local --port 0 …` (what `make run` runs) as a child
  process, `--ephemeral` unless the args name `--data-dir`; a context manager yielding a
  `LocalProcess` (url, started, output(), wait_for(), wait_healthy(), stop(signal) -> exit code);
- `server_log`: what the in-process server logs meanwhile, at DEBUG (its Powertools handler's
  stream swapped for a buffer: `server_log.getvalue()`), for the scans that nothing leaks into logs;
- `oidc_stack`: a stack in AUTH_MODE=oidc, in its own process, trusting an issuer whose JWKS is
  served here; `oidc_stack.token(**claims)` mints a valid JWT (claims=None removes one);
- `oidc_peer`: a real OpenID Provider (panva's oidc-provider, Node) whose client signs in to this
  process's stack by single sign-on (session-scoped: one process per test process).

The folder is `http_api`, not `http`: it is a package and `tests/` is on sys.path, so a package
named `http` would shadow the stdlib's.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from support import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OidcPeer

ROOT = Path(__file__).resolve().parents[2]
STARTUP_BUDGET_SECONDS = 60.0  # `make run` must answer /health within this
_SERVING = re.compile(r"serving on (http://\S+)")


# --------------------------------------------------------------------------- a child process


@dataclass
class LocalProcess:
    """`python -m strongroom_local` running as a child process, its output collected."""

    process: subprocess.Popen[str]
    started: float  # time.monotonic() just before the process was spawned
    url: str = ""
    _lines: list[str] = field(default_factory=list)
    _eof: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str] | None:
        """The first output line matching `pattern`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self._lines:
                    found = regex.search(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._changed.wait(min(left, 0.2))

    def wait_healthy(self, timeout: float = STARTUP_BUDGET_SECONDS) -> int:
        """Poll GET /health until it answers 200; that status, or the last one seen."""
        return wait_until_healthy(self.url, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise


def child_environment(**extra: str) -> dict[str, str]:
    """This environment minus what the in-process stack set, plus what `make run` sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "POWERTOOLS_"))}
    env.update({"PYTHONPATH": "local:layers/strongroom", "PYTHONUNBUFFERED": "1", **extra})
    return env


@contextmanager
def local_process(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> Iterator[LocalProcess]:
    """Start the local stack as `make run` does, on a free port; yield once it prints its URL."""
    started = time.monotonic()
    # In memory unless the test names a data directory: never the checkout's .strongroom/.
    keep = () if {"--data-dir", "--ephemeral"} & set(args) else ("--ephemeral",)
    process = subprocess.Popen(
        [sys.executable, "-m", "strongroom_local", "--port", "0", *keep, *args],
        cwd=ROOT,
        env=env or child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = LocalProcess(process=process, started=started)
    reader = threading.Thread(target=running._collect, name="local-output", daemon=True)
    reader.start()
    try:
        if wait:
            found = running.wait_for(_SERVING.pattern, timeout=STARTUP_BUDGET_SECONDS)
            assert found is not None, f"no URL within {STARTUP_BUDGET_SECONDS}s:\n{running.output()}"
            running.url = found.group(1)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)


def wait_until_healthy(url: str, timeout: float = STARTUP_BUDGET_SECONDS) -> int:
    """Poll GET /health until it answers 200; its status (or the last one seen)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            conn.request("GET", "/health")
            status = conn.getresponse().status
            if status == 200:
                return status
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    return status


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """Every line the server (running in this process) logs during the test, at DEBUG."""
    from strongroom.observability import logger

    buffer, handler, level = io.StringIO(), logger.registered_handler, logger.log_level
    assert isinstance(handler, logging.StreamHandler)
    stream = handler.setStream(buffer)
    logger.setLevel("DEBUG")
    library = logging.getLogger("aws_lambda_powertools")
    library_level, library_handler = library.level, logging.StreamHandler(buffer)
    library.addHandler(library_handler)
    library.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.setStream(stream)
        logger.setLevel(level)
        library.removeHandler(library_handler)
        library.setLevel(library_level)


@pytest.fixture(scope="session")
def run_local() -> Callable[..., AbstractContextManager[LocalProcess]]:
    """run_local(*cli_args, env=None, wait=True): a context manager running `python -m strongroom_local
    --port 0 *cli_args` and yielding its LocalProcess once it printed its URL (unless wait=False)."""
    return local_process


# --------------------------------------------------------------------------- OIDC


@dataclass
class OidcStack:
    url: str
    issuer: str
    audience: str
    key: rsa.RSAPrivateKey
    kid: str
    process: LocalProcess

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "local-oidc-subject",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "email": "oidc-local@example.com",
            "email_verified": True,
            **overrides,
        }
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, **overrides: Any) -> str:
        return jwt.encode(self.claims(**overrides), self.key, algorithm="RS256", headers={"kid": self.kid})


@contextmanager
def serve_jwks(document: dict[str, Any]) -> Iterator[str]:
    """`document` served as JSON on a loopback port; yields its URL."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="jwks", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def oidc_stack() -> Iterator[OidcStack]:
    """The local stack with AUTH_MODE=oidc (its own process), trusting a test issuer."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "local-test-rsa"
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256", "use": "sig"}
    issuer, audience = "https://issuer.local.test/", "strongroom-local-test"
    with serve_jwks({"keys": [jwk]}) as jwks_url:
        params = {"OidcIssuer": issuer, "OidcAudience": audience, "OidcJwksUrl": jwks_url}
        args = ["--auth-mode", "oidc", "--quiet"]
        for name, value in params.items():
            args += ["--parameter", f"{name}={value}"]
        with local_process(*args) as process:
            assert process.wait_healthy() == 200, process.output()
            yield OidcStack(process.url, issuer, audience, key, kid, process)
            assert process.stop() == 0, process.output()


# --------------------------------------------------------------------------- the real OpenID Provider

OIDC_PEER_DIR = ROOT / "tests" / "peers" / "oidc"


@pytest.fixture(scope="session")
def oidc_peer(local_stack: str) -> Iterator[OidcPeer]:
    """panva's oidc-provider (tests/peers/oidc, installed by `npm ci`: `make peers`) on a free
    loopback port, for this test process: one confidential client (support.OIDC_CLIENT_ID,
    client_secret_basic, PKCE required) redirecting to this stack's callback, and its development
    login and consent pages (support.sign_in_at_issuer fills them in)."""
    import shutil

    node = shutil.which("node")
    if node is None or not (OIDC_PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the OIDC peer is not installed: run `make peers` (npm ci in tests/peers/oidc)")
    process = subprocess.Popen(
        [
            node,
            str(OIDC_PEER_DIR / "provider.mjs"),
            "--client-id",
            OIDC_CLIENT_ID,
            "--client-secret",
            OIDC_CLIENT_SECRET,
            "--redirect-uri",
            f"{local_stack}/v1/sso/oidc/callback",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.match(r"listening (http://\S+)", line)
    if found is None:
        process.kill()
        pytest.fail(f"the OIDC peer did not start: {line!r}")
    try:
        yield OidcPeer(issuer=found.group(1))
    finally:
        process.terminate()
        process.wait(timeout=10)
