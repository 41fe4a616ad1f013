"""OIDC JWT verification with real keys and a real JWKS endpoint: what must be refused is."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from jwks import AUDIENCE, ISSUER, KeySet, claims, hs256_with_public_key, jwks_server, mint, unsigned

from strongroom import auth
from strongroom.errors import Unauthorized


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet()


@pytest.fixture
def oidc(keys: KeySet, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with jwks_server(keys) as url:
        monkeypatch.setenv("AUTH_MODE", "oidc")
        monkeypatch.setenv("OIDC_ISSUER", ISSUER)
        monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("OIDC_JWKS_URL", url)
        monkeypatch.setenv("TABLE_NAME", "unused-table")
        monkeypatch.setenv("KMS_KEY_ID", "unused-key")
        monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
        auth._jwks_client.cache_clear()
        yield url
        auth._jwks_client.cache_clear()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_valid_tokens_of_each_allowed_algorithm_verify(oidc: str, keys: KeySet, alg: str) -> None:
    verified = auth.verify_jwt(mint(keys, alg, sub=f"sub-{alg}"))
    assert verified["sub"] == f"sub-{alg}"
    assert verified["iss"] == ISSUER


def _rejected(token: str) -> None:
    with pytest.raises(Unauthorized) as err:
        auth.verify_jwt(token)
    assert err.value.status == 401
    assert err.value.message == "invalid token"  # never says which check failed


def test_expired(oidc: str, keys: KeySet) -> None:
    now = int(time.time())
    _rejected(mint(keys, exp=now - 120, iat=now - 600, nbf=now - 600))


def test_wrong_issuer(oidc: str, keys: KeySet) -> None:
    _rejected(mint(keys, iss="https://evil.example.test/"))


def test_wrong_audience(oidc: str, keys: KeySet) -> None:
    _rejected(mint(keys, aud="someone-else"))


def test_alg_none(oidc: str, keys: KeySet) -> None:
    _rejected(unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims()))


def test_hs256_signed_with_the_public_key(oidc: str, keys: KeySet) -> None:
    token = hs256_with_public_key(keys)
    # The forgery is well-formed: an HS256 verifier keyed with the PEM would accept it...
    assert (
        jwt.decode(
            token,
            keys.rsa_public_pem().decode(),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"verify_signature": False},
        )["sub"]
        == "subject-1"
    )
    # ...and Strongroom refuses it.
    _rejected(token)


def test_unknown_kid(oidc: str, keys: KeySet) -> None:
    _rejected(mint(keys, kid="not-a-key-of-the-issuer"))


def test_missing_kid(oidc: str, keys: KeySet) -> None:
    token = jwt.encode(claims(), keys.rsa_key, algorithm="RS256")
    _rejected(token)


def test_key_of_another_algorithm_under_a_known_kid(oidc: str, keys: KeySet) -> None:
    # An ES256 token that claims the RSA key's kid.
    _rejected(jwt.encode(claims(), keys.ec_key, algorithm="ES256", headers={"kid": "rsa-1"}))


def test_signed_by_a_stranger_key(oidc: str) -> None:
    stranger = KeySet()
    _rejected(mint(stranger, "RS256"))


def test_tampered_payload(oidc: str, keys: KeySet) -> None:
    head, _body, sig = mint(keys).split(".")
    forged_body = unsigned({}, claims(sub="admin")).split(".")[1]
    _rejected(f"{head}.{forged_body}.{sig}")


def test_not_yet_valid(oidc: str, keys: KeySet) -> None:
    _rejected(mint(keys, nbf=int(time.time()) + 3600))


def test_missing_exp(oidc: str, keys: KeySet) -> None:
    _rejected(mint(keys, exp=None))


def test_garbage(oidc: str) -> None:
    _rejected("not.a.jwt")


# --------------------------------------------------------------------------- header handling


def test_dev_header_refused_without_dev_mode(oidc: str) -> None:
    with pytest.raises(Unauthorized) as err:
        auth.authenticate({"x-strongroom-dev-user": "someone@example.com"}, "127.0.0.1")
    assert "AUTH_MODE=dev" in err.value.message


def test_dev_header_refused_without_dev_mode_even_with_a_valid_token(oidc: str, keys: KeySet) -> None:
    headers = {"x-strongroom-dev-user": "someone@example.com", "authorization": f"Bearer {mint(keys)}"}
    with pytest.raises(Unauthorized):
        auth.authenticate(headers, "127.0.0.1")


def test_dev_mode_refuses_a_malformed_email(oidc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    with pytest.raises(Unauthorized):
        auth.authenticate({"x-strongroom-dev-user": "not an email"}, "127.0.0.1")


def test_dev_mode_refuses_two_credentials(oidc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    with pytest.raises(Unauthorized):
        auth.authenticate({"x-strongroom-dev-user": "a@example.com", "authorization": "Bearer x"}, "127.0.0.1")


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc", "sr_pat_abc"],
)
def test_missing_or_malformed_authorization(oidc: str, authorization: str) -> None:
    headers = {"authorization": authorization} if authorization else {}
    with pytest.raises(Unauthorized):
        auth.authenticate(headers, "127.0.0.1")


def test_unknown_strongroom_token_kind(oidc: str) -> None:
    with pytest.raises(Unauthorized):
        auth.authenticate({"authorization": "Bearer sr_xyz_0123456789abcdef"}, "127.0.0.1")
