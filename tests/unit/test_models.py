"""Request models refuse what clients must not send: unknown fields (no mass assignment), slugs
outside the pattern, malformed emails (and lower-case the good ones), names that are blank or
carry control characters."""

from __future__ import annotations

import base64
import re
import string
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from strongroom import models
from strongroom.config import ConfigError, settings

# Every request body model, with a minimal valid body.
REQUEST_BODIES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (models.OrgCreate, {"name": "Acme"}),
    (models.OrgPatch, {}),
    (models.UserPatch, {"name": "Alice"}),
    (models.MemberPatch, {"role": "viewer"}),
    (models.InvitationCreate, {"email": "bob@example.com", "role": "viewer"}),
    (models.ProjectCreate, {"name": "Web"}),
    (models.ProjectPatch, {}),
    (models.EnvironmentCreate, {"name": "QA"}),
    (models.EnvironmentPatch, {}),
]


ALL_REQUEST_MODELS = sorted(
    {m for m in vars(models).values() if isinstance(m, type) and issubclass(m, models.Request)} - {models.Request},
    key=lambda m: m.__name__,
)


@pytest.mark.parametrize("model", ALL_REQUEST_MODELS, ids=lambda m: m.__name__)
def test_every_request_model_refuses_unknown_fields(model: type[BaseModel]) -> None:
    with pytest.raises(ValidationError) as err:
        model.model_validate({"definitely_not_a_field": "x"})
    assert ("extra_forbidden", ("definitely_not_a_field",)) in [(e["type"], e["loc"]) for e in err.value.errors()]


@pytest.mark.parametrize(("model", "body"), REQUEST_BODIES, ids=lambda v: getattr(v, "__name__", ""))
def test_minimal_bodies_are_accepted(model: type[BaseModel], body: dict[str, Any]) -> None:
    assert model.model_validate(body).model_dump(exclude_unset=True) == body


@pytest.mark.parametrize(("model", "body"), REQUEST_BODIES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("extra", ["id", "role_", "created_at", "org_id", "is_admin"])
def test_unknown_fields_are_refused_and_named(model: type[BaseModel], body: dict[str, Any], extra: str) -> None:
    with pytest.raises(ValidationError) as err:
        model.model_validate({**body, extra: "x"})
    if model is models.EnvironmentCreate and extra == "id":
        # the contract's one client-chosen ID (a client-encrypted environment's): refused otherwise
        assert err.value.errors()[0]["loc"] == ("id",)
        return
    assert [(e["type"], e["loc"]) for e in err.value.errors()] == [("extra_forbidden", (extra,))]


def test_a_role_cannot_be_smuggled_into_org_creation() -> None:
    with pytest.raises(ValidationError) as err:
        models.OrgCreate.model_validate({"name": "Acme", "role": "owner", "owner_count": 5})
    assert {e["loc"] for e in err.value.errors()} == {("role",), ("owner_count",)}


# --------------------------------------------------------------------------- slugs

SLUG_ALPHABET = set(string.ascii_lowercase + string.digits + "-")


def _is_slug(value: str) -> bool:
    """design: lower-case letters, digits and hyphens, 1-64, no hyphen at either end."""
    return 1 <= len(value) <= 64 and set(value) <= SLUG_ALPHABET and value[0] != "-" and value[-1] != "-"


@pytest.mark.parametrize("slug", ["a", "7", "acme", "acme-inc", "a1-b2", "a--b", "a" * 64])
def test_good_slugs(slug: str) -> None:
    assert models.OrgCreate.model_validate({"name": "Acme", "slug": slug}).slug == slug


@pytest.mark.parametrize(
    "slug", ["", "Acme", "-acme", "acme-", "ac_me", "ac.me", "a" * 65, "acme\n", " acme", "ácme", "ac me", "org/x"]
)
def test_bad_slugs(slug: str) -> None:
    with pytest.raises(ValidationError):
        models.OrgCreate.model_validate({"name": "Acme", "slug": slug})


@given(st.text(alphabet=st.sampled_from(sorted(SLUG_ALPHABET | {"_", "A", " ", "\n", ".", "é"})), max_size=70))
def test_a_slug_is_accepted_exactly_when_it_has_the_slug_shape(slug: str) -> None:
    try:
        models.ProjectCreate.model_validate({"name": "Web", "slug": slug})
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted is _is_slug(slug)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Inc.", "acme-inc"),
        ("  Hello, World ", "hello-world"),
        ("Ünïcode Çafé", "unicode-cafe"),
        ("!!!", ""),
        ("a" * 80, "a" * 64),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert models.slugify(name) == slug


@given(st.text(max_size=120))
def test_slugify_makes_a_valid_slug_or_nothing(name: str) -> None:
    slug = models.slugify(name)
    assert slug == "" or _is_slug(slug)


# --------------------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("Bob@Example.COM", "bob@example.com"), ("ALICE.SMITH+ci@Sub.Example.org", "alice.smith+ci@sub.example.org")],
)
def test_emails_are_lower_cased(raw: str, stored: str) -> None:
    assert models.InvitationCreate.model_validate({"email": raw, "role": "viewer"}).email == stored


