"""Rotation over HTTP: a `random` policy; rotating now writes a new value and version with one
`secret.rotated` event that holds no value; bad policies are 4xx; a webhook rotator's endpoint
receives a Standard Webhooks-signed call (checked with the `standardwebhooks` package) and sets
the value; an `aws_iam_access_key` rotation on moto makes a new active key and deletes the old one
once its grace period is over; the schedule rotates a due policy without a request, once however
many workers race."""

from __future__ import annotations

import json
import os
import secrets
import string
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from strongroom import aws
from strongroom_local import LocalStack
from support import Api, get_item, query_partition, table_name, unique_email

pytestmark = pytest.mark.http
# The local schedule's period, read when the stack's workers first start in this process (a worker
# process that started them earlier keeps its 10 s: the test below waits for either).
os.environ.setdefault("STRONGROOM_ROTATION_SECONDS", "2")

SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"rot-{secrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Rotation", "slug": slug})
    assert status == 201, org
    status, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "App", "slug": "app"})
    assert status == 201, project
    dev = next(e for e in project["environments"] if e["slug"] == "development")
    base = f"/v1/orgs/{slug}/projects/app/environments/development"
    return {"owner": owner, "org_id": org["id"], "env_id": dev["id"], "base": base, "slug": slug}


def put_secret(api: Api, env: dict[str, Any], key: str, value: str) -> int:
    status, _, written = api("PUT", f"{env['base']}/secrets/{key}", user=env["owner"], json={"value": value})
    assert status == 200, written
    return int(written["version"])


def read(api: Api, env: dict[str, Any], key: str) -> dict[str, Any]:
    status, _, secret = api("GET", f"{env['base']}/secrets/{key}", user=env["owner"])
    assert status == 200, secret
    return dict(secret)


def events(stack: LocalStack, env: dict[str, Any], action: str) -> list[dict[str, Any]]:
    items = query_partition(stack, f"AUDIT#{env['org_id']}")
    return [i for i in items if i["action"]["S"] == action]


