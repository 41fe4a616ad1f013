"""The identity providers' URLs an owner configures (domain/sso.py `check_url`): https outside dev
mode, a host, no credentials or fragment; a query only in a SAML SSO URL."""

from __future__ import annotations

import pytest

from strongroom.domain import sso
from strongroom.errors import AppError


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "unit-table-not-used")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key-not-used")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    monkeypatch.setenv("AUTH_MODE", "oidc")


def _refusal(field: str, url: str, *, query: bool) -> tuple[int, str] | None:
    try:
        sso.check_url(field, url, query=query)
    except AppError as exc:
        return exc.status, exc.message
    return None


def test_outside_dev_mode_an_sso_url_must_be_https() -> None:
    assert _refusal("idp_sso_url", "https://idp.example.com/saml/sso?tenant=acme", query=True) is None
    refused = _refusal("idp_sso_url", "http://idp.example.com/saml/sso", query=True)
    assert refused is not None
    assert refused[0] == 400
    assert "idp_sso_url" in refused[1]
    assert "https" in refused[1]


@pytest.mark.parametrize(
    "url", ["https://user:pw@idp.example.com/sso", "https://idp.example.com/sso#frag", "https:///sso", "ftp://x/y"]
)
def test_credentials_a_fragment_or_no_host_are_refused(url: str) -> None:
    refused = _refusal("idp_sso_url", url, query=True)
    assert refused is not None
    assert refused[0] == 400


def test_an_issuer_takes_no_query_but_an_sso_url_may() -> None:
    assert _refusal("issuer", "https://idp.example.com/?x=1", query=False) is not None
    assert _refusal("idp_sso_url", "https://idp.example.com/?x=1", query=True) is None


def test_in_dev_mode_http_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    assert _refusal("idp_sso_url", "http://127.0.0.1:8080/sso", query=True) is None
