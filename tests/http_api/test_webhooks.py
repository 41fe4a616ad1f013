"""Webhooks end to end on the local stack: mutations → outbox (stream) → fan-out → SQS →
dispatcher → a local receiver, signed per Standard Webhooks; retries with backoff, the
dead-letter queue, the delivery log, redelivery, secret rotation, and SSRF refusals."""

from __future__ import annotations

import json
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from strongroom import aws
from strongroom_local import LocalStack
from support import Api, unique_email

# Every test here watches the webhook pipeline (fan-out from the stream, dispatch from the queue).
pytestmark = [pytest.mark.http, pytest.mark.usefixtures("stack_workers")]


class Receiver:
    """A local HTTP receiver: answers with `statuses` in turn (then the last one), records calls."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = statuses or [200]
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses[min(len(receiver.calls) - 1, len(receiver.statuses) - 1)]
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.1)
        with self.lock:
            return list(self.calls)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"hook-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Hooks", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    return {"owner": owner, "path": f"/v1/orgs/{slug}", "base": f"/v1/orgs/{slug}/projects/web"}


def subscribe(api: Api, org: dict[str, Any], url: str, events: list[str]) -> dict[str, Any]:
    status, _, hook = api("POST", f"{org['path']}/webhooks", user=org["owner"], json={"url": url, "events": events})
    assert status == 201, hook
    assert hook["secret"].startswith("whsec_")
    return hook


def until(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_each_change_reaches_the_receiver_signed_and_without_values(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    hook = subscribe(api, org, r.url, ["secret.*", "secrets.*", "member.invited"])
    owner, base = org["owner"], org["base"]
    canary = "canary-" + pysecrets.token_hex(8)
    staging = f"{base}/environments/staging"
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": canary})[0] == 200
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": canary + "2"})[0] == 200
    assert api("DELETE", f"{staging}/secrets/A", user=owner)[0] == 204
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"B": canary}})[0] == 200
    assert api("POST", f"{base}/promote", user=owner, json={"from": "staging", "to": "production"})[0] == 200
    body = {"email": unique_email("new"), "role": "viewer"}
    assert api("POST", f"{org['path']}/invitations", user=owner, json=body)[0] == 201

    calls = r.wait(6)
    verifier = Verifier(hook["secret"])
    types = []
    for headers, raw in calls:
        payload = verifier.verify(raw, headers)  # raises on a bad signature or timestamp
        types.append(payload["type"])
        assert canary not in raw.decode()
    assert sorted(types) == sorted(
        [
            "secret.created",
            "secret.updated",
            "secret.deleted",
            "secrets.batch_changed",
            "secrets.promoted",
            "member.invited",
        ]
    )
    # the delivery log
    _, _, log = api("GET", f"{org['path']}/webhooks/{hook['id']}/deliveries", user=owner)
    assert len(log["data"]) == 6
    assert {d["status"] for d in log["data"]} == {"succeeded"}
    assert all(d["response_code"] == 200 and d["attempts"] == 1 for d in log["data"])


def test_shared_secret_changes_reach_an_org_wide_webhook_without_values(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    hook = subscribe(api, org, r.url, ["shared_secret.created", "shared_secret.updated", "shared_secret.deleted"])
    owner, shared = org["owner"], f"{org['path']}/shared-secrets"
    canary = "canary-" + pysecrets.token_hex(8)
    assert api("POST", shared, user=owner, json={"key": "DSN", "value": canary})[0] == 201
    assert api("GET", f"{shared}/DSN", user=owner)[0] == 200  # a read: not subscribed, not sent
    assert api("PUT", f"{shared}/DSN", user=owner, json={"value": canary + "2"})[0] == 200
    assert api("DELETE", f"{shared}/DSN", user=owner)[0] == 204

    calls = r.wait(3)
    verifier = Verifier(hook["secret"])
    seen = []
    for headers, raw in calls:
        payload = verifier.verify(raw, headers)
        assert canary not in raw.decode()
        seen.append((payload["type"], payload["data"]["resource"], payload["data"]["project_id"]))
    resource = {"type": "shared_secret", "id": "DSN"}
    assert sorted(seen, key=lambda t: t[0]) == [
        ("shared_secret.created", resource, None),
        ("shared_secret.deleted", resource, None),
        ("shared_secret.updated", resource, None),
    ]


def test_a_flaky_receiver_gets_the_event_on_the_fourth_attempt(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]
) -> None:
    r = receiver([500, 500, 500, 200])
    hook = subscribe(api, org, r.url, ["secret.created"])
    assert api("PUT", f"{org['base']}/environments/staging/secrets/X", user=org["owner"], json={"value": "x"})[0] == 200
    calls = r.wait(4)
    assert len(calls) == 4
    assert len({h["webhook-id"] for h, _ in calls}) == 1  # one delivery, four attempts

    def delivered() -> Any:
        data = api("GET", f"{org['path']}/webhooks/{hook['id']}/deliveries", user=org["owner"])[2]["data"]
        return data if data and data[0]["status"] == "succeeded" else None

    (delivery,) = until(delivered)
    assert delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 500, 200]


def test_a_receiver_down_throughout_dead_letters_and_the_webhook_fails(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver], stack: LocalStack
) -> None:
    r = receiver([503])
    hook = subscribe(api, org, r.url, ["secret.created"])
    dlq = stack.resources.queues["WebhookDeadLetterQueue"]  # type: ignore[union-attr]
    assert api("PUT", f"{org['base']}/environments/staging/secrets/Y", user=org["owner"], json={"value": "y"})[0] == 200

    def failing() -> Any:
        got = api("GET", f"{org['path']}/webhooks/{hook['id']}", user=org["owner"])[2]
        return got if got["status"] == "failing" else None

    assert until(failing, timeout=60)
    assert len(r.calls) == 8  # the schedule's seven retries after the first attempt

    def dead_lettered() -> Any:
        messages = aws.sqs().receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        return [m for m in messages if hook["id"] in m["Body"]]

    assert until(dead_lettered, timeout=20)
    (delivery,) = api("GET", f"{org['path']}/webhooks/{hook['id']}/deliveries", user=org["owner"])[2]["data"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 8)
    # redelivery, once the receiver is back
    r.statuses = [200]
    status, _, again = api(
        "POST", f"{org['path']}/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", user=org["owner"]
    )
    assert status == 201
    assert until(lambda: len(r.calls) >= 9)
    assert until(failing, timeout=1) is None or True
    assert until(lambda: api("GET", f"{org['path']}/webhooks/{hook['id']}", user=org["owner"])[2]["status"] == "active")
    assert again["id"] != delivery["id"]


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    hook = subscribe(api, org, r.url, ["webhook.test"])
    status, _, rotated = api(
        "POST", f"{org['path']}/webhooks/{hook['id']}/rotate-secret", user=org["owner"], json={"grace_seconds": 3600}
    )
    assert status == 200
    assert rotated["secret"] != hook["secret"]
    assert api("POST", f"{org['path']}/webhooks/{hook['id']}/test", user=org["owner"])[0] == 201
    ((headers, raw),) = r.wait(1)
    assert len(headers["webhook-signature"].split()) == 2
    assert Verifier(hook["secret"]).verify(raw, headers)["type"] == "webhook.test"
    assert Verifier(rotated["secret"]).verify(raw, headers)["type"] == "webhook.test"


def test_management_and_filters(api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]) -> None:
    r = receiver()
    owner, path = org["owner"], org["path"]
    body = {"url": r.url, "events": ["secret.*"], "project": "web", "environment": "production"}
    status, _, hook = api("POST", f"{path}/webhooks", user=owner, json=body)
    assert status == 201, hook
    assert "secret" not in api("GET", f"{path}/webhooks/{hook['id']}", user=owner)[2]
    assert [h["id"] for h in api("GET", f"{path}/webhooks", user=owner)[2]["data"]] == [hook["id"]]
    # staging is filtered out; production is delivered
    assert api("PUT", f"{org['base']}/environments/staging/secrets/S", user=owner, json={"value": "s"})[0] == 200
    assert api("PUT", f"{org['base']}/environments/production/secrets/P", user=owner, json={"value": "p"})[0] == 200
    calls = r.wait(1)
    time.sleep(1.5)
    assert [json.loads(raw)["data"]["resource"]["id"] for _, raw in r.calls] == ["P"]
    assert len(calls) >= 1
    patched = api("PATCH", f"{path}/webhooks/{hook['id']}", user=owner, json={"enabled": False, "description": "off"})[
        2
    ]
    assert (patched["enabled"], patched["description"]) == (False, "off")
    assert api("DELETE", f"{path}/webhooks/{hook['id']}", user=owner)[0] == 204
    assert api("GET", f"{path}/webhooks/{hook['id']}", user=owner)[0] == 404
    dev = unique_email("dev")
    _, _, inv = api("POST", f"{path}/invitations", user=owner, json={"email": dev, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    assert api("GET", f"{path}/webhooks", user=dev)[0] == 403


def _deliveries(stack: LocalStack, webhook_id: str) -> list[dict[str, Any]]:
    """The items of a webhook's delivery partition (Query), plain."""
    from strongroom.data import db

    assert stack.resources is not None
    found = aws.dynamodb().query(
        TableName=stack.resources.refs["Table"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"WEBHOOK#{webhook_id}"}},
        ConsistentRead=True,
    )["Items"]
    return [db.deserialize(i) for i in found]