@pytest.mark.parametrize(
    "email",
    [
        *("", "bob", "bob@", "@example.com", "bob@example", "b ob@example.com", "bob@exa mple.com"),
        *("a@b@example.com", "bob@-example.com", "bob@example.com\n", "x" * 65 + "@example.com"),
        "bob@" + "a" * 250 + ".com",
    ],
)
def test_malformed_emails_are_refused(email: str) -> None:
    with pytest.raises(ValidationError):
        models.InvitationCreate.model_validate({"email": email, "role": "viewer"})


def test_a_role_is_a_slug_and_whether_the_org_has_it_is_the_org_s_to_say() -> None:
    # a custom role's slug passes the model (an unknown one is a 400 from the org: tests/http_api/test_roles.py)
    assert models.InvitationCreate.model_validate({"email": "a@example.com", "role": "auditor"}).role == "auditor"
    for role in ("Owner", "", "root!", "a" * 65):
        with pytest.raises(ValidationError):
            models.InvitationCreate.model_validate({"email": "a@example.com", "role": role})


def test_a_custom_role_names_catalog_permissions_and_scopes_only() -> None:
    ok = models.RoleCreate.model_validate({"name": "Auditor", "permissions": {"audit.read": "all"}})
    assert ok.permissions == {"audit.read": "all"}
    for permissions in ({"audit.explode": "all"}, {"audit.read": "everywhere"}):
        with pytest.raises(ValidationError) as raised:
            models.RoleCreate.model_validate({"name": "Auditor", "permissions": permissions})
        assert raised.value.errors()[0]["loc"][0] == "permissions"


# --------------------------------------------------------------------------- names

C0_AND_DEL = [chr(c) for c in range(0x20)] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]


def test_the_control_character_sets_are_the_unicode_cc_category() -> None:
    assert {c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cc"} == set(C0_AND_DEL + C1)


@pytest.mark.parametrize("char", C0_AND_DEL, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("model", [models.OrgCreate, models.ProjectCreate, models.EnvironmentCreate])
def test_names_with_a_c0_control_character_or_del_are_refused(model: type[BaseModel], char: str) -> None:
    with pytest.raises(ValidationError):
        model.model_validate({"name": f"Acme{char}Inc"})


def test_names_with_a_c1_control_character_are_refused() -> None:
    accepted = []
    for char in C1:
        try:
            models.OrgCreate.model_validate({"name": f"Acme{char}Inc"})
        except ValidationError:
            continue
        accepted.append(f"U+{ord(char):04X}")
    assert accepted == []


@pytest.mark.parametrize("name", ["", " ", "   ", "\u3000", "\u00a0 ", "a" * 101])
def test_blank_or_overlong_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        models.OrgCreate.model_validate({"name": name})


@pytest.mark.parametrize(("raw", "stored"), [("  Acme  ", "Acme"), ("Çafé & Co", "Çafé & Co"), ("a" * 100, "a" * 100)])
def test_names_are_trimmed_and_otherwise_kept(raw: str, stored: str) -> None:
    assert models.OrgCreate.model_validate({"name": raw}).name == stored


def test_environment_encryption_is_server_or_client() -> None:
    assert models.EnvironmentCreate.model_validate({"name": "E"}).encryption == "server"
    grant = {"suite": "x25519", "wrapped_key": base64.b64encode(bytes(80)).decode()}
    client = {"name": "E", "encryption": "client", "id": "env_" + "0" * 26, "grant": grant}
    assert models.EnvironmentCreate.model_validate(client).encryption == "client"
    for refused in (
        {"name": "E", "encryption": "none"},
        {"name": "E", "encryption": "client"},  # a client environment names its ID and the creator's grant
        {**client, "id": "env_" + "U" * 26},  # not lower-case Crockford base32
        {**client, "grant": {**grant, "wrapped_key": base64.b64encode(bytes(79)).decode()}},  # not an x25519 grant
        {**client, "parent": "development"},
        {"name": "E", "id": client["id"]},  # a server-managed environment's ID is the server's
    ):
        with pytest.raises(ValidationError):
            models.EnvironmentCreate.model_validate(refused)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("missing", ["TABLE_NAME", "KMS_KEY_ID", "CURSOR_SIGNING_KEY"])
def test_missing_configuration_fails_loudly_naming_the_variable(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        settings()


def test_an_issuer_without_an_audience_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    monkeypatch.setenv("AUTH_MODE", "oidc")
    monkeypatch.setenv("OIDC_ISSUER", "https://idp.example.test/")
    monkeypatch.delenv("OIDC_AUDIENCE", raising=False)
    with pytest.raises(ConfigError):
        settings()


# A field named for a credential: the web framework logs a route's parsed arguments at DEBUG, and a
# SecretStr shows there (and in any repr) as '**********'. Hashes and IDs of credentials are not
# credentials (`token_id`, `token_hash`).
CREDENTIAL_FIELD = re.compile(r"(password|passphrase|secret|token|code|jwt|private_key)$")


def _credential_fields() -> list[tuple[str, str, Any]]:
    return [
        (model.__name__, name, info.annotation)
        for model in ALL_REQUEST_MODELS
        for name, info in model.model_fields.items()
        if CREDENTIAL_FIELD.search(name)
    ]


def test_every_credential_in_a_request_body_is_a_secret_str() -> None:
    found = _credential_fields()
    assert {("Login", "password"), ("OidcConfigPut", "client_secret")} <= {(m, n) for m, n, _a in found}
    plain = [f"{m}.{n}" for m, n, annotation in found if "SecretStr" not in repr(annotation)]
    assert plain == []
