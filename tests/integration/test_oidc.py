"""OIDC end to end through the identity handler: first sight provisions a user; an email already
taken is linked only when the issuer says it is verified."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from jwks import AUDIENCE, ISSUER, KeySet, jwks_server, mint

from integration.conftest import Invoke, body_of, load_event
from strongroom import auth


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet()


@pytest.fixture
def oidc_mode(keys: KeySet, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with jwks_server(keys) as url:
        monkeypatch.setenv("AUTH_MODE", "oidc")
        monkeypatch.setenv("OIDC_ISSUER", ISSUER)
        monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("OIDC_JWKS_URL", url)
        auth._jwks_client.cache_clear()
        yield
        auth._jwks_client.cache_clear()


def _me(invoke: Invoke, token: str) -> tuple[int, dict[str, object]]:
    event = load_event("identity_get_me", headers={"x-strongroom-dev-user": None, "authorization": f"Bearer {token}"})
    response = invoke("IdentityFunction", event)
    return response["statusCode"], body_of(response)


@pytest.mark.usefixtures("oidc_mode")
def test_first_sight_provisions_and_is_stable(invoke: Invoke, keys: KeySet) -> None:
    email = f"oidc-{secrets.token_hex(4)}@example.com"
    status, me = _me(invoke, mint(keys, sub=f"sub-{email}", email=email))
    assert status == 200
    assert me["email"] == email
    assert str(me["id"]).startswith("usr_")
    status, again = _me(invoke, mint(keys, "ES256", sub=f"sub-{email}", email=email))
    assert status == 200
    assert again["id"] == me["id"]


@pytest.mark.usefixtures("oidc_mode")
def test_an_unverified_email_is_not_linked_to_an_existing_account(invoke: Invoke, keys: KeySet) -> None:
    email = f"taken-{secrets.token_hex(4)}@example.com"
    status, owner = _me(invoke, mint(keys, sub=f"first-{email}", email=email))
    assert status == 200
    status, body = _me(invoke, mint(keys, sub=f"second-{email}", email=email, email_verified=False))
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    status, linked = _me(invoke, mint(keys, sub=f"third-{email}", email=email, email_verified=True))
    assert status == 200
    assert linked["id"] == owner["id"]


@pytest.mark.usefixtures("oidc_mode")
def test_dev_header_is_refused_in_oidc_mode(invoke: Invoke) -> None:
    response = invoke("IdentityFunction", load_event("identity_get_me"))
    assert response["statusCode"] == 401
    assert "AUTH_MODE=dev" in body_of(response)["error"]["message"]


@pytest.mark.usefixtures("oidc_mode")
def test_expired_token_is_401_through_the_handler(invoke: Invoke, keys: KeySet) -> None:
    import time

    now = int(time.time())
    status, body = _me(invoke, mint(keys, exp=now - 100, iat=now - 1000, nbf=now - 1000))
    assert status == 401
    assert body["error"]["message"] == "invalid token"