def test_the_delivery_log_expires_after_30_days_and_goes_with_its_webhook(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver], stack: LocalStack
) -> None:
    r = receiver()
    owner, path = org["owner"], org["path"]
    hook = subscribe(api, org, r.url, ["secret.*"])
    assert api("PUT", f"{org['base']}/environments/staging/secrets/T", user=owner, json={"value": "t"})[0] == 200
    assert api("POST", f"{path}/webhooks/{hook['id']}/test", user=owner)[0] in {200, 201, 202}
    # Given both kinds of delivery (fan-out and test), each carries the table's TTL attribute
    assert until(lambda: len(_deliveries(stack, hook["id"])) == 2)
    items = _deliveries(stack, hook["id"])
    for item in items:
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        assert item["expires_at_epoch"] == int((created + timedelta(days=30)).timestamp()), item["id"]
    # and a deleted webhook's log is purged by the worker
    assert api("DELETE", f"{path}/webhooks/{hook['id']}", user=owner)[0] == 204
    assert until(lambda: _deliveries(stack, hook["id"]) == []) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/hook",
        "https://100.64.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://0x7f.0.0.1/hook",
        "http://10.0.0.1/hook",
    ],
)
def test_unsafe_destinations_are_refused_at_creation(api: Api, org: dict[str, Any], url: str) -> None:
    """The stack runs in dev mode, where loopback receivers are allowed (tests/unit/test_netguard.py
    refuses loopback outside dev mode, and the dispatcher checks again at send time)."""
    status, _, body = api("POST", f"{org['path']}/webhooks", user=org["owner"], json={"url": url, "events": ["*"]})
    assert (status, body["error"]["code"]) == (422, "unsafe_url"), url


