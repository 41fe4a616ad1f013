"""GenerateSecretString is honoured when the local stack creates a template's secret."""

from __future__ import annotations

import json
import string

import pytest

from strongroom_local.secret_gen import PUNCTUATION, generate_secret_string, random_password
from strongroom_local.template import load_template


def test_the_template_cursor_secret_is_generated_as_declared() -> None:
    spec = load_template()["Resources"]["CursorSigningSecret"]["Properties"]["GenerateSecretString"]
    values = {generate_secret_string(spec) for _ in range(20)}
    assert len(values) == 20  # random, not a fixed development value
    for value in values:
        assert len(value) == int(spec["PasswordLength"])
        if spec.get("ExcludePunctuation"):
            assert not set(value) & set(PUNCTUATION)


def test_defaults_are_32_characters_of_every_type() -> None:
    value = random_password({})
    assert len(value) == 32
    assert set(value) & set(string.ascii_lowercase)
    assert set(value) & set(string.ascii_uppercase)
    assert set(value) & set(string.digits)
    assert set(value) & set(PUNCTUATION)


@pytest.mark.parametrize(
    ("flag", "forbidden"),
    [
        ("ExcludeLowercase", string.ascii_lowercase),
        ("ExcludeUppercase", string.ascii_uppercase),
        ("ExcludeNumbers", string.digits),
        ("ExcludePunctuation", PUNCTUATION),
    ],
)
def test_excluded_classes_never_appear(flag: str, forbidden: str) -> None:
    for _ in range(20):
        assert not set(random_password({flag: True, "PasswordLength": 64})) & set(forbidden)


def test_excluded_characters_and_spaces() -> None:
    for _ in range(20):
        value = random_password({"ExcludeCharacters": "abcABC123", "IncludeSpace": "true", "PasswordLength": 80})
        assert not set(value) & set("abcABC123")
        assert " " in value  # RequireEachIncludedType covers the space class too


def test_secret_string_template_gets_the_password_under_its_key() -> None:
    doc = json.loads(
        generate_secret_string(
            {"SecretStringTemplate": '{"username": "svc"}', "GenerateStringKey": "password", "PasswordLength": 20}
        )
    )
    assert doc["username"] == "svc"
    assert len(doc["password"]) == 20


def test_excluding_everything_is_an_error() -> None:
    with pytest.raises(ValueError, match="every character"):
        random_password(
            {"ExcludeLowercase": True, "ExcludeUppercase": True, "ExcludeNumbers": True, "ExcludePunctuation": True}
        )