def set_policy(api: Api, env: dict[str, Any], key: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = api("PUT", f"{env['base']}/secrets/{key}/rotation", user=env["owner"], json=body)
    return status, answer


def make_due(stack: LocalStack, env: dict[str, Any], key: str, *, retire_too: bool = False) -> None:
    """What time does: the policy's next rotation (and its old credentials' retirement) passes."""
    past = "2000-01-01T00:00:00.000Z"
    item = get_item(stack, f"ENV#{env['env_id']}", f"ROTATION#{key}")
    assert item is not None
    item["next_rotation_at"] = {"S": past}
    item["GSI1SK"] = {"S": f"{past}#{env['env_id']}#{key}"}
    if retire_too:
        for entry in item["retire"]["L"]:
            entry["M"]["after"] = {"S": past}
        item["next_rotation_at"] = {"S": "2999-01-01T00:00:00.000Z"}
    aws.dynamodb().put_item(TableName=table_name(stack), Item=item)


def test_random_policy_rotate_now_writes_a_new_version_and_an_event_without_the_value(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    # Given a secret with a random rotation policy (12 characters from "ab")
    first = put_secret(api, env, "API_KEY", "original-value")
    status, policy = set_policy(
        api, env, "API_KEY", {"interval_days": 30, "rotator": {"type": "random", "length": 12, "alphabet": "ab"}}
    )
    assert status == 200, policy
    assert policy["status"] == "scheduled"
    assert policy["last_rotated_at"] is None
    assert policy["rotator"] == {"type": "random", "length": 12, "alphabet": "ab"}
    assert policy["next_rotation_at"] > policy["created_at"]

    # When it rotates now
    status, _, rotated = api("POST", f"{env['base']}/secrets/API_KEY/rotate", user=env["owner"])

    # Then the value changed, the version moved on, and the policy says so
    assert status == 200, rotated
    assert rotated["status"] == "succeeded"
    assert rotated["version"] == first + 1
    assert rotated["last_rotated_at"] is not None
    now = read(api, env, "API_KEY")
    assert now["version"] == first + 1
    assert now["value"] != "original-value"
    assert len(now["value"]) == 12
    assert set(now["value"]) <= {"a", "b"}
    status, _, shown = api("GET", f"{env['base']}/secrets/API_KEY/rotation", user=env["owner"])
    assert status == 200
    assert shown["status"] == "succeeded"
    assert shown["version"] == first + 1
    # and one `secret.rotated` event names the key and version, never the value
    rotated_events = events(stack, env, "secret.rotated")
    assert len(rotated_events) == 1
    assert rotated_events[0]["metadata"]["M"]["version"]["N"] == str(first + 1)
    assert now["value"] not in json.dumps(rotated_events[0])
    # and the old version is history
    status, _, old = api("GET", f"{env['base']}/secrets/API_KEY?version={first}", user=env["owner"])
    assert status == 200
    assert old["value"] == "original-value"


def test_rotating_a_missing_secret_fails_and_removal_keeps_the_value(api: Api, env: dict[str, Any]) -> None:
    # A policy may be set before its secret; a rotation then fails (nothing is created or revived)
    status, _ = set_policy(api, env, "NEW_TOKEN", {"interval_days": 1, "rotator": {"type": "random"}})
    assert status == 200
    status, _, rotated = api("POST", f"{env['base']}/secrets/NEW_TOKEN/rotate", user=env["owner"])
    assert status == 200, rotated
    assert rotated["status"] == "failed"
    assert rotated["last_error"].startswith("the secret has no value in this environment")
    # no retry mends it: tried again at the interval (a day), not within the hour
    wait = datetime.fromisoformat(rotated["next_rotation_at"]) - datetime.fromisoformat(rotated["updated_at"])
    assert wait > timedelta(hours=23)
    status, _, _ = api("GET", f"{env['base']}/secrets/NEW_TOKEN", user=env["owner"])
    assert status == 404

    # Once set, it rotates (32 letters and digits by default)
    put_secret(api, env, "NEW_TOKEN", "first")
    status, _, rotated = api("POST", f"{env['base']}/secrets/NEW_TOKEN/rotate", user=env["owner"])
    assert rotated["status"] == "succeeded"
    value = read(api, env, "NEW_TOKEN")["value"]
    assert len(value) == 32
    assert set(value) <= set(string.ascii_letters + string.digits)

    status, _, _ = api("DELETE", f"{env['base']}/secrets/NEW_TOKEN/rotation", user=env["owner"])
    assert status == 204
    status, _, gone = api("GET", f"{env['base']}/secrets/NEW_TOKEN/rotation", user=env["owner"])
    assert status == 404, gone
    assert read(api, env, "NEW_TOKEN")["value"] == value
    status, _, _ = api("POST", f"{env['base']}/secrets/NEW_TOKEN/rotate", user=env["owner"])
    assert status == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"interval_days": 0, "rotator": {"type": "random"}}, 400),
        ({"interval_days": 30, "rotator": {"type": "lambda", "function_arn": "arn:aws:lambda:x"}}, 400),
        ({"interval_days": 30, "rotator": {"type": "nope"}}, 400),
        ({"interval_days": 30, "rotator": {"type": "random", "length": 4}}, 400),
        ({"interval_days": 30, "rotator": {"type": "random", "alphabet": "aaaa"}}, 400),
        ({"interval_days": 30, "rotator": {"type": "random", "alphabet": "ab$"}}, 400),
        ({"interval_days": 30, "rotator": {"type": "webhook", "url": "http://169.254.169.254/latest/meta-data"}}, 422),
        ({"interval_days": 30, "rotator": {"type": "webhook", "url": "https://169.254.169.254/rotate"}}, 422),
        (
            {
                "interval_days": 30,
                "rotator": {"type": "postgres", "users": ["a", "a"], "master_username": "m", "master_password": "p"},
            },
            400,
        ),
        ({"interval_days": 30, "rotator": {"type": "random"}, "id": "x"}, 400),
    ],
)
def test_bad_policies_are_4xx(api: Api, env: dict[str, Any], body: dict[str, Any], expected: int) -> None:
    status, answer = set_policy(api, env, "BAD", body)
    assert status == expected, answer
    assert "error" in answer
    status, _, _ = api("GET", f"{env['base']}/secrets/BAD/rotation", user=env["owner"])
    assert status == 404


