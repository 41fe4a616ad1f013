"""The sso function's handler with the sample event events/sso_put_oidc.json: the client secret is
stored only as KMS ciphertext bound to its org (another org's encryption context does not open
it), answered by no route, and a custom default role cannot be deleted under the configuration."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from integration.conftest import Invoke, body_of, dev_user, load_event
from strongroom import aws
from strongroom_local import LocalStack
from support import query_partition


def _org(invoke: Invoke, user: dict[str, str]) -> dict[str, Any]:
    slug = f"sso-{secrets.token_hex(4)}"
    created = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "SSO", "slug": slug}))
    assert created["statusCode"] == 201
    return dict(body_of(created))


def _put(invoke: Invoke, user: dict[str, str], org: str, **changes: Any) -> dict[str, Any]:
    """The sample event against `org`, its body's fields changed by `changes`."""
    sample = json.loads(load_event("sso_put_oidc")["body"])
    body = {**sample, "domains": [f"{org}.example"], **changes}
    return invoke("SsoFunction", load_event("sso_put_oidc", headers=user, path_parameters={"org": org}, body=body))


def test_the_client_secret_is_sealed_to_its_org(invoke: Invoke, stack: LocalStack) -> None:
    # Given an org, and its owner's configuration (the sample event's)
    user = dev_user()
    org = _org(invoke, user)
    secret = f"canary-{secrets.token_hex(8)}"
    response = _put(invoke, user, org["slug"], client_secret=secret)
    assert response["statusCode"] == 200
    assert secret not in response["body"]

    # Then the item holds ciphertext only, which opens under its own org's context alone
    (item,) = query_partition(stack, f"ORG#{org['id']}", "SSO#OIDC")
    assert secret.encode() not in repr(item).encode()
    sealed = item["sealed_secret"]["B"]
    kms = aws.kms()
    opened = kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": "sso", "org": org["id"]})
    assert opened["Plaintext"] == secret.encode()
    other = _org(invoke, dev_user())
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": "sso", "org": other["id"]})

    # And reading it back shows that a secret is set, never the secret
    get = load_event(
        "sso_put_oidc", headers=user, path_parameters={"org": org["slug"]}, routeKey="GET /v1/orgs/{org}/sso/oidc"
    )
    get["requestContext"]["http"]["method"] = "GET"
    get.pop("body")
    shown = invoke("SsoFunction", get)
    assert shown["statusCode"] == 200
    assert body_of(shown)["client_secret_set"] is True
    assert secret not in shown["body"]


def test_a_custom_default_role_is_in_use_while_configured(invoke: Invoke) -> None:
    user = dev_user()
    org = _org(invoke, user)
    role = {"name": "SSO people", "slug": "sso-people", "permissions": {"secrets.read": "development"}}
    created = invoke(
        "OrgsFunction",
        load_event(
            "orgs_create", headers=user, body=role, routeKey="POST /v1/orgs/{org}/roles",
            path_parameters={"org": org["slug"]},
        ),
    )  # fmt: skip
    assert created["statusCode"] == 201, created["body"]
    assert _put(invoke, user, org["slug"], default_role="sso-people")["statusCode"] == 200
    delete = load_event(
        "orgs_create", headers=user, routeKey="DELETE /v1/orgs/{org}/roles/{role}",
        path_parameters={"org": org["slug"], "role": "sso-people"},
    )  # fmt: skip
    delete.pop("body")
    refused = invoke("OrgsFunction", delete)
    assert refused["statusCode"] == 409
    assert body_of(refused)["error"]["code"] == "role_in_use"
    # Another default role releases it
    assert _put(invoke, user, org["slug"], default_role="viewer")["statusCode"] == 200
    assert invoke("OrgsFunction", delete)["statusCode"] == 204
