"""Shared fixtures.

- `stack`: one embedded stack per test process (under pytest-xdist, one per xdist worker): moto
  in-process with the resources that template.yaml declares (provisioned by `strongroom_local`,
  from the template's own resource definitions), and the API on a real socket (port 0). In-process
  tests (integration) use the same moto world, so a second mock never resets the first. It starts
  WITHOUT the background workers (stream and queue pollers).
- `stack_workers`: the stack's background workers (the webhook pipeline's outbox-stream fan-out and
  webhook-queue dispatch, and the purge-stream worker) running for the test that requests it; a
  test that waits for an asynchronous effect (a delivery, a purge) requests it, usually for its
  whole module with `pytestmark = pytest.mark.usefixtures("stack_workers")`.
- `@pytest.mark.isolated` (on a module or a test): the test runs against a table of its own (same
  definition as the stack's, in the same moto world; TABLE_NAME points the functions at it), dropped
  afterwards. For bulk data (the 5,000-event audit export) and for the assertions that scan the
  whole table ("nowhere in the table"), so that those scans read only what the test wrote.
- `oidc_issuer`: a real OIDC issuer for the JWT tests: keys generated here (RSA 2048, EC P-256,
  Ed25519), their public JWKS served over HTTP on 127.0.0.1, and the environment pointed at it
  (AUTH_MODE=oidc, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_JWKS_URL).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import settings as hypothesis_settings

from strongroom_local import LocalStack
from strongroom_local.workers import WorkerContext, registered_workers
from support import Api, http_call

# Property tests check behaviour, not speed: Hypothesis's 200 ms per-example deadline fails them
# under coverage on a loaded 2-core machine (benchmarks under bench/ measure speed).
hypothesis_settings.register_profile("strongroom", deadline=None)
hypothesis_settings.load_profile("strongroom")

# --------------------------------------------------------------------------- embedded stack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    from strongroom import aws
    from strongroom_local import workers

    # While a test has swapped an AWS client for a stub, the background workers pause, so that no
    # background step uses (or consumes) the stub.
    override, reset = aws.override, aws.reset

    def paused_override(name: str, value: Any) -> None:
        workers.pause()
        override(name, value)

    def resumed_reset() -> None:
        reset()
        workers.resume()

    aws.override, aws.reset = paused_override, resumed_reset  # type: ignore[assignment]
    try:
        # No background worker polls through every test: `stack_workers` runs them for the tests
        # that wait on them.
        with LocalStack(port=0, workers=[]) as running:
            yield running
    finally:
        aws.override, aws.reset = override, reset  # type: ignore[assignment]


# --------------------------------------------------------------------------- background workers


@dataclass(frozen=True)
class _GatedContext(WorkerContext):
    """A worker context whose steps run only while `gate` is set (the worker threads live for the
    session, so a stream worker keeps its position in the stream while the gate is closed)."""

    gate: threading.Event = field(default_factory=threading.Event)

    def every(self, seconds: float, step: Callable[[], Any], *, name: str = "worker") -> None:
        def when_open() -> None:
            if self.gate.is_set():
                step()

        super().every(seconds, when_open, name=name)


def _stream_shard(stack: LocalStack) -> Any:
    """moto's stream shard of the stack's table (what `strongroom_local.pipelines` reads)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    assert stack.resources is not None
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(stack.resources.tables[0])
    return table.stream_shard