def test_a_postgres_master_password_is_never_returned(api: Api, stack: LocalStack, env: dict[str, Any]) -> None:
    master = "master-" + secrets.token_hex(8)
    body = {
        "interval_days": 7,
        "rotator": {
            "type": "postgres",
            "users": ["app_a", "app_b"],
            "master_username": "admin",
            "master_password": master,
        },
    }
    status, answer = set_policy(api, env, "DB_URL", body)
    assert status == 200, answer
    assert answer["rotator"] == {"type": "postgres", "users": ["app_a", "app_b"], "master_username": "admin"}
    status, _, shown = api("GET", f"{env['base']}/secrets/DB_URL/rotation", user=env["owner"])
    assert master not in json.dumps(shown)
    item = get_item(stack, f"ENV#{env['env_id']}", "ROTATION#DB_URL")
    assert item is not None
    assert master not in json.dumps(item, default=str)
    assert master not in json.dumps(events(stack, env, "secret.rotation_configured"))


def test_other_tenants_and_viewers(api: Api, env: dict[str, Any]) -> None:
    set_policy(api, env, "K", {"interval_days": 3, "rotator": {"type": "random"}})
    stranger = unique_email("stranger")
    for method, suffix in [("GET", "rotation"), ("PUT", "rotation"), ("DELETE", "rotation"), ("POST", "rotate")]:
        body = {"interval_days": 3, "rotator": {"type": "random"}} if method == "PUT" else None
        status, _, _ = api(method, f"{env['base']}/secrets/K/{suffix}", user=stranger, json=body)
        assert status == 404, (method, suffix)


# --------------------------------------------------------------------------- webhook rotator


