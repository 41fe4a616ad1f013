"""The Lambda handlers with sample events: envelope, idempotency, secrets hygiene, health."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from botocore.stub import Stubber

from integration.conftest import Invoke, body_of, load_event
from strongroom import aws
from strongroom_local import LocalStack


def _user() -> dict[str, str]:
    return {"x-strongroom-dev-user": f"it-{secrets.token_hex(4)}@example.com"}


def _scan_all(stack: LocalStack) -> list[dict[str, Any]]:
    client = aws.dynamodb()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.resources.refs["Table"]}  # type: ignore[union-attr]
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_sample_events_create_an_org_and_a_project(invoke: Invoke) -> None:
    user, slug = _user(), f"it-{secrets.token_hex(4)}"
    created = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "It", "slug": slug}))
    assert created["statusCode"] == 201
    assert body_of(created)["role"] == "owner"
    project = invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    assert project["statusCode"] == 201
    assert [e["slug"] for e in body_of(project)["environments"]] == ["development", "staging", "production"]
    listed = invoke("ProjectsFunction", load_event("projects_list", headers=user, path_parameters={"org": slug}))
    assert [p["id"] for p in body_of(listed)["data"]] == [body_of(project)["id"]]


def test_unknown_field_is_400_naming_it(invoke: Invoke) -> None:
    event = load_event("orgs_create", headers=_user(), body={"name": "X", "role": "owner", "id": "org_x"})
    response = invoke("OrgsFunction", event)
    error = body_of(response)["error"]
    assert response["statusCode"] == 400
    assert {f["field"] for f in error["details"]["fields"]} == {"role", "id"}
    assert {f["issue"] for f in error["details"]["fields"]} == {"unknown field"}
    assert error["request_id"] == event["requestContext"]["requestId"]


def test_non_json_body_is_400(invoke: Invoke) -> None:
    event = load_event("orgs_create", headers=_user(), body="{name: nope")
    response = invoke("OrgsFunction", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_json"
    assert body_of(response)["error"]["request_id"] == event["requestContext"]["requestId"]


def test_non_utf8_body_is_400(invoke: Invoke) -> None:
    event = load_event(
        "orgs_create", headers=_user(), body=base64.b64encode(b'{"name": "\xff\xfe"}').decode(), isBase64Encoded=True
    )
    response = invoke("OrgsFunction", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_body"
    assert body_of(response)["error"]["request_id"] == event["requestContext"]["requestId"]


def test_validation_errors_never_echo_the_input(invoke: Invoke) -> None:
    canary = "canary-" + secrets.token_hex(8) + "\x01"
    response = invoke("OrgsFunction", load_event("orgs_create", headers=_user(), body={"name": canary}))
    assert response["statusCode"] == 400
    assert canary.rstrip("\x01") not in response["body"]


def test_idempotency_key_replays_and_refuses_another_body(invoke: Invoke, stack: LocalStack) -> None:
    user, slug = _user(), f"idem-{secrets.token_hex(4)}"
    headers = {**user, "idempotency-key": secrets.token_hex(8)}
    first = invoke("OrgsFunction", load_event("orgs_create", headers=headers, body={"name": "I", "slug": slug}))
    again = invoke("OrgsFunction", load_event("orgs_create", headers=headers, body={"name": "I", "slug": slug}))
    other = invoke("OrgsFunction", load_event("orgs_create", headers=headers, body={"name": "J", "slug": slug}))
    assert first["statusCode"] == 201
    assert again["statusCode"] == 201
    assert again["headers"].get("Idempotent-Replayed") == "true"
    assert body_of(again)["id"] == body_of(first)["id"]
    assert other["statusCode"] == 422
    assert body_of(other)["error"]["code"] == "idempotency_key_reused"
    orgs = [i for i in _scan_all(stack) if i.get("entity", {}).get("S") == "org" and i["slug"]["S"] == slug]
    assert len(orgs) == 1


def test_invitation_token_is_stored_nowhere_but_as_its_hash(invoke: Invoke, stack: LocalStack) -> None:
    import hashlib

    user, slug = _user(), f"inv-{secrets.token_hex(4)}"
    invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Inv", "slug": slug}))
    event = load_event(
        "orgs_create",
        headers={**user, "idempotency-key": secrets.token_hex(8)},
        body={"email": "guest@example.com", "role": "viewer"},
        routeKey="POST /v1/orgs/{org}/invitations",
        path_parameters={"org": slug},
    )
    response = invoke("OrgsFunction", event)
    assert response["statusCode"] == 201
    token = body_of(response)["token"]
    assert token.startswith("sr_inv_")
    dump = json.dumps(_scan_all(stack))
    assert token not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_health_is_503_when_kms_fails(invoke: Invoke, stack: LocalStack) -> None:
    kms = aws.kms()
    key_id = stack.resources.refs["ServiceKey"]  # type: ignore[union-attr]
    kms.disable_key(KeyId=key_id)
    try:
        response = invoke("HealthFunction", load_event("health_get"))
    finally:
        kms.enable_key(KeyId=key_id)
    assert response["statusCode"] == 503
    assert body_of(response)["checks"] == {"dynamodb": "ok", "kms": "fail"}
    assert invoke("HealthFunction", load_event("health_get"))["statusCode"] == 200


def test_health_is_503_when_dynamodb_fails(invoke: Invoke) -> None:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("describe_table", service_error_code="InternalServerError", http_status_code=500)
        aws.override("dynamodb", client)
        try:
            response = invoke("HealthFunction", load_event("health_get"))
        finally:
            aws.reset()
    assert response["statusCode"] == 503
    assert body_of(response)["checks"] == {"dynamodb": "fail", "kms": "ok"}


@pytest.mark.parametrize("error_code", ["ProvisionedThroughputExceededException", "InternalServerError"])
def test_datastore_failures_map_to_the_envelope(invoke: Invoke, error_code: str) -> None:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("get_item", service_error_code=error_code, http_status_code=400)
        aws.override("dynamodb", client)
        try:
            response = invoke("IdentityFunction", load_event("identity_get_me", headers=_user()))
        finally:
            aws.reset()
    expected = 429 if error_code.startswith("Provisioned") else 503
    assert response["statusCode"] == expected
    assert "Traceback" not in response["body"]
    assert body_of(response)["error"]["request_id"]


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v2/nothing", 404, None),
        ("PUT", "/v1/orgs/acme", 405, "DELETE, GET, PATCH"),
        ("POST", "/health", 405, "GET"),
        ("GET", "/v1/orgs/acme/projects/web/environments/dev/extra", 404, None),
    ],
)
def test_default_route_answers_unmatched_requests_in_the_envelope(
    invoke: Invoke, method: str, path: str, status: int, allow: str | None
) -> None:
    # What API Gateway sends the $default route's function when no route matches.
    event = load_event("health_get", routeKey="$default", rawPath=path)
    event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["http"].update(method=method, path=path)
    response = invoke("HealthFunction", event)
    assert response["statusCode"] == status
    assert response["headers"].get("Allow") == allow
    assert body_of(response)["error"]["request_id"] == event["requestContext"]["requestId"]
