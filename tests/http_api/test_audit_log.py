"""The audit log over HTTP: filters and pagination, export page by page, and the hash chain:
verification passes, and any edited, deleted or reordered event is reported by its sequence."""

from __future__ import annotations

import csv
import io
import json
import secrets as pysecrets
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest

from strongroom import aws
from strongroom.data import keys
from strongroom.domain import audit
from strongroom_local import LocalStack
from support import Api, table_name, unique_email

# The module's 5,000- and 2,100-event logs go to a table of its own (`isolated`), never into the
# table the other tests of this process read.
pytestmark = [pytest.mark.http, pytest.mark.isolated]


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"aud-{pysecrets.token_hex(4)}"
    status, _, created = api("POST", "/v1/orgs", user=owner, json={"name": "Audit", "slug": slug})
    assert status == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    base = f"/v1/orgs/{slug}/projects/web/environments"
    assert api("PUT", f"{base}/staging/secrets/A", user=owner, json={"value": "1"})[0] == 200
    assert api("PUT", f"{base}/staging/secrets/A", user=owner, json={"value": "2"})[0] == 200
    assert api("DELETE", f"{base}/staging/secrets/A", user=owner)[0] == 204
    _, _, inv = api(
        "POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": unique_email("x"), "role": "viewer"}
    )
    return {"owner": owner, "slug": slug, "id": created["id"], "path": f"/v1/orgs/{slug}", "invitation": inv}


def everything(api: Api, org: dict[str, Any], query: str = "", limit: int = 500) -> list[dict[str, Any]]:
    out, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        status, _, page = api("GET", f"{org['path']}/audit?limit={limit}{query}{suffix}", user=org["owner"])
        assert status == 200, page
        out += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_search_filters_and_pages_newest_first(api: Api, org: dict[str, Any]) -> None:
    events = everything(api, org)
    actions = [e["action"] for e in events]
    assert actions == [
        "member.invited",
        "secret.deleted",
        "secret.updated",
        "secret.created",
        "project.created",
        "org.created",
    ]
    assert [e["seq"] for e in events] == [6, 5, 4, 3, 2, 1]
    assert everything(api, org, limit=2) == events  # pages of two join up
    assert [e["action"] for e in everything(api, org, "&action=secret.")] == actions[1:4]
    assert [e["action"] for e in everything(api, org, "&action=secret.*")] == actions[1:4]
    assert [e["action"] for e in everything(api, org, "&action=secret.updated")] == ["secret.updated"]
    assert [e["action"] for e in everything(api, org, "&resource_type=project")] == ["project.created"]
    owner_id = events[0]["actor"]["id"]
    assert len(everything(api, org, f"&actor={owner_id}")) == 6
    env_id = events[1]["environment_id"]
    assert [e["action"] for e in everything(api, org, f"&environment={env_id}")] == actions[1:4]
    project_id = events[4]["resource"]["id"]
    assert len(everything(api, org, f"&project={project_id}")) == 4  # the project and its secrets
    # by the request id a change answered with
    _, headers, _ = api("PATCH", org["path"], user=org["owner"], json={"name": "Renamed"})
    found = everything(api, org, f"&correlation_id={quote(headers['x-request-id'], safe='')}")  # ids hold + and /
    assert [e["action"] for e in found] == ["org.updated"]
    # by time
    middle = events[3]["created_at"]
    assert {e["action"] for e in everything(api, org, f"&until={middle}")} >= {"org.created", "secret.created"}
    assert "org.created" not in {e["action"] for e in everything(api, org, f"&since={events[2]['created_at']}")}
    # no value anywhere
    assert '"1"' not in json.dumps([e["metadata"] for e in events if e["action"].startswith("secret.")])


