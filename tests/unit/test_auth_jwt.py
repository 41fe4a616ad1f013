"""OIDC JWT acceptance with real keys and a real JWKS endpoint (the `oidc_issuer` fixture):
what must be refused is refused, as a 401 that never says which check failed, before anything
reaches the data store; what must be accepted is.

Also the header handling of `authenticate`: the dev header outside AUTH_MODE=dev, malformed
dev emails, unknown `sr_` token kinds, missing or non-Bearer credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from jwt import jwk_set_cache

from strongroom import aws
from strongroom.errors import Unauthorized, Unavailable
from strongroom.security import auth

if TYPE_CHECKING:
    from conftest import Issuer


class _NoDataStore:
    """A tripwire in place of the DynamoDB client: refusals must happen before any lookup."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"authentication reached DynamoDB ({name}) for a credential it should refuse")


@pytest.fixture(autouse=True)
def issuer(oidc_issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuer]:
    monkeypatch.setenv("TABLE_NAME", "unit-table-not-used")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key-not-used")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    aws.override("dynamodb", _NoDataStore())
    try:
        yield oidc_issuer
    finally:
        aws.reset()


def _now() -> int:
    return int(time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_valid_token_of_each_allowed_algorithm_verifies_and_returns_its_claims(issuer: Issuer, alg: str) -> None:
    claims = issuer.claims(sub=f"sub-{alg}", email=f"{alg.lower()}@example.com")
    assert auth.verify_jwt(issuer.sign(claims, alg)) == claims


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_keys_published_without_an_alg_member_still_verify(issuer: Issuer, alg: str) -> None:
    # "alg" is optional in a JWK; several identity providers omit it.
    issuer.publish(issuer.keys.jwks(with_alg=False))
    claims = issuer.claims(sub=f"no-alg-{alg}")
    assert auth.verify_jwt(issuer.sign(claims, alg)) == claims


def test_an_audience_list_that_includes_ours_is_accepted(issuer: Issuer) -> None:
    claims = issuer.claims(aud=["another-api", issuer.audience])
    assert auth.verify_jwt(issuer.sign(claims))["aud"] == ["another-api", issuer.audience]


# --------------------------------------------------------------------------- refused


def _hs256_keyed_with_the_rsa_public_key(issuer: Issuer) -> str:
    """The algorithm-confusion attack, crafted by hand (PyJWT refuses to sign it): HS256 whose
    HMAC key is the PEM of the issuer's RSA public key, under the RSA key's kid. A verifier that
    lets the token choose the algorithm would check this MAC with the 'key' it looked up."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(issuer.claims()).encode())}"
    mac = hmac.new(issuer.keys.rsa_public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _tampered_payload(issuer: Issuer) -> str:
    head, _body, signature = issuer.mint(sub="someone").split(".")
    forged = _b64(json.dumps(issuer.claims(sub="admin")).encode())
    return f"{head}.{forged}.{signature}"


def _flipped_signature_bit(issuer: Issuer) -> str:
    head, body, signature = issuer.mint().split(".")
    raw = bytearray(jwt.utils.base64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{_b64(bytes(raw))}"


def _stranger_key_under_a_known_kid(issuer: Issuer) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(issuer.claims(), stranger, algorithm="RS256", headers={"kid": "rsa-1"})


def _embedded_jwk(issuer: Issuer) -> str:
    """A token that brings its own verification key in the header (CVE-2018-0114 style)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    return jwt.encode(issuer.claims(), attacker, algorithm="ES256", headers={"kid": "attacker-1", "jwk": jwk})


REFUSED: dict[str, Callable[[Issuer], str]] = {
    "expired": lambda i: i.mint(exp=_now() - 120, iat=_now() - 600, nbf=_now() - 600),
    "wrong iss": lambda i: i.mint(iss="https://evil.example.test/"),
    "iss differing only by the trailing slash": lambda i: i.mint(iss=i.issuer.rstrip("/")),
    "wrong aud": lambda i: i.mint(aud="someone-else"),
    "aud list without ours": lambda i: i.mint(aud=["someone-else", "another"]),
    "alg none": lambda i: i.assemble({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, i.claims()),
    "alg NONE": lambda i: i.assemble({"alg": "NONE", "typ": "JWT", "kid": "rsa-1"}, i.claims()),
    "alg none without kid": lambda i: i.assemble({"alg": "none", "typ": "JWT"}, i.claims()),
    "HS256 keyed with the RSA public key PEM": _hs256_keyed_with_the_rsa_public_key,
    "RS384 (not on the allow-list) with the RSA key": lambda i: i.mint("RS384", kid="rsa-1"),
    "ES256 under the RSA key's kid": lambda i: i.sign(i.claims(), "ES256", kid="rsa-1"),
    "EdDSA under the EC key's kid": lambda i: i.sign(i.claims(), "EdDSA", kid="ec-1"),
    "unknown kid": lambda i: i.mint(kid="not-a-key-of-the-issuer"),
    "missing kid": lambda i: i.mint(kid=""),
    "signed by a stranger key under a known kid": _stranger_key_under_a_known_kid,
    "embedded jwk header": _embedded_jwk,
    "tampered payload": _tampered_payload,
    "flipped signature bit": _flipped_signature_bit,
    "signature stripped": lambda i: i.mint().rsplit(".", 1)[0] + ".",
    "nbf in the future": lambda i: i.mint(nbf=_now() + 3600),
    "missing exp": lambda i: i.mint(exp=None),
    "missing sub": lambda i: i.mint(sub=None),
    "missing iss": lambda i: i.mint(iss=None),
    "missing aud": lambda i: i.mint(aud=None),
    "not a JWT": lambda _i: "not.a.jwt",
    "two segments": lambda _i: "eyJhbGciOiJSUzI1NiJ9.e30",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_verify_jwt_refuses(issuer: Issuer, case: str) -> None:
    token = REFUSED[case](issuer)
    with pytest.raises(Unauthorized) as err:
        auth.verify_jwt(token)
    assert err.value.status == 401
    assert err.value.message == "invalid token"  # never says which check failed
    assert err.value.details == {}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_authenticate_refuses_before_any_lookup(issuer: Issuer, case: str) -> None:
    token = REFUSED[case](issuer)
    with pytest.raises(Unauthorized) as err:
        auth.authenticate({"authorization": f"Bearer {token}"}, "198.51.100.7")
    assert err.value.status == 401
    assert token not in err.value.message


@pytest.mark.parametrize("with_alg", [True, False], ids=["jwks-with-alg", "jwks-without-alg"])
def test_algorithm_confusion_is_refused_whatever_the_jwks_says(issuer: Issuer, with_alg: bool) -> None:
    issuer.publish(issuer.keys.jwks(with_alg=with_alg))
    for token in (_hs256_keyed_with_the_rsa_public_key(issuer), issuer.sign(issuer.claims(), "ES256", kid="rsa-1")):
        with pytest.raises(Unauthorized):
            auth.verify_jwt(token)


def test_a_jku_header_pointing_at_another_jwks_is_ignored(issuer: Issuer, other_issuer: Issuer) -> None:
    # The attacker runs a JWKS of their own and names it in the token; only OIDC_JWKS_URL counts.
    attacker = other_issuer
    token = attacker.mint(kid="attacker-1", headers={"jku": attacker.url})
    with pytest.raises(Unauthorized):
        auth.verify_jwt(token)
    assert attacker.hits == 0


def test_expiry_is_checked_with_at_most_a_small_clock_skew(issuer: Issuer) -> None:
    with pytest.raises(Unauthorized):
        auth.verify_jwt(issuer.mint(exp=_now() - 90, iat=_now() - 600, nbf=_now() - 600))


# --------------------------------------------------------------------------- the issuer's keys


def test_unknown_kids_do_not_make_every_request_refetch_the_jwks(issuer: Issuer) -> None:
    auth.verify_jwt(issuer.mint())
    fetched = issuer.hits
    assert fetched == 1
    for n in range(20):
        with pytest.raises(Unauthorized):
            auth.verify_jwt(issuer.mint(kid=f"random-{n}"))
    assert issuer.hits - fetched <= 1


def test_a_key_the_issuer_rotates_in_is_accepted(issuer: Issuer, other_issuer: Issuer) -> None:
    auth.verify_jwt(issuer.mint())  # the JWKS is now cached, without the new key
    rotated_in = other_issuer.keys.jwk("RS256", kid="rsa-2")
    issuer.publish({"keys": [*issuer.keys.jwks()["keys"], rotated_in]})
    claims = issuer.claims(sub="after-rotation")
    assert auth.verify_jwt(other_issuer.sign(claims, "RS256", kid="rsa-2")) == claims


def test_the_jwks_is_cached_across_requests(issuer: Issuer) -> None:
    for alg in ("RS256", "ES256", "EdDSA", "RS256"):
        auth.verify_jwt(issuer.mint(alg))
    assert issuer.hits == 1


def test_a_key_withdrawn_from_the_jwks_is_refused_once_the_jwks_cache_expires(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth.verify_jwt(issuer.mint("RS256"))["sub"] == "subject-1"
    issuer.publish({"keys": [issuer.keys.jwk("ES256"), issuer.keys.jwk("EdDSA")]})  # rsa-1 withdrawn
    real_monotonic = time.monotonic
    # The JWK-set cache's lifespan (300 s) passes.
    monkeypatch.setattr(jwk_set_cache, "time", SimpleNamespace(monotonic=lambda: real_monotonic() + 3600))
    with pytest.raises(Unauthorized):
        auth.verify_jwt(issuer.mint("RS256"))
    assert auth.verify_jwt(issuer.mint("ES256"))["sub"] == "subject-1"


def test_an_unreachable_jwks_is_503_not_401(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("OIDC_JWKS_URL", f"http://127.0.0.1:{closed_port}/.well-known/jwks.json")
    with pytest.raises(Unavailable) as err:
        auth.verify_jwt(issuer.mint())
    assert err.value.status == 503


@pytest.mark.parametrize(
    ("document", "content_type"),
    [(b"<html>maintenance</html>", "text/html"), (b'{"keys": []}', "application/json")],
    ids=["not-json", "no-keys"],
)
def test_a_malformed_jwks_is_503(issuer: Issuer, document: bytes, content_type: str) -> None:
    issuer.publish(document, content_type)
    with pytest.raises(Unavailable):
        auth.verify_jwt(issuer.mint())


def test_without_a_configured_issuer_no_jwt_is_accepted(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_ISSUER")
    monkeypatch.delenv("OIDC_AUDIENCE")
    with pytest.raises(Unauthorized):
        auth.verify_jwt(issuer.mint())
    assert issuer.hits == 0


# --------------------------------------------------------------------------- headers


def test_dev_header_is_refused_without_dev_mode() -> None:
    with pytest.raises(Unauthorized) as err:
        auth.authenticate({"x-strongroom-dev-user": "someone@example.com"}, "127.0.0.1")
    assert err.value.status == 401
    assert "AUTH_MODE=dev" in err.value.message


def test_dev_header_is_refused_without_dev_mode_even_next_to_a_valid_token(issuer: Issuer) -> None:
    token = issuer.mint()
    assert auth.verify_jwt(token)["sub"] == "subject-1"  # the token alone is good
    headers = {"x-strongroom-dev-user": "someone@example.com", "authorization": f"Bearer {token}"}
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(headers, "127.0.0.1")
    assert err.value.status == 401


@pytest.mark.parametrize(
    "email",
    ["not an email", "", "   ", "alice", "alice@", "@example.com", "al ice@example.com", "alice@exa mple.com", "a@b@c"],
)
def test_dev_mode_refuses_a_malformed_email(monkeypatch: pytest.MonkeyPatch, email: str) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    with pytest.raises(Unauthorized) as err:
        auth.authenticate({"x-strongroom-dev-user": email}, "127.0.0.1")
    assert err.value.status == 401


def test_dev_mode_refuses_two_credentials_at_once(monkeypatch: pytest.MonkeyPatch, issuer: Issuer) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    headers = {"x-strongroom-dev-user": "a@example.com", "authorization": f"Bearer {issuer.mint()}"}
    with pytest.raises(Unauthorized):
        auth.authenticate(headers, "127.0.0.1")


@pytest.mark.parametrize("token", ["sr_xyz_0123456789abcdef", "sr__0123456789", "sr_", "sr_PAT_0123456789"])
def test_an_unknown_strongroom_token_kind_is_refused(token: str) -> None:
    with pytest.raises(Unauthorized) as err:
        auth.authenticate({"authorization": f"Bearer {token}"}, "127.0.0.1")
    assert err.value.status == 401
    assert token not in err.value.message


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": ""},
        {"authorization": "   "},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": "Bearer \t "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Token abc"},
        {"authorization": "sr_pat_0123456789"},
        {"authorization": "BearerX abc"},
    ],
    ids=lambda h: repr(h.get("authorization", "<absent>")),
)
def test_a_missing_blank_or_non_bearer_authorization_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(headers, "127.0.0.1")
    assert err.value.status == 401
    assert err.value.headers.get("WWW-Authenticate", "").startswith("Bearer")
