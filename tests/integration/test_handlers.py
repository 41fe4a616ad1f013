"""The Lambda handlers with the sample events of events/: the error envelope, idempotency, and
where one-time secrets (invitation tokens) end up in the table: nowhere but as their hash."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest
from botocore.stub import Stubber

from integration.conftest import Invoke, body_of, dev_user, entity, items_containing, load_event, plain, scan_all
from strongroom import aws
from strongroom.data import chain
from strongroom_local import LocalStack
from support import query_partition


def _request_id(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["requestId"])


def _assert_envelope(response: dict[str, Any], event: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    error = body_of(response)["error"]
    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"] == "application/json"
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == _request_id(event)
    assert response["headers"]["X-Request-Id"] == _request_id(event)
    assert "Traceback" not in response["body"]
    return dict(error)


def _orgs_created_by(stack: LocalStack, user_id: str) -> list[dict[str, Any]]:
    """Every org item anywhere in the table created by `user_id` (a scan: the tests using it are
    `isolated`, so the table holds only their items)."""
    return [i for i in scan_all(stack) if entity(i) == "org" and i.get("created_by", {}).get("S") == user_id]


def _me(invoke: Invoke, user: dict[str, str]) -> dict[str, Any]:
    response = invoke("IdentityFunction", load_event("identity_get_me", headers=user))
    assert response["statusCode"] == 200
    return dict(body_of(response))


# --------------------------------------------------------------------------- sample events


def test_the_sample_events_create_and_list_an_org_and_a_project(invoke: Invoke) -> None:
    user, slug = dev_user(), f"it-{secrets.token_hex(4)}"
    created = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "It", "slug": slug}))
    assert created["statusCode"] == 201
    assert {k: body_of(created)[k] for k in ("name", "slug", "role")} == {"name": "It", "slug": slug, "role": "owner"}
    listed = invoke("OrgsFunction", load_event("orgs_list", headers=user))
    assert [o["id"] for o in body_of(listed)["data"]] == [body_of(created)["id"]]
    project = invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    assert project["statusCode"] == 201
    environments = body_of(project)["environments"]
    assert [(e["slug"], e["production"]) for e in environments] == [
        ("development", False),
        ("staging", False),
        ("production", True),
    ]
    projects = invoke("ProjectsFunction", load_event("projects_list", headers=user, path_parameters={"org": slug}))
    assert [p["id"] for p in body_of(projects)["data"]] == [body_of(project)["id"]]


def test_the_sample_events_list_tokens_and_pull_with_one(invoke: Invoke) -> None:
    user, slug = dev_user(), f"it-{secrets.token_hex(4)}"
    assert (
        invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "It", "slug": slug}))["statusCode"]
        == 201
    )
    invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    body = {"name": "ci", "project": "web", "environment": "staging"}
    created = invoke(
        "TokensFunction",
        load_event(
            "tokens_list", headers=user, routeKey="POST /v1/orgs/{org}/tokens", body=body, path_parameters={"org": slug}
        ),
    )
    assert created["statusCode"] == 201, created
    listed = invoke("TokensFunction", load_event("tokens_list", headers=user, path_parameters={"org": slug}))
    assert [t["id"] for t in body_of(listed)["data"]] == [body_of(created)["id"]]
    pulled = invoke(
        "RuntimeFunction",
        load_event("runtime_secrets", headers={"authorization": f"Bearer {body_of(created)['token']}"}),
    )
    assert (pulled["statusCode"], body_of(pulled)["secrets"]) == (200, {})
    refused = invoke("RuntimeFunction", load_event("runtime_secrets"))
    assert refused["statusCode"] == 401


def test_health_is_public_and_ok(invoke: Invoke) -> None:
    event = load_event("health_get")
    assert not any(h in event["headers"] for h in ("authorization", "x-strongroom-dev-user"))
    response = invoke("HealthFunction", event)
    assert response["statusCode"] == 200
    assert body_of(response)["checks"] == {"dynamodb": "ok", "kms": "ok"}
    assert response["headers"]["X-Request-Id"] == _request_id(event)


# --------------------------------------------------------------------------- error envelope


def test_an_unknown_body_field_is_400_naming_the_field(invoke: Invoke) -> None:
    event = load_event("orgs_create", headers=dev_user(), body={"name": "X", "role": "owner", "id": "org_x"})
    error = _assert_envelope(invoke("OrgsFunction", event), event, 400, "validation_error")
    assert sorted((f["field"], f["location"], f["issue"]) for f in error["details"]["fields"]) == [
        ("id", "body", "unknown field"),
        ("role", "body", "unknown field"),
    ]


def test_an_unknown_field_of_a_project_is_400_naming_it(invoke: Invoke) -> None:
    user, slug = dev_user(), f"uf-{secrets.token_hex(4)}"
    invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Uf", "slug": slug}))
    event = load_event(
        "projects_create", headers=user, path_parameters={"org": slug}, body={"name": "Web", "org_id": "org_x"}
    )
    error = _assert_envelope(invoke("ProjectsFunction", event), event, 400, "validation_error")
    assert [f["field"] for f in error["details"]["fields"]] == ["org_id"]


@pytest.mark.parametrize("body", ["{name: nope", '{"name": "A"', "nul", "{'name': 'A'}", '{"name": "A"} trailing'])
def test_a_non_json_body_is_400_invalid_json(invoke: Invoke, body: str) -> None:
    event = load_event("orgs_create", headers=dev_user(), body=body)
    _assert_envelope(invoke("OrgsFunction", event), event, 400, "invalid_json")


@pytest.mark.parametrize(
    "raw", [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"name": "\xed\xa0\x80"}'], ids=["ff-fe", "bad-2-byte", "surrogate"]
)
def test_a_non_utf8_body_is_400(invoke: Invoke, raw: bytes) -> None:
    event = load_event("orgs_create", headers=dev_user(), body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    _assert_envelope(invoke("OrgsFunction", event), event, 400, "invalid_body")


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\ud800b"}',  # a lone high surrogate, as a JSON escape
        '{"name": "\\udc00"}',  # a lone low surrogate
        '{"name": "A", "\\ud83d": 1}',  # half a pair, in a key
        '{"name": "A", "tags": [{"x": ["\\udfff"]}]}',  # nested
    ],
    ids=["high", "low", "key", "nested"],
)
def test_a_lone_surrogate_anywhere_in_a_json_body_is_400(invoke: Invoke, body: str) -> None:
    event = load_event("orgs_create", headers=dev_user(), body=body)
    error = _assert_envelope(invoke("OrgsFunction", event), event, 400, "invalid_body")
    assert error["details"]["fields"] == [{"field": "", "location": "body", "issue": "lone surrogate"}]


def test_a_lone_surrogate_in_a_secret_value_is_400(invoke: Invoke) -> None:
    user, slug = dev_user(), f"sg-{secrets.token_hex(4)}"
    invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Sg", "slug": slug}))
    invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    params = {"org": slug, "project": "web", "env": "development", "key": "K"}
    event = load_event("secrets_put", headers=user, path_parameters=params, body='{"value": "\\ud800"}')
    _assert_envelope(invoke("SecretsFunction", event), event, 400, "invalid_body")
    # an escaped pair is one character, and fine
    good = load_event("secrets_put", headers=user, path_parameters=params, body='{"value": "\\ud83d\\ude00"}')
    assert invoke("SecretsFunction", good)["statusCode"] == 200


@pytest.mark.parametrize("depth", [33, 100_000], ids=["past-the-limit", "past-the-parser"])
def test_a_deeply_nested_json_body_is_400(invoke: Invoke, depth: int, capfd: pytest.CaptureFixture[str]) -> None:
    event = load_event("orgs_create", headers=dev_user(), body='{"name": ' + "[" * depth + "]" * depth + "}")
    error = _assert_envelope(invoke("OrgsFunction", event), event, 400, "json_too_deep")
    assert error["details"]["fields"] == [{"field": "", "location": "body", "issue": "nested deeper than 32 levels"}]
    assert "authentication failed" not in capfd.readouterr().out


def test_32_levels_of_json_are_read(invoke: Invoke) -> None:
    depth = 31  # the body object is the first level
    event = load_event("orgs_create", headers=dev_user(), body='{"name": ' + "[" * depth + "]" * depth + "}")
    _assert_envelope(invoke("OrgsFunction", event), event, 400, "validation_error")  # read, then refused by the model


def test_a_json_import_whose_content_holds_a_lone_surrogate_is_4xx(invoke: Invoke) -> None:
    user, slug = dev_user(), f"im-{secrets.token_hex(4)}"
    invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Im", "slug": slug}))
    invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    event = load_event(
        "secrets_put",
        headers=user,
        routeKey="POST /v1/orgs/{org}/projects/{project}/environments/{env}/import",
        path_parameters={"org": slug, "project": "web", "env": "development"},
        body={"format": "json", "content": '{"A": "\\ud800"}'},
    )
    _assert_envelope(invoke("SecretsFunction", event), event, 422, "invalid_content")


def test_a_body_that_is_not_base64_although_flagged_so_is_400(invoke: Invoke) -> None:
    event = load_event("orgs_create", headers=dev_user(), body="not base64 at all!", isBase64Encoded=True)
    _assert_envelope(invoke("OrgsFunction", event), event, 400, "invalid_body")


def test_a_base64_encoded_utf8_json_body_is_accepted(invoke: Invoke) -> None:
    slug = f"b64-{secrets.token_hex(4)}"
    raw = f'{{"name": "Çafé", "slug": "{slug}"}}'.encode()
    event = load_event("orgs_create", headers=dev_user(), body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    response = invoke("OrgsFunction", event)
    assert response["statusCode"] == 201
    assert (body_of(response)["name"], body_of(response)["slug"]) == ("Çafé", slug)


def test_validation_errors_never_echo_the_input(invoke: Invoke) -> None:
    canary = "canary-" + secrets.token_hex(8)
    event = load_event("orgs_create", headers=dev_user(), body={"name": canary + "\x01"})
    error = _assert_envelope(invoke("OrgsFunction", event), event, 400, "validation_error")
    assert [f["field"] for f in error["details"]["fields"]] == ["name"]
    assert canary not in invoke("OrgsFunction", event)["body"]


# --------------------------------------------------------------------------- idempotency


@pytest.mark.isolated
def test_the_same_idempotency_key_and_body_replay_the_first_response(invoke: Invoke, stack: LocalStack) -> None:
    user, key = dev_user(), secrets.token_hex(8)
    me = _me(invoke, user)
    body = {"name": f"Idem {key}"}  # no slug: the slug is derived, so a second create would not collide on it
    first = invoke("OrgsFunction", load_event("orgs_create", headers={**user, "idempotency-key": key}, body=body))
    again = invoke("OrgsFunction", load_event("orgs_create", headers={**user, "idempotency-key": key}, body=body))
    assert first["statusCode"] == 201
    assert "Idempotent-Replayed" not in first["headers"]
    assert again["statusCode"] == 201
    assert again["headers"].get("Idempotent-Replayed") == "true"
    assert body_of(again) == body_of(first)
    # One org, one membership, one audit event: the retry wrote nothing.
    org_id = body_of(first)["id"]
    assert [o["id"]["S"] for o in _orgs_created_by(stack, me["id"])] == [org_id]
    created = [i for i in query_partition(stack, f"AUDIT#{org_id}") if entity(i) == "audit_event"]
    assert [i["action"]["S"] for i in created] == ["org.created"]
    listed = invoke("OrgsFunction", load_event("orgs_list", headers=user))
    assert [o["id"] for o in body_of(listed)["data"]] == [org_id]


@pytest.mark.isolated
def test_the_same_idempotency_key_with_another_body_is_422(invoke: Invoke, stack: LocalStack) -> None:
    user, key = dev_user(), secrets.token_hex(8)
    me = _me(invoke, user)
    first = invoke(
        "OrgsFunction", load_event("orgs_create", headers={**user, "idempotency-key": key}, body={"name": "One"})
    )
    event = load_event("orgs_create", headers={**user, "idempotency-key": key}, body={"name": "Two"})
    other = invoke("OrgsFunction", event)
    assert first["statusCode"] == 201
    _assert_envelope(other, event, 422, "idempotency_key_reused")
    assert [o["id"]["S"] for o in _orgs_created_by(stack, me["id"])] == [body_of(first)["id"]]


@pytest.mark.isolated
def test_an_idempotency_key_is_per_caller(invoke: Invoke, stack: LocalStack) -> None:
    key, body = secrets.token_hex(8), {"name": "Shared key"}
    alice, bob = dev_user(), dev_user()
    first = invoke("OrgsFunction", load_event("orgs_create", headers={**alice, "idempotency-key": key}, body=body))
    theirs = invoke(
        "OrgsFunction",
        load_event("orgs_create", headers={**bob, "idempotency-key": key}, body={**body, "slug": f"b-{key}"}),
    )
    same_body = invoke("OrgsFunction", load_event("orgs_create", headers={**bob, "idempotency-key": key}, body=body))
    assert first["statusCode"] == 201
    # Bob's request is his own: neither a replay of Alice's org nor a 422.
    assert theirs["statusCode"] == 201
    assert "Idempotent-Replayed" not in theirs["headers"]
    assert body_of(theirs)["id"] != body_of(first)["id"]
    assert same_body["statusCode"] == 422  # Bob reused *his* key with another body
    assert len(_orgs_created_by(stack, _me(invoke, bob)["id"])) == 1


# --------------------------------------------------------------------------- invitation tokens


def _invite(invoke: Invoke, owner: dict[str, str], slug: str, email: str, key: str) -> tuple[dict[str, Any], Any]:
    event = load_event(
        "orgs_create",
        routeKey="POST /v1/orgs/{org}/invitations",
        path_parameters={"org": slug},
        headers={**owner, "idempotency-key": key},
        body={"email": email, "role": "developer"},
    )
    response = invoke("OrgsFunction", event)
    return response, body_of(response)


@pytest.mark.isolated  # the token and its hash: nowhere else in the table
def test_an_invitation_token_is_stored_only_as_its_hash(invoke: Invoke, stack: LocalStack) -> None:
    owner, slug, key = dev_user(), f"inv-{secrets.token_hex(4)}", secrets.token_hex(8)
    guest = f"guest-{secrets.token_hex(4)}@example.com"
    assert (
        invoke("OrgsFunction", load_event("orgs_create", headers=owner, body={"name": "I", "slug": slug}))["statusCode"]
        == 201
    )
    response, invitation = _invite(invoke, owner, slug, guest, key)
    assert response["statusCode"] == 201
    token = invitation["token"]
    assert token.startswith("sr_inv_")
    assert len(token) >= len("sr_inv_") + 32
    digest = hashlib.sha256(token.encode()).hexdigest()

    # The idempotency record of that request exists, and does not hold the token.
    records = [i for i in scan_all(stack) if i["PK"]["S"].startswith("IDEMPOTENCY#")]
    kept = [r for r in records if invitation["id"] in str(plain(r.get("idempotency_data", {"S": ""})))]
    assert len(kept) == 1
    assert items_containing(stack, token) == []
    # Its hash is what is stored: on the invitation and on the token pointer, nowhere else.
    holders = sorted(entity(i) for i in items_containing(stack, digest))
    assert holders == ["invitation", "invitation_token"]

    # A retry gets the first response back, with the one-time token redacted.
    replay, replayed = _invite(invoke, owner, slug, guest, key)
    assert replay["statusCode"] == 201
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert replayed["id"] == invitation["id"]
    assert replayed["token"] != token
    assert token not in replay["body"]


@pytest.mark.isolated  # scans the whole table: only this test's items
def test_accepting_an_invitation_stores_the_token_nowhere(invoke: Invoke, stack: LocalStack) -> None:
    owner, slug = dev_user(), f"acc-{secrets.token_hex(4)}"
    guest = f"guest-{secrets.token_hex(4)}@example.com"
    invoke("OrgsFunction", load_event("orgs_create", headers=owner, body={"name": "A", "slug": slug}))
    response, invitation = _invite(invoke, owner, slug, guest, secrets.token_hex(8))
    assert response["statusCode"] == 201
    token = invitation["token"]
    accept = load_event(
        "orgs_create",
        routeKey="POST /v1/invitations/{token}/accept",
        path_parameters={"token": token},
        headers={"x-strongroom-dev-user": guest, "idempotency-key": secrets.token_hex(8)},
        body="{}",
    )
    accepted = invoke("OrgsFunction", accept)
    assert accepted["statusCode"] == 200, accepted["body"]
    assert body_of(accepted)["org"]["slug"] == slug
    assert body_of(accepted)["org"]["role"] == "developer"
    # The token travelled in the path (and into the idempotency scope): still not in the table.
    assert items_containing(stack, token) == []
    members = invoke(
        "OrgsFunction",
        load_event("orgs_list", routeKey="GET /v1/orgs/{org}/members", path_parameters={"org": slug}, headers=owner),
    )
    assert sorted((m["email"], m["role"]) for m in body_of(members)["data"]) == sorted(
        [(guest, "developer"), (_me(invoke, owner)["email"], "owner")]
    )


# --------------------------------------------------------------------------- failures of AWS


def test_health_is_503_when_kms_fails(invoke: Invoke, stack: LocalStack) -> None:
    assert stack.resources is not None
    kms = aws.kms()
    key_id = stack.resources.refs["ServiceKey"]
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


@pytest.mark.parametrize(
    ("error_code", "status", "code"),
    [
        ("ProvisionedThroughputExceededException", 429, "rate_limited"),
        ("InternalServerError", 503, "service_unavailable"),
    ],
)
def test_data_store_failures_map_to_the_envelope(invoke: Invoke, error_code: str, status: int, code: str) -> None:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(3):  # the caller's read-ahead (data/readahead.py) is the request's first read
            stub.add_client_error("batch_get_item", service_error_code=error_code, http_status_code=400)
        aws.override("dynamodb", client)
        try:
            event = load_event("identity_get_me", headers=dev_user())
            response = invoke("IdentityFunction", event)
        finally:
            aws.reset()
    _assert_envelope(response, event, status, code)


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v2/nothing", 404, None),
        ("PUT", "/v1/orgs/acme", 405, "DELETE, GET, PATCH"),
        ("POST", "/health", 405, "GET"),
        ("GET", "/v1/orgs/acme/projects/web/environments/dev/extra", 404, None),
    ],
)
def test_the_default_route_answers_unmatched_requests_in_the_envelope(
    invoke: Invoke, method: str, path: str, status: int, allow: str | None
) -> None:
    # What API Gateway sends the $default route's function when no route matches.
    event = load_event("health_get", routeKey="$default", rawPath=path)
    event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["http"].update(method=method, path=path)
    response = invoke("HealthFunction", event)
    assert response["statusCode"] == status
    assert response["headers"].get("Allow") == allow
    assert body_of(response)["error"]["request_id"] == _request_id(event)


def test_each_business_event_is_one_cloudwatch_metric_named_by_its_action(
    invoke: Invoke, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given metrics on (the local stack turns them off) and a mutation (an org created: one audit
    # event, org.created), then a read (no event)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    user, slug = dev_user(), f"it-{secrets.token_hex(4)}"
    capfd.readouterr()
    created = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "It", "slug": slug}))
    assert created["statusCode"] == 201
    out = capfd.readouterr().out
    listed = invoke("OrgsFunction", load_event("orgs_list", headers=user))
    assert listed["statusCode"] == 200
    read_out = capfd.readouterr().out
    # Then the mutation's request flushed one EMF document with OrgCreated = [1], the read's none
    blobs = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    named = [b for b in blobs if "OrgCreated" in b]
    assert len(named) == 1, blobs
    assert named[0]["OrgCreated"] in (1, 1.0, [1.0])
    definitions = [m["Name"] for d in named[0]["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert "OrgCreated" in definitions
    assert "OrgCreated" not in read_out


@pytest.mark.parametrize(
    ("action", "name"),
    [("org.created", "OrgCreated"), ("user.2fa_enabled", "User2faEnabled"), ("secrets.changed", "SecretsChanged")],
)
def test_a_metric_is_named_by_its_event(action: str, name: str) -> None:
    assert chain.metric_name(action) == name