def test_a_webhook_failing_for_days_is_disabled_with_an_event(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver], stack: LocalStack
) -> None:
    r = receiver([500])
    hook = subscribe(api, org, r.url, ["secret.created"])
    org_id = api("GET", org["path"], user=org["owner"])[2]["id"]
    aws.dynamodb().update_item(  # as if it had been failing since four days ago
        TableName=stack.resources.refs["Table"],  # type: ignore[union-attr]
        Key={"PK": {"S": f"ORG#{org_id}"}, "SK": {"S": f"WEBHOOK#{hook['id']}"}},
        UpdateExpression="SET #st = :f, failing_since = :since",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":f": {"S": "failing"}, ":since": {"S": "2026-01-01T00:00:00.000Z"}},
    )
    assert api("PUT", f"{org['base']}/environments/staging/secrets/Z", user=org["owner"], json={"value": "z"})[0] == 200

    def disabled() -> Any:
        got = api("GET", f"{org['path']}/webhooks/{hook['id']}", user=org["owner"])[2]
        return got if got["status"] == "disabled" else None

    assert until(disabled, timeout=60)["enabled"] is False
    events = api("GET", f"{org['path']}/audit?action=webhook.disabled", user=org["owner"])[2]["data"]
    assert [(e["action"], e["actor"]["type"], e["resource"]["id"]) for e in events] == [
        ("webhook.disabled", "system", hook["id"])
    ]


def _every_page(api: Api, path: str, user: str) -> list[dict[str, Any]]:
    """Every item of a listing, 500 a page."""
    data: list[dict[str, Any]] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = api("GET", f"{path}?limit=500{suffix}", user=user)[2]
        data += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return data


def test_200_mixed_mutations_with_a_flaky_receiver_lose_nothing(
    api: Api, org: dict[str, Any], receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    answers = iter([200, 500, 200, 200, 503, 200, 500, 200, 500, 502] * 1000)
    ok_receipts: list[str] = []

    def do_post(handler: Any) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length", "0")))
        with r.lock:
            status = next(answers)
            r.calls.append(({k.lower(): v for k, v in handler.headers.items()}, body))
            if status == 200:
                ok_receipts.append(handler.headers["webhook-id"])
        handler.send_response(status)
        handler.send_header("content-length", "0")
        handler.end_headers()

    r.server.RequestHandlerClass.do_POST = do_post  # type: ignore[attr-defined]
    hook = subscribe(api, org, r.url, ["secret.*", "secrets.*"])
    owner, staging = org["owner"], f"{org['base']}/environments/staging"
    for i in range(200):
        if i % 10 == 9:
            status = api("PATCH", f"{staging}/secrets", user=owner, json={"set": {f"B{i}": "b", f"C{i}": "c"}})[0]
        elif i % 5 == 4:
            status = api("DELETE", f"{staging}/secrets/K{i - 1}", user=owner)[0]
        else:
            status = api("PUT", f"{staging}/secrets/K{i}", user=owner, json={"value": str(i)})[0]
        assert status in {200, 204}, (i, status)
    audit = _every_page(api, f"{org['path']}/audit", owner)
    events = [e for e in audit if e["action"].startswith(("secret.", "secrets."))]
    assert len(events) == 200  # the outbox: one event per mutation

    def settled() -> Any:
        data = _every_page(api, f"{org['path']}/webhooks/{hook['id']}/deliveries", owner)
        done = [d for d in data if d["status"] in {"succeeded", "failed"}]
        return data if len(data) == 200 and len(done) == 200 else None

    deliveries = until(settled, timeout=120)
    assert deliveries, "not every delivery settled"
    delivered = {d["event_id"] for d in deliveries if d["status"] == "succeeded"}
    dead = {d["event_id"] for d in deliveries if d["status"] == "failed"}
    assert delivered | dead == {e["id"] for e in events}  # 0 lost
    assert not delivered & dead
    duplicates = len(ok_receipts) - len(set(ok_receipts))
    print(
        f"outbox events {len(events)} = delivered {len(delivered)} + dead-lettered {len(dead)}; duplicates {duplicates}"
    )
    assert len(set(ok_receipts)) == len(delivered)
