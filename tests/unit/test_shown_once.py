"""Credentials shown once are marked in the response models and found there: `redact` blanks every
marked value at any depth, and every route that hands one out declares a model that marks it."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from strongroom.http.body import MUTATING
from strongroom.http.idempotency import response_type
from strongroom.http.shown_once import PLACEHOLDER, ShownOnce, redact

FUNCTIONS = ["identity_api", "orgs_api", "projects_api", "secrets_api", "tokens_api", "runtime_api", "webhooks_api"]


class Key(BaseModel):
    id: str
    secret: ShownOnce = Field(description="a one-time value")


class Bundle(BaseModel):
    name: str
    key: Key
    keys: list[Key]
    by_name: dict[str, Key]
    maybe: Key | None = None
    codes: list[ShownOnce] = []
    token: ShownOnce | None = None
    pair: tuple[str, ShownOnce] = ("a", "b")


def test_redact_blanks_marked_values_at_any_depth() -> None:
    bundle = Bundle(
        name="n",
        key=Key(id="k1", secret="s1"),
        keys=[Key(id="k2", secret="s2")],
        by_name={"x": Key(id="k3", secret="s3")},
        maybe=Key(id="k4", secret="s4"),
        codes=["c1", "c2"],
        token="t",
        pair=("p", "q"),
    )
    redacted = redact(json.loads(bundle.model_dump_json()), Bundle)
    once = PLACEHOLDER
    assert redacted == {
        "name": "n",
        "key": {"id": "k1", "secret": once},
        "keys": [{"id": "k2", "secret": once}],
        "by_name": {"x": {"id": "k3", "secret": once}},
        "maybe": {"id": "k4", "secret": once},
        "codes": [once, once],
        "token": once,
        "pair": ["p", once],
    }


def test_redact_leaves_absent_values_and_unmarked_types_alone() -> None:
    data = {"name": "n", "key": {"id": "k", "secret": "s"}, "keys": [], "by_name": {}, "maybe": None, "token": None}
    assert redact(data, Bundle)["maybe"] is None
    assert redact(data, Bundle)["token"] is None
    assert redact({"token": "t"}, dict[str, str]) == {"token": "t"}  # no model, no marks
    assert redact("text", str) == "text"


def _routes() -> list[tuple[str, Any]]:
    out = []
    for name in FUNCTIONS:
        app = importlib.import_module(f"{name}.app").app
        for route in app._static_routes + app._dynamic_routes:
            methods = route.method if isinstance(route.method, set | frozenset | list | tuple) else [route.method]
            out += [(f"{m} {route.path}", route.func) for m in methods if m in MUTATING]
    return sorted(out, key=lambda r: r[0])


def _marked(schema: dict[str, Any]) -> set[str]:
    """The properties pydantic's own JSON schema flags x-shown-once, in the model and its $defs."""
    found: set[str] = set()
    for model in [schema, *schema.get("$defs", {}).values()]:
        for prop, spec in model.get("properties", {}).items():
            if spec.get("x-shown-once") or any(a.get("x-shown-once") for a in spec.get("anyOf", [])):
                found.add(f"{model['title']}.{prop}")
    return found


# Every route that hands out a credential, and the fields that carry it.
SHOWN_ONCE = {
    "POST /v1/auth/device/start": {
        "DeviceStart.device_code",
        "DeviceStart.user_code",
        "DeviceStart.verification_uri_complete",
    },
    "POST /v1/auth/device/token": {"DeviceToken.access_token"},
    "POST /v1/auth/tokens": {"PersonalTokenCreated.token"},
    "POST /v1/me/2fa/setup": {"TwoFactorSetup.otpauth_uri", "TwoFactorSetup.secret"},
    "POST /v1/orgs/<org>/invitations": {"InvitationCreated.token"},
    "POST /v1/orgs/<org>/scim/tokens": {"ScimTokenCreated.token"},
    "POST /v1/orgs/<org>/tokens": {"ServiceTokenCreated.token"},
    "POST /v1/orgs/<org>/tokens/<id>/rotate": {"ServiceTokenCreated.token"},
    "POST /v1/orgs/<org>/webhooks": {"WebhookCreated.secret"},
    "POST /v1/orgs/<org>/webhooks/<id>/rotate-secret": {"WebhookCreated.secret"},
}


def test_every_mutation_declares_a_response_type_whose_marks_name_its_credentials() -> None:
    routes = _routes()
    assert len(routes) > 40
    marked: dict[str, set[str]] = {}
    for route, func in routes:
        declared = response_type(func)
        assert declared is str or (isinstance(declared, type) and issubclass(declared, BaseModel)), route
        if declared is not str:
            found = _marked(declared.model_json_schema())
            if found:
                marked[route] = found
    assert marked == SHOWN_ONCE


@pytest.mark.parametrize("route", sorted(SHOWN_ONCE))
def test_redact_blanks_what_each_credential_route_marks(route: str) -> None:
    declared = response_type(dict(_routes())[route])
    fields = {name.split(".", 1)[1] for name in SHOWN_ONCE[route]}
    sample = {name: f"credential-{name}" for name in declared.model_fields}
    redacted = redact(sample, declared)
    assert {k for k, v in redacted.items() if v == PLACEHOLDER} == fields
    assert {k: v for k, v in redacted.items() if k not in fields} == {
        k: v for k, v in sample.items() if k not in fields
    }
