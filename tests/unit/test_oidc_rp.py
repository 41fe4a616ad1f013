"""The ID token checks of single sign-on (security/oidc_rp.py, domain/sso.accepted_email), with tokens
signed here by test keys: what a valid token yields, and each way a token is refused (wrong nonce,
audience, issuer, expired, `alg: none`, HS256 keyed with the public key, an unknown or mismatched
key, a tampered signature), then the email rules (`email_verified`, the domain). No network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from strongroom.domain.sso import accepted_email
from strongroom.errors import Unauthorized
from strongroom.security.oidc_rp import IdTokenRefused, basic_credentials, check_id_token

ISSUER = "https://idp.example.test"
CLIENT = "strongroom-client"
NONCE = "n-0S6_WzA2Mj"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str, alg: str) -> jwt.PyJWK:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) else jwt.algorithms.ECAlgorithm
    data = json.loads(algorithm.to_jwk(key.public_key()))
    return jwt.PyJWK.from_dict({**data, "kid": kid, "alg": alg, "use": "sig"})


KEYS = [_jwk(RSA_KEY, "rsa-1", "RS256"), _jwk(EC_KEY, "ec-1", "ES256")]


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "248289761001",
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        "email": "Jane@Acme.test",
        "email_verified": True,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any] | None = None, *, key: Any = RSA_KEY, alg: str = "RS256", kid: str = "rsa-1") -> str:
    return jwt.encode(claims or _claims(), key, algorithm=alg, headers={"kid": kid})


def _check(token: str) -> dict[str, Any]:
    return check_id_token(token, keys=KEYS, issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


def _refusal(token: str) -> str:
    with pytest.raises(IdTokenRefused) as refused:
        _check(token)
    assert refused.value.code == "invalid_id_token"
    assert refused.value.status == 401
    return refused.value.message


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(("key", "alg", "kid"), [(RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")])
def test_a_valid_token_yields_its_claims(key: Any, alg: str, kid: str) -> None:
    claims = _check(_token(key=key, alg=alg, kid=kid))
    assert claims["sub"] == "248289761001"
    assert claims["nonce"] == NONCE


def test_several_audiences_need_azp_naming_this_client() -> None:
    assert _check(_token(_claims(aud=[CLIENT, "other"], azp=CLIENT)))["azp"] == CLIENT
    assert "another client" in _refusal(_token(_claims(aud=[CLIENT, "other"])))
    assert "another client" in _refusal(_token(_claims(aud=[CLIENT, "other"], azp="other")))


# --------------------------------------------------------------------------- refused


def test_a_wrong_or_missing_nonce_is_refused() -> None:
    assert "nonce" in _refusal(_token(_claims(nonce="another-sign-in")))
    assert "nonce" in _refusal(_token(_claims(nonce=None)))


def test_another_audience_is_refused() -> None:
    assert "another client" in _refusal(_token(_claims(aud="someone-else")))


def test_another_issuer_is_refused() -> None:
    assert "another issuer" in _refusal(_token(_claims(iss="https://evil.example.test")))


def test_an_expired_token_is_refused_past_the_leeway() -> None:
    now = int(time.time())
    assert "expired" in _refusal(_token(_claims(iat=now - 900, exp=now - 120)))
    assert _check(_token(_claims(iat=now - 900, exp=now - 10)))  # within 30 s of skew


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss"])
def test_a_token_without_a_required_claim_is_refused(missing: str) -> None:
    _refusal(_token(_claims(**{missing: None})))


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_alg_none_is_refused() -> None:
    assert "algorithm" in _refusal(_unsigned(_claims(), {"alg": "none", "kid": "rsa-1"}))


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    """The classic confusion: an HMAC "signed" with the issuer's public key as the secret."""
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = _unsigned(_claims(), {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).rstrip(".")
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()  # PyJWT refuses to make one
    forged = f"{unsigned}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "algorithm" in _refusal(forged)


def test_a_key_the_issuer_does_not_publish_is_refused() -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "unknown key" in _refusal(_token(key=stranger, kid="rsa-2"))
    assert "signature" in _refusal(_token(key=stranger, kid="rsa-1"))  # its kid, not its key


def test_an_algorithm_other_than_its_keys_is_refused() -> None:
    assert "not its key's" in _refusal(_token(key=EC_KEY, alg="ES256", kid="rsa-1"))


def test_a_tampered_token_is_refused() -> None:
    header, payload, signature = _token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "ceo@acme.test"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in _refusal(f"{header}.{forged}.{signature}")


def test_garbage_is_refused() -> None:
    assert "malformed" in _refusal("not-a-jwt")


# --------------------------------------------------------------------------- the email


def test_a_verified_email_of_an_allowed_domain_is_accepted_lower_cased() -> None:
    assert accepted_email(_claims(), ["acme.test"]) == "jane@acme.test"


@pytest.mark.parametrize("verified", [False, None, "true", 1])
def test_an_email_not_verified_as_true_is_refused(verified: Any) -> None:
    with pytest.raises(Unauthorized) as refused:
        accepted_email(_claims(email_verified=verified), ["acme.test"])
    assert refused.value.code == "email_not_verified"


@pytest.mark.parametrize(
    "email", ["jane@elsewhere.test", "jane@sub.acme.test", "jane@acme.test.evil", None, "@acme.test"]
)
def test_an_email_outside_the_domains_is_refused(email: str | None) -> None:
    with pytest.raises(Unauthorized) as refused:
        accepted_email(_claims(email=email), ["acme.test"])
    assert refused.value.code == "domain_not_allowed"


# --------------------------------------------------------------------------- client_secret_basic


def test_client_secret_basic_form_encodes_before_base64() -> None:
    """RFC 6749, 2.3.1: `:` in the id and `+`, `/`, `%` in the secret survive the round trip."""
    header = basic_credentials("my:client", "a+b/c%d e")
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "my%3Aclient:a%2Bb%2Fc%25d%20e"
