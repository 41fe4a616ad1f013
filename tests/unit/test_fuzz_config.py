"""scripts/fuzz.py's configuration rules, on documents made here and on the real one."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("strongroom_fuzz_script", ROOT / "scripts" / "fuzz.py")
assert _spec is not None
assert _spec.loader is not None
fuzz: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz  # its dataclasses look their module up there
_spec.loader.exec_module(fuzz)


def _op(op_id: str) -> dict[str, str]:
    return {"operationId": op_id}


def test_a_put_able_path_named_by_the_org_alone_is_a_singleton_and_nothing_else_is() -> None:
    document = {
        "paths": {
            "/v1/orgs/{org}/sso/saml": {"get": _op("get_saml"), "put": _op("put_saml"), "delete": _op("del_saml")},
            "/v1/orgs/{org}/roles/{role}": {"get": _op("get_role"), "put": _op("put_role")},
            "/v1/orgs/{org}/members": {"get": _op("list_members"), "post": _op("invite")},
            "/v1/me/keys": {"get": _op("get_keys"), "put": _op("put_keys")},
        }
    }
    assert fuzz.org_singletons(document) == ["del_saml", "get_saml"]


def test_the_real_document_s_single_sign_on_configuration_is_a_singleton() -> None:
    found = fuzz.org_singletons(json.loads((ROOT / "docs" / "openapi.json").read_text()))
    assert {"get_oidc_config", "delete_oidc_config"} <= set(found)
    assert "get_secret" not in found
    assert "get_org" not in found


def test_an_operation_whose_body_must_name_a_project_is_exempt_and_one_where_it_may_is_not() -> None:
    document = {
        "components": {"schemas": {"TokenCreate": {"required": ["name", "project"]}}},
        "paths": {
            "/v1/orgs/{org}/tokens": {
                "post": {
                    "operationId": "create_token",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenCreate"}}}
                    },
                }
            },
            "/v1/orgs/{org}/webhooks": {
                "post": {
                    "operationId": "create_webhook",
                    "requestBody": {"content": {"application/json": {"schema": {"required": ["url"]}}}},
                }
            },
        },
    }
    assert fuzz.project_named_in_body(document) == ["create_token"]
    real = fuzz.project_named_in_body(json.loads((ROOT / "docs" / "openapi.json").read_text()))
    assert "create_access_request" in real
