"""Request models refuse what clients must not send."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from strongroom.config import ConfigError, settings
from strongroom.models import EnvironmentCreate, InvitationCreate, OrgCreate, slugify


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        OrgCreate.model_validate({"name": "Acme", "role": "owner"})
    assert err.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "ac_me", "a" * 65, "org_01abc", ""])
def test_bad_slugs(slug: str) -> None:
    with pytest.raises(ValidationError):
        OrgCreate.model_validate({"name": "Acme", "slug": slug})


@pytest.mark.parametrize("slug", ["a", "acme", "acme-inc", "a1-b2", "a" * 64])
def test_good_slugs(slug: str) -> None:
    assert OrgCreate.model_validate({"name": "Acme", "slug": slug}).slug == slug


@pytest.mark.parametrize("name", ["", "   ", "bad\x00name", "tab\there", "del\x7f"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError):
        OrgCreate.model_validate({"name": name})


def test_names_are_trimmed() -> None:
    assert OrgCreate.model_validate({"name": "  Acme  "}).name == "Acme"


def test_emails_are_lower_cased_and_checked() -> None:
    assert InvitationCreate.model_validate({"email": "Bob@Example.COM", "role": "viewer"}).email == "bob@example.com"
    for bad in ("bob", "bob@", "@example.com", "bob@example", "b ob@example.com"):
        with pytest.raises(ValidationError):
            InvitationCreate.model_validate({"email": bad, "role": "viewer"})


def test_roles_are_a_closed_set() -> None:
    with pytest.raises(ValidationError):
        InvitationCreate.model_validate({"email": "a@example.com", "role": "superuser"})


def test_environment_encryption_is_server_or_client() -> None:
    assert EnvironmentCreate.model_validate({"name": "E"}).encryption == "server"
    with pytest.raises(ValidationError):
        EnvironmentCreate.model_validate({"name": "E", "encryption": "none"})


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Acme Inc.", "acme-inc"), ("  Hello, World ", "hello-world"), ("Ünïcode Çafé", "unicode-cafe"), ("!!!", "")],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_missing_configuration_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.setenv("KMS_KEY_ID", "k")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    with pytest.raises(ConfigError, match="TABLE_NAME"):
        settings()
