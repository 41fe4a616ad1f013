"""A real JWKS endpoint on loopback and token minting with keys generated per test session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://idp.example.test/"
AUDIENCE = "strongroom-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class KeySet:
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ed_key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, alg, key in (
            ("rsa-1", "RS256", self.rsa_key),
            ("ec-1", "ES256", self.ec_key),
            ("ed-1", "EdDSA", self.ed_key),
        ):
            algo = jwt.algorithms.get_default_algorithms()[alg]
            jwk = json.loads(algo.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": alg, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def private(self, alg: str) -> Any:
        return {"RS256": self.rsa_key, "ES256": self.ec_key, "EdDSA": self.ed_key}[alg]

    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def claims(**overrides: Any) -> dict[str, Any]:
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


def mint(keys: KeySet, alg: str = "RS256", kid: str | None = None, **claim_overrides: Any) -> str:
    default_kid = {"RS256": "rsa-1", "ES256": "ec-1", "EdDSA": "ed-1"}[alg]
    headers = {"kid": kid if kid is not None else default_kid}
    return jwt.encode(claims(**claim_overrides), keys.private(alg), algorithm=alg, headers=headers)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (for algorithms PyJWT refuses to produce)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    return f"{head}.{body}.{_b64(signature)}"


def hs256_with_public_key(keys: KeySet) -> str:
    """The algorithm-confusion attack: HS256 keyed with the RSA public key's PEM."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims()).encode())
    mac = hmac.new(keys.rsa_public_pem(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


@contextmanager
def jwks_server(keys: KeySet) -> Iterator[str]:
    document = json.dumps(keys.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
