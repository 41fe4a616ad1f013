"""The aggregates /metrics reads (issue #18; strongroom/data/counters.py): live secrets, webhook
deliveries by status, the sealer's backlog. Each moves in the write that changes what it counts;
the expected figures are what the test did, counted by the test.

The module runs on a table of its own (`isolated`), so that the platform's figures are this
module's alone, and without the background workers: the purge, the fan-out, the dispatcher and the
sealer run here, in-process, when the test says so."""

from __future__ import annotations

import http.server
import json
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from strongroom import aws, clock
from strongroom.data import db, migrations
from strongroom.domain import delivery, purge, sealer
from support import unique_email

if TYPE_CHECKING:
    from conftest import Api

    from strongroom_local import LocalStack

pytestmark = [pytest.mark.http, pytest.mark.isolated]

ADMIN = "admin@example.com"


def _gauges(api: Api) -> dict[str, float]:
    status, _, text = api("GET", "/metrics", user=ADMIN)
    assert status == 200, text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make promtool` installs it"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(str(text))
        for sample in family.samples
    }


def _purge(target_id: str) -> None:
    """The purge worker's steps for one target, run here until it is finished."""
    for _ in range(50):
        if purge.run(target_id):
            return
    raise AssertionError(f"the purge of {target_id} did not finish")


def test_live_secrets_follow_creates_deletes_and_purges(api: Api) -> None:
    # Given an org with a project (three environments)
    before = _gauges(api)["strongroom_secrets"]
    owner = unique_email("counted")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Counted {secrets.token_hex(3)}"})
    assert status == 201, org
    status, _, project = api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": "Web"})
    assert status == 201, project
    base = f"/v1/orgs/{org['id']}/projects/{project['id']}/environments"
    live: dict[str, set[str]] = {"development": set(), "staging": set(), "production": set()}

    def put(env: str, name: str) -> None:
        assert api("PUT", f"{base}/{env}/secrets/{name}", user=owner, json={"value": "v"})[0] == 200
        live[env].add(name)

    # When secrets are created, updated, deleted and restored
    for name in ("A", "B", "C"):
        put("development", name)
    put("staging", "X")
    put("staging", "Y")
    put("development", "A")  # an update: no new secret
    assert api("DELETE", f"{base}/development/secrets/B", user=owner)[0] == 204
    live["development"].discard("B")
    assert (
        api("PATCH", f"{base}/production/secrets", user=owner, json={"set": {"P": "1", "Q": "2", "X": "3"}})[0] == 200
    )
    live["production"] |= {"P", "Q", "X"}
    # Then the platform's live secrets are those the test counted
    assert _gauges(api)["strongroom_secrets"] == before + sum(len(v) for v in live.values())

    # When the staging environment is deleted and purged
    env_ids = {e["slug"]: e["id"] for e in project["environments"]}
    assert api("DELETE", f"{base}/staging", user=owner)[0] == 204
    _purge(env_ids["staging"])
    live.pop("staging")
    assert _gauges(api)["strongroom_secrets"] == before + sum(len(v) for v in live.values())
    # and a purge run again after its end changes nothing
    _purge(env_ids["staging"])
    assert _gauges(api)["strongroom_secrets"] == before + sum(len(v) for v in live.values())

    # When the org is deleted and purged, none of its secrets is counted any more
    assert api("DELETE", f"/v1/orgs/{org['id']}", user=owner)[0] == 204
    _purge(org["id"])
    assert _gauges(api)["strongroom_secrets"] == before


class _Receiver(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def _receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def _statuses(gauges: dict[str, float]) -> dict[str, float]:
    return {
        s: gauges[f"strongroom_webhook_deliveries{{status={s}}}"]
        for s in ("pending", "retrying", "succeeded", "failed")
    }


def _dispatch(message: dict[str, str], receive_count: int) -> str:
    """One receive of the delivery's message by the dispatcher (a queue of the test's own gives
    the receipt a failed attempt hands back)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"dispatch-{secrets.token_hex(4)}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
    receipt = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]["ReceiptHandle"]
    try:
        return delivery.dispatch(message, receive_count, receipt, url)
    except delivery.RetryLater:
        return "retry"


def test_deliveries_by_status_follow_the_fan_out_the_dispatcher_and_the_purge(api: Api, stack: LocalStack) -> None:
    before = _statuses(_gauges(api))
    owner = unique_email("hooks")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Hooks {secrets.token_hex(3)}"})
    assert status == 201, org
    with _receiver() as url:
        status, _, hook = api(
            "POST", f"/v1/orgs/{org['id']}/webhooks", user=owner, json={"url": url, "events": ["project.created"]}
        )
        assert status == 201, hook
        # Given two deliveries: a test one (the audited route) and one the fan-out makes of an event
        status, _, tested = api("POST", f"/v1/orgs/{org['id']}/webhooks/{hook['id']}/test", user=owner)
        assert status in {200, 201, 202}, tested
        assert api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": "P"})[0] == 201
        events = [
            e
            for e in db.query_all(f"AUDIT#{org['id']}")
            if e.get("entity") == "audit_event" and e.get("action") == "project.created"
        ]
        assert len(events) == 1
        record = {"eventName": "INSERT", "dynamodb": {"NewImage": db.serialize(events[0])}}
        assert delivery.fan_out([record])["deliveries"] == 1
        assert delivery.fan_out([record])["deliveries"] == 0  # the stream's retry: made once
        made = _statuses(_gauges(api))
        assert made == {**before, "pending": before["pending"] + 2}

        _, _, listed = api("GET", f"/v1/orgs/{org['id']}/webhooks/{hook['id']}/deliveries", user=owner)
        fanned = next(d["id"] for d in listed["data"] if d["id"] != tested["id"])
        message = {"webhook_id": hook["id"], "org_id": org["id"]}
        # When the test delivery succeeds, and the other fails once then succeeds
        _Receiver.answers = [500]
        assert _dispatch({**message, "delivery_id": fanned}, 1) == "retry"
        assert _dispatch({**message, "delivery_id": tested["id"]}, 1) == "delivered"
        mid = _statuses(_gauges(api))
        assert mid == {
            **before,
            "pending": before["pending"],
            "retrying": before["retrying"] + 1,
            "succeeded": before["succeeded"] + 1,
        }
        assert _dispatch({**message, "delivery_id": fanned}, 2) == "delivered"
        assert _dispatch({**message, "delivery_id": fanned}, 3) == "duplicate"  # SQS's second copy
        done = _statuses(_gauges(api))
        assert done == {**before, "succeeded": before["succeeded"] + 2}

    # When the webhook is deleted and its deliveries purged, they are counted no more
    assert api("DELETE", f"/v1/orgs/{org['id']}/webhooks/{hook['id']}", user=owner)[0] == 204
    _purge(hook["id"])
    assert _statuses(_gauges(api)) == before


def test_the_sealing_backlog_shows_a_scope_until_the_sealer_catches_up(api: Api, monkeypatch: Any) -> None:
    # Given an org whose creation event the sealer was told of, and whose sealing then failed
    owner = unique_email("sealed")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Sealed {secrets.token_hex(3)}"})
    assert status == 201, org
    events = [e for e in db.query_all(f"AUDIT#{org['id']}") if e.get("entity") == "audit_event"]
    assert events
    records = [{"eventName": "INSERT", "dynamodb": {"NewImage": db.serialize(e)}} for e in events]
    scopes, hinted = sealer.scopes_of(records)

    def broken(*_: Any) -> Any:
        raise RuntimeError("the signing key is unreachable")

    monkeypatch.setattr(sealer, "_append", broken)
    with pytest.raises(RuntimeError):
        sealer.seal(scopes, hinted)
    monkeypatch.undo()
    # Then a minute later the scope is behind by at least that minute (its oldest event's age)
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(seconds=60))
    gauges = _gauges(api)
    oldest = min(clock.parse(str(e["created_at"])) for e in events)
    assert gauges[f"strongroom_audit_scope_sealing_lag_seconds{{scope={org['id']}}}"] >= 60
    assert gauges["strongroom_audit_sealing_lag_seconds"] >= (real_now() - oldest).total_seconds() + 60 - 1
    assert gauges["strongroom_audit_scopes_behind"] >= 1
    # When the sealer runs again (the stream's retry), the scope is caught up and no longer shown
    assert sealer.seal(scopes, hinted)[org["id"]] == len(events)
    gauges = _gauges(api)
    assert f"strongroom_audit_scope_sealing_lag_seconds{{scope={org['id']}}}" not in gauges


def test_a_scrape_reads_the_aggregates_in_a_few_requests(api: Api, stack: LocalStack) -> None:
    """The scrape's DynamoDB requests do not grow with the orgs (no per-org read)."""
    calls: list[str] = []
    real = aws.dynamodb()

    class Counting:
        def __getattr__(self, name: str) -> Any:
            attr = getattr(real, name)
            if callable(attr):

                def counted(*args: Any, **kwargs: Any) -> Any:
                    calls.append(name)
                    return attr(*args, **kwargs)

                return counted
            return attr

    def scrape_calls() -> int:
        calls.clear()
        aws.override("dynamodb", Counting())
        try:
            assert api("GET", "/metrics", user=ADMIN)[0] == 200
        finally:
            aws.reset()
        return len(calls)

    first = scrape_calls()
    for n in range(5):
        owner = unique_email(f"many{n}")
        assert api("POST", "/v1/orgs", user=owner, json={"name": f"Many {secrets.token_hex(3)}"})[0] == 201
    assert scrape_calls() == first


def test_the_backfill_seeds_the_aggregates_once_from_what_the_table_holds(api: Api) -> None:
    # Given two more secrets and a delivery than the counters held
    start = _gauges(api)
    owner = unique_email("backfill")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Backfill {secrets.token_hex(3)}"})
    assert status == 201, org
    status, _, project = api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": "B"})
    assert status == 201, project
    base = f"/v1/orgs/{org['id']}/projects/{project['id']}/environments/development/secrets"
    for name in ("ONE", "TWO"):
        assert api("PUT", f"{base}/{name}", user=owner, json={"value": "v"})[0] == 200
    hook_body = {"url": "http://127.0.0.1:9/hook", "events": ["org.never_sent"]}
    status, _, hook = api("POST", f"/v1/orgs/{org['id']}/webhooks", user=owner, json=hook_body)
    assert status == 201, hook
    assert api("POST", f"/v1/orgs/{org['id']}/webhooks/{hook['id']}/test", user=owner)[0] in {200, 201, 202}
    counted = _gauges(api)
    assert counted["strongroom_secrets"] == start["strongroom_secrets"] + 2
    pending = "strongroom_webhook_deliveries{status=pending}"
    assert counted[pending] == start[pending] + 1
    # When the aggregates are gone (a table from before them) and the migration runs twice
    stale = [
        {"PK": str(i["PK"]), "SK": str(i["SK"])}
        for i in db.query_all("PLATFORM")
        if str(i["SK"]).startswith(("COUNT#", "SEEDED#"))
    ]
    assert stale
    db.delete_many(stale)
    assert _gauges(api)["strongroom_secrets"] == 0
    first, again = migrations.count_platform_aggregates(), migrations.count_platform_aggregates()
    # Then they are seeded once, to what the table holds
    assert (first, again) == (2, 0)
    seeded = _gauges(api)
    assert seeded["strongroom_secrets"] == counted["strongroom_secrets"]
    assert _statuses(seeded) == _statuses(counted)