@dataclass
class StackWorkers:
    """The registered workers of `strongroom_local` (outbox-stream, purge-stream, webhook-queue,
    audit-sealer, rotation-schedule) on the session's stack, started the first time a test asks for
    them, running while a test that asked for them runs.

    Each opening starts from the stream's end: a stream record written before it (by tests that
    ran without the workers) is passed over, not handed to the fan-out or purge function, so that
    a test does not wait behind the backlog of the whole session; what the test itself (and its
    fixtures, set up after this one) writes is handled as the always-on worker handled it."""

    stack: LocalStack
    context: _GatedContext | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    first_sequence: int = 0  # stream records numbered below this were written before the opening

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        records = event.get("Records", [])
        fresh = [
            r
            for r in records
            if int(r.get("dynamodb", {}).get("SequenceNumber", self.first_sequence)) >= self.first_sequence
        ]
        if records and not fresh:
            return None
        return self.stack.invoke(function, {**event, "Records": fresh} if records else event)

    def open(self) -> None:
        from strongroom_local import atomic

        with atomic.LOCK:
            shard = _stream_shard(self.stack)
            if shard is not None:
                self.first_sequence = shard.starting_sequence_number + len(shard.items)
        if self.context is None:
            assert self.stack.resources is not None
            self.context = _GatedContext(stop=threading.Event(), resources=self.stack.resources, invoke=self._invoke)
            for worker in registered_workers():
                thread = threading.Thread(
                    target=worker.run, args=(self.context,), name=f"strongroom-worker-{worker.name}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
        self.context.gate.set()

    def close(self) -> None:
        if self.context is not None:
            self.context.gate.clear()
            from strongroom_local import workers

            with workers._STEP:  # a step in progress finishes first
                pass

    def stop(self) -> None:
        if self.context is not None:
            self.context.stop.set()
            for thread in self.threads:
                thread.join(timeout=5)


@pytest.fixture(scope="session")
def _stack_workers(stack: LocalStack) -> Iterator[StackWorkers]:
    running = StackWorkers(stack)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def stack_workers(_stack_workers: StackWorkers) -> Iterator[StackWorkers]:
    """The background workers run during this test (and only then)."""
    _stack_workers.open()
    try:
        yield _stack_workers
    finally:
        _stack_workers.close()


# --------------------------------------------------------------------------- isolated tests


def _new_table_like(name: str) -> str:
    """A fresh table with the definition of the table `name` (keys, index, stream)."""
    from strongroom import aws

    client = aws.dynamodb()
    described = client.describe_table(TableName=name)["Table"]
    fresh = f"{name}-isolated-{secrets.token_hex(4)}"
    kwargs: dict[str, Any] = {
        "TableName": fresh,
        "AttributeDefinitions": described["AttributeDefinitions"],
        "KeySchema": described["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if described.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in described["GlobalSecondaryIndexes"]
        ]
    if described.get("StreamSpecification"):
        kwargs["StreamSpecification"] = described["StreamSpecification"]
    client.create_table(**kwargs)
    return fresh


@contextmanager
def isolated_table(stack: LocalStack) -> Iterator[str]:
    """The functions use a table of their own meanwhile (TABLE_NAME), dropped afterwards."""
    from strongroom import aws

    assert stack.resources is not None
    shared = stack.resources.refs["Table"]
    before = os.environ.get("TABLE_NAME")
    fresh = _new_table_like(shared)
    os.environ["TABLE_NAME"] = fresh
    try:
        yield fresh
    finally:
        if before is None:
            os.environ.pop("TABLE_NAME", None)
        else:
            os.environ["TABLE_NAME"] = before
        aws.dynamodb().delete_table(TableName=fresh)


@pytest.fixture(scope="module", autouse=True)
def _isolated_module(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A module marked `isolated` (pytestmark) runs, module-scoped fixtures included, on its own table."""
    if request.node.get_closest_marker("isolated") is None:
        yield None
        return
    with isolated_table(request.getfixturevalue("stack")) as name:
        yield name


@pytest.fixture(autouse=True)
def _isolated_test(request: pytest.FixtureRequest, _isolated_module: str | None) -> Iterator[str | None]:
    """A test marked `isolated` (in a module that is not) runs on a table of its own."""
    if _isolated_module is not None or request.node.get_closest_marker("isolated") is None:
        yield _isolated_module
        return
    with isolated_table(request.getfixturevalue("stack")) as name:
        yield name


@pytest.fixture(scope="session")
def local_stack(stack: LocalStack) -> str:
    """Base URL of the local server."""
    return stack.url


@pytest.fixture(scope="session")
def api(local_stack: str) -> Api:
    """api(method, path, *, user=None, json=None, body=None, headers=None, timeout=30) -> (status, headers, body)."""

    def call(
        method: str,
        path: str,
        *,
        user: str | None = None,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], Any]:
        return http_call(
            local_stack, method, path, user=user, json_body=json, body=body, headers=headers, timeout=timeout
        )

    return call


# --------------------------------------------------------------------------- OIDC issuer

ISSUER = "https://idp.example.test/"
AUDIENCE = "strongroom-api"
KIDS = {"RS256": "rsa-1", "ES256": "ec-1", "EdDSA": "ed-1"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


@dataclass(frozen=True)
class SigningKeys:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    ed_key: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls(
            rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec_key=ec.generate_private_key(ec.SECP256R1()),
            ed_key=ed25519.Ed25519PrivateKey.generate(),
        )

    def private(self, alg: str) -> Any:
        return {"RS256": self.rsa_key, "RS384": self.rsa_key, "ES256": self.ec_key, "EdDSA": self.ed_key}[alg]

    def jwk(self, alg: str, *, kid: str | None = None, with_alg: bool = True) -> dict[str, Any]:
        """The public JWK (RFC 7517/7518/8037), written out from the key's numbers."""
        out: dict[str, Any]
        if alg == "RS256":
            numbers = self.rsa_key.public_key().public_numbers()
            out = {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
        elif alg == "ES256":
            point = self.ec_key.public_key().public_numbers()
            out = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(point.x.to_bytes(32, "big")),
                "y": b64url(point.y.to_bytes(32, "big")),
            }
        elif alg == "EdDSA":
            raw = self.ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            out = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        else:
            raise ValueError(alg)
        out.update({"kid": kid or KIDS[alg], "use": "sig"})
        if with_alg:
            out["alg"] = alg
        return out

    def jwks(self, *, with_alg: bool = True) -> dict[str, Any]:
        return {"keys": [self.jwk(alg, with_alg=with_alg) for alg in KIDS]}

    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Issuer:
    """A running issuer: what it publishes at `url` (changeable) and how often it was fetched."""

    issuer = ISSUER
    audience = AUDIENCE

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self._lock = threading.Lock()
        self._document = json.dumps(keys.jwks()).encode()
        self._content_type = "application/json"
        self.hits = 0
        self.url = ""
        self.base = ""  # where it serves: its discovery document names this as its issuer

    def publish(self, document: dict[str, Any] | bytes, content_type: str = "application/json") -> None:
        with self._lock:
            self._document = document if isinstance(document, bytes) else json.dumps(document).encode()
            self._content_type = content_type

    def _serve(self) -> tuple[bytes, str]:
        with self._lock:
            self.hits += 1
            return self._document, self._content_type

    @staticmethod
    def claims(**overrides: Any) -> dict[str, Any]:
        """Valid claims; an override of None removes the claim."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "subject-1",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "email": "oidc-user@example.com",
            "email_verified": True,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(
        self,
        payload: dict[str, Any],
        alg: str = "RS256",
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """`payload` signed by the issuer's key for `alg` (kid defaults to that key's; kid="" omits it)."""
        header = dict(headers or {})
        chosen = KIDS.get(alg, "rsa-1") if kid is None else kid
        if chosen:
            header["kid"] = chosen
        return jwt.encode(payload, self.keys.private(alg), algorithm=alg, headers=header)

    def mint(
        self, alg: str = "RS256", *, kid: str | None = None, headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """A token of valid claims (changed by `claims`; None removes one), signed for `alg`."""
        return self.sign(self.claims(**claims), alg, kid=kid, headers=headers)

    def workload(self, audience: str, alg: str = "RS256", **claims: Any) -> str:
        """A workload's JWT of this issuer (`iss` is `base`) for `audience`, with a fresh `jti`,
        valid for 5 minutes (changed by `claims`; None removes one)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.base,
            "aud": audience,
            "sub": "repo:acme/web:ref:refs/heads/main",
            "repository_owner": "acme",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
        }
        payload.update(claims)
        return self.sign({k: v for k, v in payload.items() if v is not None}, alg)

    @staticmethod
    def assemble(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
        """A token put together by hand (for what PyJWT refuses to produce)."""
        return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}.{b64url(signature)}"


@pytest.fixture(scope="session")
def signing_keys() -> SigningKeys:
    return SigningKeys.generate()


@contextmanager
def running_issuer(keys: SigningKeys) -> Iterator[Issuer]:
    """An issuer whose JWKS is served over HTTP on a loopback port."""
    issuer = Issuer(keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("/.well-known/openid-configuration"):  # OIDC discovery
                document, content_type = (
                    json.dumps({"issuer": issuer.base, "jwks_uri": issuer.url}).encode(),
                    "application/json",
                )
            else:
                document, content_type = issuer._serve()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="jwks", daemon=True)
    thread.start()
    issuer.base = f"http://127.0.0.1:{server.server_address[1]}"
    issuer.url = f"{issuer.base}/.well-known/jwks.json"
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def oidc_issuer(signing_keys: SigningKeys, monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuer]:
    """The configured issuer: its JWKS on a loopback port, and AUTH_MODE=oidc pointed at it."""
    from strongroom.security import auth

    with running_issuer(signing_keys) as issuer:
        monkeypatch.setenv("AUTH_MODE", "oidc")
        monkeypatch.setenv("OIDC_ISSUER", ISSUER)
        monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("OIDC_JWKS_URL", issuer.url)
        auth._jwks_client.cache_clear()
        try:
            yield issuer
        finally:
            auth._jwks_client.cache_clear()


@pytest.fixture
def other_issuer() -> Iterator[Issuer]:
    """Someone else's issuer (fresh keys, its own JWKS endpoint), configured nowhere."""
    with running_issuer(SigningKeys.generate()) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def workload_issuer() -> Iterator[Issuer]:
    """A CI platform's issuer for machine identities (its own keys): discovery and JWKS served on a
    loopback port, its issuer URL `workload_issuer.base` (http to loopback: the stack's dev mode);
    configured nowhere (an identity's rules name it)."""
    with running_issuer(SigningKeys.generate()) as issuer:
        yield issuer


@pytest.fixture(scope="session", autouse=True)
def _registrations_unthrottled() -> Iterator[None]:
    """Every test registers from 127.0.0.1: the per-IP limit (test_accounts.py checks it) is lifted."""
    before = os.environ.get("REGISTRATIONS_PER_IP_HOUR")
    os.environ["REGISTRATIONS_PER_IP_HOUR"] = "1000000"
    yield
    if before is None:
        os.environ.pop("REGISTRATIONS_PER_IP_HOUR", None)
    else:
        os.environ["REGISTRATIONS_PER_IP_HOUR"] = before