def test_the_audit_log_is_for_admins(api: Api, org: dict[str, Any]) -> None:
    dev = unique_email("dev")
    _, _, inv = api("POST", f"{org['path']}/invitations", user=org["owner"], json={"email": dev, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    for route in ("", "/export", "/verify"):
        assert api("GET", f"{org['path']}/audit{route}", user=dev)[0] == 403
        assert api("GET", f"{org['path']}/audit{route}", user=unique_email("stranger"))[0] == 404


def _chain(scope: str, count: int, table: str) -> None:
    """Append `count` events to a scope's chain directly in the table, as data.chain.transact would."""
    client = aws.dynamodb()
    head = client.get_item(TableName=table, Key={"PK": {"S": f"AUDIT#{scope}"}, "SK": {"S": "HEAD"}})["Item"]
    seq, prev = int(head["seq"]["N"]), head["hash"]["S"]
    from strongroom.data import db

    requests = []
    for n in range(count):
        seq += 1
        event = audit.AuditEvent(
            scope_id=scope,
            action="secret.read",
            actor=audit.Actor(type="user", id="usr_bulk"),
            resource=audit.Resource(type="secret", id=f"K{n}"),
            metadata={"key": f"K{n}", "version": n},
        )
        item = event.to_item(seq, prev)
        prev = item["hash"]
        requests.append({"PutRequest": {"Item": db.serialize(item)}})
    requests.append(
        {
            "PutRequest": {
                "Item": db.serialize({**keys.audit_head(scope), "entity": "audit_head", "seq": seq, "hash": prev})
            }
        }
    )
    for i in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={table: requests[i : i + 25]})


def test_export_of_5000_events_is_complete_and_ordered(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    _chain(org["id"], 5000, table_name(stack))
    total = 6 + 5000
    for fmt in ("json", "csv"):
        seqs: list[int] = []
        cursor = None
        pages = 0
        while True:
            suffix = f"&cursor={cursor}" if cursor else ""
            # A page of 1,000 events takes seconds; under coverage (`make test`) more than the 30 s
            # default: a longer client timeout, the same assertions.
            status, headers, body = api(
                "GET", f"{org['path']}/audit/export?format={fmt}{suffix}", user=org["owner"], timeout=300
            )
            assert status == 200
            pages += 1
            if fmt == "json":
                rows = body
                seqs += [r["seq"] for r in rows]
            else:
                rows = list(csv.DictReader(io.StringIO(body)))
                seqs += [int(r["seq"]) for r in rows]
            cursor = headers.get("x-next-cursor")
            if not cursor:
                break
        assert seqs == list(range(1, total + 1)), fmt
        assert pages == 6
    calls, verdict = verify_all(api, org, timeout=300)
    assert (verdict["ok"], verdict["checked"], verdict["last_seq"], calls) == (True, total, total, 6)


def verify_all(api: Api, org: dict[str, Any], query: str = "", timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """Follow verify's cursors to the end (or the first break): (calls, the verdicts summed up)."""
    calls, checked, cursor = 0, 0, None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        status, _, verdict = api(
            "GET", f"{org['path']}/audit/verify?{query}{suffix}", user=org["owner"], timeout=timeout
        )
        assert status == 200, verdict
        calls += 1
        checked += verdict["checked"]
        cursor = verdict["next_cursor"]
        if not cursor or not verdict["ok"]:
            return calls, {**verdict, "checked": checked}


@pytest.fixture(scope="module")
def long_log(api: Api, stack: LocalStack) -> dict[str, Any]:
    """An org whose log holds 2,102 events: its own two, then 2,100 `secret.read`."""
    owner, slug = unique_email("owner"), f"long-{pysecrets.token_hex(4)}"
    status, _, created = api("POST", "/v1/orgs", user=owner, json={"name": "Long", "slug": slug})
    assert status == 201
    org = {"owner": owner, "slug": slug, "id": created["id"], "path": f"/v1/orgs/{slug}"}
    assert api("POST", f"{org['path']}/projects", user=owner, json={"name": "Web"})[0] == 201
    _chain(org["id"], 2100, table_name(stack))
    return org


def pages(api: Api, org: dict[str, Any], route: str) -> list[tuple[list[Any], str | None]]:
    """Every page of a listing (search: `next_cursor`; export: X-Next-Cursor), with its cursor."""
    out: list[tuple[list[Any], str | None]] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        status, headers, body = api("GET", f"{org['path']}/{route}{suffix}", user=org["owner"])
        assert status == 200, body
        if isinstance(body, dict):
            rows, cursor = body["data"], body["next_cursor"]
        elif isinstance(body, str):
            rows, cursor = list(csv.DictReader(io.StringIO(body))), headers.get("x-next-cursor")
        else:
            rows, cursor = body, headers.get("x-next-cursor")
        out.append((rows, cursor))
        if not cursor:
            return out


def test_a_filtered_search_reads_at_most_1000_events_a_request(api: Api, long_log: dict[str, Any]) -> None:
    # Given a log of 2,102 events whose only org.created is the oldest
    # When a search for it walks the log newest first
    walked = pages(api, long_log, "audit?action=org.created&limit=100")
    # Then each request read at most 1000 events: two empty pages that go on, then the match
    assert [[e["action"] for e in rows] for rows, _ in walked] == [[], [], ["org.created"]]
    assert [cursor is not None for _, cursor in walked] == [True, True, False]
    # and an unfiltered page still fills up to its limit
    status, _, first = api("GET", f"{long_log['path']}/audit?limit=500", user=long_log["owner"])
    assert (status, len(first["data"]), first["data"][0]["seq"]) == (200, 500, 2102)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_filtered_export_goes_on_past_empty_pages(api: Api, long_log: dict[str, Any], fmt: str) -> None:
    walked = pages(api, long_log, f"audit/export?format={fmt}&action=project.created")
    assert [[e["action"] for e in rows] for rows, _ in walked] == [["project.created"], [], []]
    assert [cursor is not None for _, cursor in walked] == [True, True, False]


def test_verify_walks_at_most_1000_events_a_call_and_resumes_from_its_cursor(
    api: Api, long_log: dict[str, Any], stack: LocalStack
) -> None:
    path, owner = long_log["path"], long_log["owner"]
    status, _, first = api("GET", f"{path}/audit/verify", user=owner)
    assert (status, first["ok"], first["checked"], first["first_seq"], first["last_seq"]) == (200, True, 1000, 1, 1000)
    assert first["next_cursor"]
    calls, verdict = verify_all(api, long_log)
    assert (calls, verdict["ok"], verdict["checked"], verdict["last_seq"], verdict["next_cursor"]) == (
        3,
        True,
        2102,
        2102,
        None,
    )
    # A cursor is the walk's sealed state: altered, or another org's, it is refused
    forged = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
    assert api("GET", f"{path}/audit/verify?cursor={forged}", user=owner)[0] == 400
    other = unique_email("other")
    status, _, mine = api("POST", "/v1/orgs", user=other, json={"name": "Other"})
    assert api("GET", f"/v1/orgs/{mine['id']}/audit/verify?cursor={first['next_cursor']}", user=other)[0] == 400
    # and a break past the first call's share is found by the call that reaches it
    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key={"PK": {"S": f"AUDIT#{long_log['id']}"}, "SK": {"S": f"EVT#{1500:012d}"}},
        UpdateExpression="SET #m.#k = :k",
        ExpressionAttributeNames={"#m": "metadata", "#k": "key"},
        ExpressionAttributeValues={":k": {"S": "SOMETHING_ELSE"}},
    )
    calls, verdict = verify_all(api, long_log)
    assert (calls, verdict["ok"], verdict["first_broken_seq"], verdict["reason"]) == (2, False, 1500, "altered")


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "truncate"])
def test_verify_reports_the_first_broken_sequence(
    api: Api, org: dict[str, Any], stack: LocalStack, tamper: str
) -> None:
    table = table_name(stack)
    client = aws.dynamodb()
    assert api("GET", f"{org['path']}/audit/verify", user=org["owner"])[2] == {
        "ok": True,
        "checked": 6,
        "first_seq": 1,
        "last_seq": 6,
        "first_broken_seq": None,
        "reason": None,
        "next_cursor": None,
    }

    def key(seq: int) -> dict[str, Any]:
        return {"PK": {"S": f"AUDIT#{org['id']}"}, "SK": {"S": f"EVT#{seq:012d}"}}

    def item(seq: int) -> dict[str, Any]:
        return client.get_item(TableName=table, Key=key(seq))["Item"]

    expected = {"edit": 4, "delete": 3, "reorder": 3, "truncate": 6}[tamper]
    if tamper == "edit":  # someone hides what was changed
        client.update_item(
            TableName=table,
            Key=key(4),
            UpdateExpression="SET #m.#k = :k",
            ExpressionAttributeNames={"#m": "metadata", "#k": "key"},
            ExpressionAttributeValues={":k": {"S": "SOMETHING_ELSE"}},
        )
    elif tamper == "delete":
        client.delete_item(TableName=table, Key=key(3))
    elif tamper == "reorder":  # events 3 and 4 swap places
        three, four = item(3), item(4)
        client.put_item(TableName=table, Item={**four, "SK": key(3)["SK"]})
        client.put_item(TableName=table, Item={**three, "SK": key(4)["SK"]})
    else:  # the newest event removed
        client.delete_item(TableName=table, Key=key(6))
    status, _, verdict = api("GET", f"{org['path']}/audit/verify", user=org["owner"])
    assert (status, verdict["ok"], verdict["first_broken_seq"]) == (200, False, expected), verdict


def test_concurrent_changes_in_one_org_keep_the_chain_gapless(api: Api, org: dict[str, Any]) -> None:
    base = f"{org['path']}/projects/web/environments/development/secrets"
    statuses: list[int] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        status = api("PUT", f"{base}/K{i}", user=org["owner"], json={"value": str(i)})[0]
        with lock:
            statuses.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 20, time.perf_counter() - started
    events = everything(api, org)
    assert [e["seq"] for e in events] == list(range(len(events), 0, -1))
    assert api("GET", f"{org['path']}/audit/verify", user=org["owner"])[2]["ok"] is True
