"""The local server behaves like API Gateway + Lambda: real sockets, the error envelope, routing."""

from __future__ import annotations

import pytest

from strongroom_local.server import redact_path
from support import Api

pytestmark = pytest.mark.http


def test_health_checks_dynamodb_and_kms(api: Api) -> None:
    status, headers, body = api("GET", "/health")
    assert status == 200
    assert body["checks"] == {"dynamodb": "ok", "kms": "ok"}
    assert headers["x-request-id"]


def test_unknown_route_is_404_in_the_envelope(api: Api) -> None:
    status, headers, body = api("GET", "/v1/nothing-here")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == headers["x-request-id"]


def test_wrong_method_is_405_with_allow(api: Api) -> None:
    status, headers, body = api("DELETE", "/health")
    assert status == 405
    assert headers["allow"] == "GET"
    assert body["error"]["code"] == "method_not_allowed"
    assert body["error"]["details"]["allowed"] == ["GET"]
    assert body["error"]["request_id"]


def test_wrong_method_on_a_parameterised_route(api: Api) -> None:
    status, headers, _ = api("PUT", "/v1/orgs/acme", user="x@example.com")
    assert status == 405
    assert set(headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


def test_openapi_and_swagger_ui_are_served(api: Api) -> None:
    status, _, doc = api("GET", "/openapi.json")
    assert status == 200
    assert "/v1/orgs" in doc["paths"]
    status, headers, page = api("GET", "/docs")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert "swagger" in page.lower()


def test_invitation_tokens_are_redacted_from_access_lines() -> None:
    assert redact_path("/v1/invitations/sr_inv_secret/accept") == "/v1/invitations/***/accept"
    assert redact_path("/v1/orgs/acme") == "/v1/orgs/acme"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "application/merge-patch+json"],
)
def test_a_body_that_is_not_declared_json_is_415(api: Api, content_type: str) -> None:
    status, _, body = api(
        "POST", "/v1/orgs", user="ct@example.com", body=b'{"name": "Acme"}', headers={"Content-Type": content_type}
    )
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    assert body["error"]["request_id"]


def test_json_with_parameters_is_accepted(api: Api) -> None:
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        status, _, _ = api(
            "POST",
            "/v1/orgs",
            user="ct2@example.com",
            body=b'{"name": "Acme Json"}',
            headers={"Content-Type": content_type},
        )
        assert status in {201, 409}
