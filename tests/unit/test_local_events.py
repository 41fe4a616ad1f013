"""The local gateway builds API Gateway HTTP API payload-v2.0 events and reads v2.0 results."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from strongroom_local.events import HttpRequest, LambdaContext, build_event, new_request_id, to_response
from strongroom_local.template import Function

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = datetime(2026, 11, 22, 23, 0, 0, tzinfo=UTC)


def request(**changes: object) -> HttpRequest:
    fields: dict[str, object] = {
        "method": "GET",
        "path": "/v1/orgs/acme/members/u1",
        "query": "",
        "headers": [("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8.5.0")],
        "body": b"",
        "source_ip": "10.1.2.3",
        "port": 3000,
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


def event_for(req: HttpRequest, params: dict[str, str] | None = None) -> dict[str, object]:
    return build_event(
        req, "GET /v1/orgs/{org}/members/{user}", params or {"org": "acme", "user": "u1"}, "req-1", now=NOW
    )


def test_event_has_exactly_the_v2_shape() -> None:
    event = event_for(request())
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/orgs/{org}/members/{user}"
    assert event["rawPath"] == "/v1/orgs/acme/members/u1"
    assert event["rawQueryString"] == ""
    assert event["pathParameters"] == {"org": "acme", "user": "u1"}
    assert event["isBase64Encoded"] is False
    # Absent, not empty, when there is nothing to carry (as API Gateway sends them).
    for absent in ("body", "cookies", "queryStringParameters", "stageVariables"):
        assert absent not in event
    assert event["requestContext"] == {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "127",
        "http": {
            "method": "GET",
            "path": "/v1/orgs/acme/members/u1",
            "protocol": "HTTP/1.1",
            "sourceIp": "10.1.2.3",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "req-1",
        "routeKey": "GET /v1/orgs/{org}/members/{user}",
        "stage": "$default",
        "time": "22/Nov/2026:23:00:00 +0000",
        "timeEpoch": int(NOW.timestamp() * 1000),
    }


def test_event_has_the_keys_of_the_committed_sample_event() -> None:
    sample = json.loads((EVENTS / "health_get.json").read_text(encoding="utf-8"))
    event = build_event(request(path="/health"), "GET /health", {}, "r", now=NOW)
    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert set(event["requestContext"]["http"]) == set(sample["requestContext"]["http"])


def test_headers_are_lower_cased_and_repeated_ones_comma_joined() -> None:
    event = event_for(
        request(headers=[("Accept", "text/html"), ("X-Custom", "a"), ("x-custom", "b"), ("ACCEPT", "application/json")])
    )
    headers = event["headers"]
    assert isinstance(headers, dict)
    assert headers["accept"] == "text/html,application/json"
    assert headers["x-custom"] == "a,b"
    assert all(name == name.lower() for name in headers)


def test_api_gateway_adds_forwarding_headers_with_the_real_peer() -> None:
    plain = event_for(request())["headers"]
    assert isinstance(plain, dict)
    assert plain["x-forwarded-for"] == "10.1.2.3"
    assert plain["x-forwarded-proto"] == "http"
    assert plain["x-forwarded-port"] == "3000"
    proxied = event_for(request(headers=[("X-Forwarded-For", "198.51.100.7")]))["headers"]
    assert isinstance(proxied, dict)
    assert proxied["x-forwarded-for"] == "198.51.100.7, 10.1.2.3"


def test_cookies_move_out_of_the_headers() -> None:
    event = event_for(request(headers=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")]))
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]  # type: ignore[operator]


def test_query_parameters_are_decoded_and_repeated_ones_comma_joined() -> None:
    event = event_for(request(query="limit=5&tag=a&tag=b%20c&empty="))
    assert event["rawQueryString"] == "limit=5&tag=a&tag=b%20c&empty="
    assert event["queryStringParameters"] == {"limit": "5", "tag": "a,b c", "empty": ""}


def test_http_api_delivers_the_path_decoded() -> None:
    event = build_event(request(path="/v1/orgs/caf%C3%A9"), "GET /v1/orgs/{org}", {"org": "café"}, "r")
    assert event["rawPath"] == "/v1/orgs/café"
    assert event["requestContext"]["http"]["path"] == "/v1/orgs/café"  # type: ignore[index]


def test_a_utf8_body_is_text_and_anything_else_is_base64() -> None:
    text = event_for(request(method="POST", body='{"name": "Çafé"}'.encode()))
    assert text["body"] == '{"name": "Çafé"}'
    assert text["isBase64Encoded"] is False
    raw = b"\xff\xfe\x00binary"
    binary = event_for(request(method="POST", body=raw))
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(str(binary["body"])) == raw


def test_powertools_reads_the_event_as_api_gateway_sent_it() -> None:
    event = APIGatewayProxyEventV2(
        event_for(
            request(
                method="POST",
                query="a=1",
                headers=[("Content-Type", "application/json"), ("Cookie", "s=1"), ("User-Agent", "ua")],
                body=b'{"x": 1}',
            )
        )
    )
    assert event.http_method == "POST"
    assert event.path == "/v1/orgs/acme/members/u1"
    assert event.route_key == "GET /v1/orgs/{org}/members/{user}"
    assert event.path_parameters == {"org": "acme", "user": "u1"}
    assert event.query_string_parameters == {"a": "1"}
    assert event.cookies == ["s=1"]
    assert event.json_body == {"x": 1}
    assert event.request_context.http.source_ip == "10.1.2.3"
    assert event.request_context.request_id == "req-1"
    assert event.request_context.stage == "$default"


def test_request_ids_look_like_api_gateway_ones_and_differ() -> None:
    ids = {new_request_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 16 and i.endswith("=") for i in ids)


def test_lambda_context_has_what_handlers_read() -> None:
    fn = Function(
        logical_id="OrgsFunction", code_uri=Path("."), handler="orgs_api.app.lambda_handler", timeout=2, memory_size=512
    )
    ctx = LambdaContext(fn)
    assert ctx.function_name == "strongroom-local-OrgsFunction"
    assert ctx.memory_limit_in_mb == 512
    assert ctx.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:strongroom-local-OrgsFunction"
    assert ctx.aws_request_id != LambdaContext(fn).aws_request_id
    remaining = ctx.get_remaining_time_in_millis()
    assert 1500 < remaining <= 2000
    time.sleep(0.05)
    assert ctx.get_remaining_time_in_millis() < remaining


def test_result_becomes_the_http_response() -> None:
    response = to_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Request-Id": "r"},
            "cookies": ["a=1; HttpOnly", "b=2"],
            "body": '{"ok": true}',
            "isBase64Encoded": False,
        }
    )
    assert response.status == 201
    assert response.body == b'{"ok": true}'
    assert response.header("x-request-id") == "r"
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1; HttpOnly", "b=2"]


def test_base64_results_are_decoded() -> None:
    response = to_response({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True})
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize("result", [{"hello": "world"}, ["a", 1], "text"])
def test_a_result_without_status_code_is_inferred_as_200_json(result: object) -> None:
    response = to_response(result)
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == result