class Endpoint:
    """A customer's rotation endpoint: records each call; answers `status` with `answer`."""

    def __init__(self, status: int = 200, answer: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                endpoint.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                payload = json.dumps(answer or {}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rotate"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[type[Endpoint]]:
    made: list[Endpoint] = []

    class Made(Endpoint):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    yield Made
    for e in made:
        e.server.shutdown()


def test_webhook_rotator_signs_the_call_and_sets_the_value(
    api: Api, env: dict[str, Any], endpoint: type[Endpoint]
) -> None:
    receiver = endpoint()
    put_secret(api, env, "PARTNER_KEY", "old")
    status, policy = set_policy(
        api, env, "PARTNER_KEY", {"interval_days": 1, "rotator": {"type": "webhook", "url": receiver.url}}
    )
    assert status == 200, policy
    signing_secret = policy["signing_secret"]
    assert signing_secret.startswith("whsec_")
    status, again = set_policy(
        api, env, "PARTNER_KEY", {"interval_days": 2, "rotator": {"type": "webhook", "url": receiver.url}}
    )
    assert status == 200
    assert again["signing_secret"] is None  # shown once; the same secret keeps signing

    status, _, rotated = api("POST", f"{env['base']}/secrets/PARTNER_KEY/rotate", user=env["owner"])
    assert status == 200, rotated
    assert rotated["status"] == "succeeded"
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    Verifier(signing_secret).verify(body, headers)  # raises on a bad signature
    sent = json.loads(body)
    assert sent["type"] == "secret.rotation"
    assert sent["data"]["key"] == "PARTNER_KEY"
    assert read(api, env, "PARTNER_KEY")["value"] == sent["data"]["value"]


def test_webhook_rotator_failure_keeps_the_old_value(
    api: Api, stack: LocalStack, env: dict[str, Any], endpoint: type[Endpoint]
) -> None:
    receiver = endpoint(status=500)
    version = put_secret(api, env, "PARTNER_KEY", "still-good")
    set_policy(api, env, "PARTNER_KEY", {"interval_days": 1, "rotator": {"type": "webhook", "url": receiver.url}})
    status, _, rotated = api("POST", f"{env['base']}/secrets/PARTNER_KEY/rotate", user=env["owner"])
    assert status == 200, rotated
    assert rotated["status"] == "failed"
    assert rotated["last_error"] == "the rotation endpoint answered 500"
    now = read(api, env, "PARTNER_KEY")
    assert (now["value"], now["version"]) == ("still-good", version)
    failed = events(stack, env, "secret.rotation_failed")
    assert len(failed) == 1
    assert failed[0]["outbox"]["N"] == "1"  # its webhook follows
    sent_value = json.loads(receiver.calls[0][1])["data"]["value"]
    assert sent_value not in json.dumps(failed[0])


def test_webhook_answer_may_name_the_value(api: Api, env: dict[str, Any], endpoint: type[Endpoint]) -> None:
    receiver = endpoint(answer={"value": "chosen-by-the-endpoint"})
    put_secret(api, env, "K2", "before")
    set_policy(api, env, "K2", {"interval_days": 1, "rotator": {"type": "webhook", "url": receiver.url}})
    status, _, rotated = api("POST", f"{env['base']}/secrets/K2/rotate", user=env["owner"])
    assert status == 200
    assert rotated["status"] == "succeeded"
    assert read(api, env, "K2")["value"] == "chosen-by-the-endpoint"


# --------------------------------------------------------------------------- aws_iam_access_key on moto


def test_iam_access_key_rotation_new_key_active_old_deleted_after_grace(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    user = f"deployer-{secrets.token_hex(4)}"
    iam.create_user(UserName=user, Path="/strongroom-rotated/")
    first = iam.create_access_key(UserName=user)["AccessKey"]
    put_secret(
        api,
        env,
        "AWS_KEY",
        json.dumps({"access_key_id": first["AccessKeyId"], "secret_access_key": first["SecretAccessKey"]}),
    )
    body = {"interval_days": 90, "rotator": {"type": "aws_iam_access_key", "user_name": user, "grace_period_hours": 2}}
    assert set_policy(api, env, "AWS_KEY", body)[0] == 200

    status, _, rotated = api("POST", f"{env['base']}/secrets/AWS_KEY/rotate", user=env["owner"])
    assert status == 200, rotated
    assert rotated["status"] == "succeeded"
    new = json.loads(read(api, env, "AWS_KEY")["value"])
    assert new["access_key_id"] != first["AccessKeyId"]
    held = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert held == {first["AccessKeyId"]: "Active", new["access_key_id"]: "Active"}  # the old one in its grace

    # The worker before the grace period ends leaves the old key
    stack.invoke("RotationWorkerFunction", SCHEDULED)
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2
    # once it ended, the worker deletes it
    make_due(stack, env, "AWS_KEY", retire_too=True)
    stack.invoke("RotationWorkerFunction", SCHEDULED)
    held = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert held == {new["access_key_id"]: "Active"}
    assert len(events(stack, env, "secret.rotation_credentials_retired")) == 1


def test_iam_rotation_of_a_missing_user_fails_and_keeps_the_value(api: Api, env: dict[str, Any]) -> None:
    version = put_secret(api, env, "AWS_KEY", "{}")
    body = {"interval_days": 90, "rotator": {"type": "aws_iam_access_key", "user_name": "nobody-here"}}
    set_policy(api, env, "AWS_KEY", body)
    status, _, rotated = api("POST", f"{env['base']}/secrets/AWS_KEY/rotate", user=env["owner"])
    assert status == 200
    assert rotated["status"] == "failed"
    assert rotated["last_error"] == "IAM list_access_keys failed: NoSuchEntity"
    assert read(api, env, "AWS_KEY")["version"] == version


# --------------------------------------------------------------------------- the schedule


def test_the_schedule_rotates_a_due_policy_once_however_many_workers_race(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    version = put_secret(api, env, "SESSION_KEY", "v1")
    set_policy(api, env, "SESSION_KEY", {"interval_days": 1, "rotator": {"type": "random"}})
    # not due yet: a run does nothing to it
    stack.invoke("RotationWorkerFunction", SCHEDULED)
    assert read(api, env, "SESSION_KEY")["version"] == version

    make_due(stack, env, "SESSION_KEY")
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        results.append(stack.invoke("RotationWorkerFunction", SCHEDULED))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sum(r["succeeded"] for r in results) == 1, results
    now = read(api, env, "SESSION_KEY")
    assert now["version"] == version + 1
    assert now["value"] != "v1"
    assert len(events(stack, env, "secret.rotated")) == 1
    rotated = events(stack, env, "secret.rotated")[0]
    assert rotated["actor"]["M"]["type"]["S"] == "system"
    status, _, policy = api("GET", f"{env['base']}/secrets/SESSION_KEY/rotation", user=env["owner"])
    assert status == 200
    assert policy["status"] == "succeeded"
    assert policy["next_rotation_at"] > policy["last_rotated_at"]


def test_a_rotation_cut_short_resumes_from_its_step_and_a_live_lease_is_left_alone(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    from strongroom import clock
    from strongroom.data import rotation as rotation_data
    from strongroom.domain import rotation, rotators

    put_secret(api, env, "RESUMED", "v1")
    set_policy(api, env, "RESUMED", {"interval_days": 1, "rotator": {"type": "random"}})
    make_due(stack, env, "RESUMED")

    # Given a worker that took the lease and recorded step 1 (the pending value), then died
    rec = rotation_data.get(env["env_id"], "RESUMED")
    assert rec is not None
    access = rotation._system_access(rec)
    assert access is not None
    earlier = clock.now() - 2 * rotation.LEASE
    taken = rotation._take(rec, "wrk_crashed", earlier)
    assert taken is not None
    t = rotation._target(access, taken, earlier)
    pending = {**rotators.create(t), "rotation_id": taken.rotation_id}
    rotation._advance(taken, "set", pending=rotation._seal(taken, "pending", pending))

    # When a live lease holds another policy, and the schedule runs
    put_secret(api, env, "HELD", "h1")
    set_policy(api, env, "HELD", {"interval_days": 1, "rotator": {"type": "random"}})
    make_due(stack, env, "HELD")
    held = rotation_data.get(env["env_id"], "HELD")
    assert held is not None
    assert rotation._take(held, "wrk_busy", clock.now()) is not None
    stack.invoke("RotationWorkerFunction", SCHEDULED)

    # Then the cut-short rotation finished with the value its first step made (not a second one)
    assert read(api, env, "RESUMED")["value"] == pending["value"]
    status, _, policy = api("GET", f"{env['base']}/secrets/RESUMED/rotation", user=env["owner"])
    assert (policy["status"], policy["step"]) == ("succeeded", None)
    # and the leased one was not touched
    assert read(api, env, "HELD")["value"] == "h1"
    status, _, busy = api("POST", f"{env['base']}/secrets/HELD/rotate", user=env["owner"])
    assert (status, busy["error"]["code"]) == (409, "rotation_in_progress")


def test_the_local_schedule_rotates_a_due_policy_without_a_request(
    api: Api, stack: LocalStack, env: dict[str, Any], stack_workers: Any
) -> None:
    version = put_secret(api, env, "NIGHTLY", "before")
    set_policy(api, env, "NIGHTLY", {"interval_days": 1, "rotator": {"type": "random"}})
    make_due(stack, env, "NIGHTLY")
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline and read(api, env, "NIGHTLY")["version"] == version:
        time.sleep(0.5)
    now = read(api, env, "NIGHTLY")
    assert now["version"] == version + 1
    assert now["value"] != "before"


def test_a_kms_outage_fails_closed_and_the_next_rotation_goes_on_at_once(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    from botocore.stub import Stubber

    version = put_secret(api, env, "SEALED", "kept")  # its data key is cached: only the seal calls KMS
    set_policy(api, env, "SEALED", {"interval_days": 1, "rotator": {"type": "random"}})
    client = boto3.client("kms", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("encrypt", service_error_code="KMSInternalException", http_status_code=500)
        aws.override("kms", client)
        try:
            status, _, answer = api("POST", f"{env['base']}/secrets/SEALED/rotate", user=env["owner"])
        finally:
            aws.reset()
    assert status == 503, answer
    assert read(api, env, "SEALED")["version"] == version
    assert events(stack, env, "secret.rotated") == []
    # the lease was given back: the next rotation runs now, not after it would have run out
    status, _, answer = api("POST", f"{env['base']}/secrets/SEALED/rotate", user=env["owner"])
    assert (status, answer["status"]) == (200, "succeeded")
    assert read(api, env, "SEALED")["version"] == version + 1


def test_an_iam_create_cut_short_after_making_its_key_makes_one_key_when_resumed(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    from strongroom import clock
    from strongroom.data import rotation as rotation_data
    from strongroom.domain import rotation

    iam = boto3.client("iam", region_name="us-east-1")
    user = f"svc-{secrets.token_hex(4)}"
    iam.create_user(UserName=user, Path="/strongroom-rotated/")
    first = iam.create_access_key(UserName=user)["AccessKey"]
    put_secret(api, env, "KEY", json.dumps({"access_key_id": first["AccessKeyId"], "secret_access_key": "x"}))
    body = {"interval_days": 90, "rotator": {"type": "aws_iam_access_key", "user_name": user}}
    set_policy(api, env, "KEY", body)
    make_due(stack, env, "KEY")

    # Given a worker that began the create step, made its key at IAM, and died before recording it
    rec = rotation_data.get(env["env_id"], "KEY")
    assert rec is not None
    earlier = clock.now() - 2 * rotation.LEASE
    taken = rotation._take(rec, "wrk_crashed", earlier)
    assert taken is not None
    rotation._advance(taken, "create", creating_since=clock.iso(earlier))
    orphan = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    # When the schedule resumes it
    result = stack.invoke("RotationWorkerFunction", SCHEDULED)

    # Then the unrecorded key is gone, and the user holds the old key (in its grace) and one new one
    assert result["succeeded"] >= 1
    new = json.loads(read(api, env, "KEY")["value"])["access_key_id"]
    held = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert held == {first["AccessKeyId"], new}
    assert orphan not in held


def test_removing_a_policy_whose_iam_rotation_was_interrupted_deletes_the_key_it_made(
    api: Api, env: dict[str, Any]
) -> None:
    from strongroom import clock
    from strongroom.data import rotation as rotation_data
    from strongroom.domain import rotation, rotators

    iam = boto3.client("iam", region_name="us-east-1")
    user = f"app-{secrets.token_hex(4)}"
    iam.create_user(UserName=user, Path="/strongroom-rotated/")
    first = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    put_secret(api, env, "K", json.dumps({"access_key_id": first, "secret_access_key": "x"}))
    set_policy(api, env, "K", {"interval_days": 90, "rotator": {"type": "aws_iam_access_key", "user_name": user}})
    # Given a rotation interrupted after its create step made (and recorded) a new key
    rec = rotation_data.get(env["env_id"], "K")
    assert rec is not None
    access = rotation._system_access(rec)
    assert access is not None
    earlier = clock.now() - 2 * rotation.LEASE
    taken = rotation._take(rec, "wrk_gone", earlier)
    assert taken is not None
    pending = {**rotators.create(rotation._target(access, taken, earlier)), "rotation_id": taken.rotation_id}
    rotation._advance(taken, "set", pending=rotation._seal(taken, "pending", pending))
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2
    # When the policy is removed
    status, _, _ = api("DELETE", f"{env['base']}/secrets/K/rotation", user=env["owner"])
    # Then the key nobody will ever be given is gone; the secret's own key stays
    assert status == 204
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [first]


def test_a_secret_in_a_folder_rotates_apart_from_the_root_key_of_its_name(
    api: Api, stack: LocalStack, env: dict[str, Any]
) -> None:
    # Given the same key at the root and in /backend/db
    put_secret(api, env, "DB_PASSWORD", "root-value")
    folder = f"{env['base']}/secrets/DB_PASSWORD"
    status, _, written = api("PUT", f"{folder}?path=/backend/db", user=env["owner"], json={"value": "folder-value"})
    assert status == 200, written
    # When the folder's one gets a policy and rotates now
    body = {"interval_days": 7, "rotator": {"type": "random", "length": 20}}
    status, _, policy = api("PUT", f"{folder}/rotation?path=/backend/db", user=env["owner"], json=body)
    assert status == 200, policy
    assert (policy["key"], policy["path"]) == ("DB_PASSWORD", "/backend/db")
    assert api("GET", f"{folder}/rotation", user=env["owner"])[0] == 404  # the root key has none
    status, _, rotated = api("POST", f"{folder}/rotate?path=/backend/db", user=env["owner"])
    assert status == 200, rotated
    assert rotated["status"] == "succeeded"
    # Then the folder's value moved on and the root's did not
    status, _, now = api("GET", f"{folder}?path=/backend/db", user=env["owner"])
    assert status == 200
    assert now["version"] == 2
    assert now["value"] != "folder-value"
    assert len(now["value"]) == 20
    assert read(api, env, "DB_PASSWORD")["value"] == "root-value"
    # and the event names the key and its folder
    done = [e["metadata"]["M"] for e in events(stack, env, "secret.rotated")]
    assert [(m["key"]["S"], m["path"]["S"]) for m in done] == [("DB_PASSWORD", "/backend/db")]
    assert api("DELETE", f"{folder}/rotation?path=/backend/db", user=env["owner"])[0] == 204
    assert api("GET", f"{folder}/rotation?path=/backend/db", user=env["owner"])[0] == 404
