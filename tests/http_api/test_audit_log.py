"""The audit log over HTTP: filters and pagination, export page by page, and its signed Merkle
tree: the sealer makes each event a leaf; inclusion and consistency proofs check out with an
independent RFC 9162 verifier (tests/unit/rfc9162.py) against heads whose signatures
`cryptography` checks with the published key; verification passes, and any edited, deleted,
reordered or inserted event is reported by its leaf."""

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from strongroom import aws
from strongroom.data import db
from strongroom.domain import audit
from strongroom_local import LocalStack
from support import Api, seal, table_name, unique_email
from unit.rfc9162 import sha256, verify_consistency, verify_inclusion

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
    assert [e["leaf_index"] for e in events] == [None] * 6  # not sealed yet (no workers here)
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
    for route in ("", "/export", "/verify", "/tree-head", "/public-key", "/leaves", "/consistency?first=1&second=1"):
        assert api("GET", f"{org['path']}/audit{route}", user=dev)[0] == 403
        assert api("GET", f"{org['path']}/audit{route}", user=unique_email("stranger"))[0] == 404


def _bulk(scope: str, count: int, table: str) -> None:
    """Write `count` events of a scope directly in the table, as data.chain.transact would (unsealed)."""
    client = aws.dynamodb()
    requests = []
    for n in range(count):
        event = audit.AuditEvent(
            scope_id=scope,
            action="secret.read",
            actor=audit.Actor(type="user", id="usr_bulk"),
            resource=audit.Resource(type="secret", id=f"K{n}"),
            metadata={"key": f"K{n}", "version": n},
        )
        requests.append({"PutRequest": {"Item": db.serialize(event.to_item())}})
    for i in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={table: requests[i : i + 25]})


def test_the_sealer_makes_every_event_a_leaf_in_order(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    assert seal(stack, org["id"])["sealed"] == 6
    events = everything(api, org)
    assert [e["leaf_index"] for e in events] == [5, 4, 3, 2, 1, 0]  # one writer: leaf order is creation order
    assert seal(stack, org["id"])["sealed"] == 0  # sealing twice seals nothing twice
    status, _, head = api("GET", f"{org['path']}/audit/tree-head", user=org["owner"])
    assert (status, head["org_id"], head["tree_size"]) == (200, org["id"], 6)
    one = api("GET", f"{org['path']}/audit/events/{events[2]['id']}", user=org["owner"])[2]
    assert one["leaf_index"] == 3
    assert one["event"]["action"] == events[2]["action"]
    assert set(one["event"]) >= {"id", "action", "actor", "resource", "created_at", "metadata"}


def _public_key(api: Api, org: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    status, headers, pem = api("GET", f"{org['path']}/audit/public-key", user=org["owner"])
    assert (status, headers["content-type"]) == (200, "application/x-pem-file")
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    return key


def _check_signature(key: ec.EllipticCurvePublicKey, head: dict[str, Any]) -> None:
    import base64

    import rfc8785

    signed = rfc8785.dumps({k: head[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")})
    key.verify(base64.b64decode(head["signature"]), signed, ec.ECDSA(hashes.SHA256()))  # raises if forged


def _leaf(event: dict[str, Any]) -> bytes:
    import rfc8785

    return sha256(b"\x00" + rfc8785.dumps(event))


def test_proofs_check_out_with_an_independent_verifier(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    owner, path = org["owner"], org["path"]
    key = _public_key(api, org)
    heads: list[dict[str, Any]] = []
    for round_ in range(4):  # the tree grows over four sealing runs: 6, 9, 12, 15 leaves
        if round_:
            for i in range(3):
                assert api("PATCH", path, user=owner, json={"name": f"Audit {round_}.{i}"})[0] == 200
        seal(stack, org["id"])
        status, _, head = api("GET", f"{path}/audit/tree-head", user=owner)
        assert status == 200
        _check_signature(key, head)
        heads.append(head)
    assert [h["tree_size"] for h in heads] == [6, 9, 12, 15]
    last = heads[-1]
    root = bytes.fromhex(last["root_hash"])
    events = everything(api, org)
    assert sorted(e["leaf_index"] for e in events) == list(range(15))
    for entry in events:
        one = api("GET", f"{path}/audit/events/{entry['id']}", user=owner)[2]
        index, leaf = one["leaf_index"], _leaf(one["event"])
        for head in (h for h in heads if h["tree_size"] > index):  # in every head that holds it
            size = head["tree_size"]
            status, _, proof = api("GET", f"{path}/audit/events/{entry['id']}/proof?tree_size={size}", user=owner)
            assert (status, proof["leaf_index"], proof["tree_size"]) == (200, index, size)
            audit_path = [bytes.fromhex(h) for h in proof["audit_path"]]
            assert verify_inclusion(index, size, leaf, audit_path, bytes.fromhex(head["root_hash"]))
            edited = _leaf({**one["event"], "ip": "10.0.0.1"})
            assert not verify_inclusion(index, size, edited, audit_path, bytes.fromhex(head["root_hash"]))
    for old in heads[:-1]:
        status, _, body = api("GET", f"{path}/audit/consistency?first={old['tree_size']}&second=15", user=owner)
        assert status == 200
        proof = [bytes.fromhex(h) for h in body["proof"]]
        assert verify_consistency(old["tree_size"], 15, bytes.fromhex(old["root_hash"]), root, proof)
        assert not verify_consistency(old["tree_size"], 15, sha256(b"forged"), root, proof)
    # the leaves in order give the signed root (what a client recomputes)
    leaves = api("GET", f"{path}/audit/leaves?start=0&limit=1000", user=owner)[2]
    assert [x["leaf_index"] for x in leaves["data"]] == list(range(15))
    # sizes out of range are 400, an unknown event 404
    assert api("GET", f"{path}/audit/events/{events[0]['id']}/proof?tree_size=99", user=owner)[0] == 400
    assert api("GET", f"{path}/audit/consistency?first=16&second=15", user=owner)[0] == 400
    assert api("GET", f"{path}/audit/events/evt_{'0' * 26}", user=owner)[0] == 404


def test_an_event_not_yet_sealed_has_no_leaf_and_no_proof(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    seal(stack, org["id"])
    assert api("PATCH", org["path"], user=org["owner"], json={"name": "Later"})[0] == 200
    newest = everything(api, org)[0]
    assert (newest["action"], newest["leaf_index"]) == ("org.updated", None)
    status, _, body = api("GET", f"{org['path']}/audit/events/{newest['id']}/proof", user=org["owner"])
    assert (status, body["error"]["code"]) == (409, "not_sealed")
    verdict = api("GET", f"{org['path']}/audit/verify", user=org["owner"])[2]
    assert (verdict["ok"], verdict["tree_size"], verdict["pending"]) == (True, 6, 1)


def test_export_of_5000_events_is_complete_and_ordered(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    _bulk(org["id"], 5000, table_name(stack))
    total = 6 + 5000
    for fmt in ("json", "csv"):
        ids: list[str] = []
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
            rows = body if fmt == "json" else list(csv.DictReader(io.StringIO(body)))
            ids += [r["id"] for r in rows]
            cursor = headers.get("x-next-cursor")
            if not cursor:
                break
        assert ids == sorted(ids), fmt  # oldest first
        assert len(set(ids)) == total, fmt  # every event once (sealing and verifying long logs: `long_log`)
        assert pages == 6


def verify_all(api: Api, org: dict[str, Any], timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """Follow verify's cursors to the end (or the first break): (calls, the last verdict)."""
    calls, cursor = 0, None
    while True:
        suffix = f"?cursor={cursor}" if cursor else ""
        status, _, verdict = api("GET", f"{org['path']}/audit/verify{suffix}", user=org["owner"], timeout=timeout)
        assert status == 200, verdict
        calls += 1
        cursor = verdict["next_cursor"]
        if not cursor or not verdict["ok"]:
            return calls, verdict


@pytest.fixture(scope="module")
def long_log(api: Api, stack: LocalStack) -> dict[str, Any]:
    """An org whose log holds 2,102 events: its own two, then 2,100 `secret.read`, all sealed."""
    owner, slug = unique_email("owner"), f"long-{pysecrets.token_hex(4)}"
    status, _, created = api("POST", "/v1/orgs", user=owner, json={"name": "Long", "slug": slug})
    assert status == 201
    org = {"owner": owner, "slug": slug, "id": created["id"], "path": f"/v1/orgs/{slug}"}
    assert api("POST", f"{org['path']}/projects", user=owner, json={"name": "Web"})[0] == 201
    _bulk(org["id"], 2100, table_name(stack))
    seal(stack, org["id"])
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
    assert (status, len(first["data"]), first["data"][0]["leaf_index"]) == (200, 500, 2101)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_filtered_export_goes_on_past_empty_pages(api: Api, long_log: dict[str, Any], fmt: str) -> None:
    walked = pages(api, long_log, f"audit/export?format={fmt}&action=project.created")
    assert [[e["action"] for e in rows] for rows, _ in walked] == [["project.created"], [], []]
    assert [cursor is not None for _, cursor in walked] == [True, True, False]


def _event_key(org_id: str, event_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"AUDIT#{org_id}"}, "SK": {"S": f"EVT#{event_id}"}}


def _leaf_key(org_id: str, index: int) -> dict[str, Any]:
    return {"PK": {"S": f"AUDIT#{org_id}"}, "SK": {"S": f"NODE#00#{index:012d}"}}


def _event_of_leaf(stack: LocalStack, org_id: str, index: int) -> str:
    node = aws.dynamodb().get_item(TableName=table_name(stack), Key=_leaf_key(org_id, index))["Item"]
    return str(node["event_id"]["S"])


def test_verify_walks_at_most_1000_events_a_call_and_resumes_from_its_cursor(
    api: Api, long_log: dict[str, Any], stack: LocalStack
) -> None:
    path, owner = long_log["path"], long_log["owner"]
    status, _, first = api("GET", f"{path}/audit/verify", user=owner)
    assert (status, first["ok"], first["checked"], first["tree_size"]) == (200, True, 1000, 2102)
    assert first["next_cursor"]
    calls, verdict = verify_all(api, long_log)
    assert (calls, verdict["ok"], verdict["checked"], verdict["next_cursor"]) == (5, True, 2102, None)
    # A cursor is the walk's sealed state: altered, or another org's, it is refused
    forged = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
    assert api("GET", f"{path}/audit/verify?cursor={forged}", user=owner)[0] == 400
    other = unique_email("other")
    status, _, mine = api("POST", "/v1/orgs", user=other, json={"name": "Other"})
    assert api("GET", f"/v1/orgs/{mine['id']}/audit/verify?cursor={first['next_cursor']}", user=other)[0] == 400
    # and a break past the first call's share is found by the call that reaches it
    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key=_event_key(long_log["id"], _event_of_leaf(stack, long_log["id"], 1500)),
        UpdateExpression="SET #m.#k = :k",
        ExpressionAttributeNames={"#m": "metadata", "#k": "key"},
        ExpressionAttributeValues={":k": {"S": "SOMETHING_ELSE"}},
    )
    calls, verdict = verify_all(api, long_log)
    assert (calls, verdict["ok"], verdict["first_broken_leaf"], verdict["reason"]) == (
        2,
        False,
        1500,
        "the event was altered",
    )


TAMPERING = {
    "edit": (3, "the event was altered"),
    "delete": (2, "the event of this leaf is missing"),
    "reorder": (2, "the event says it is another leaf"),
    "reorder-leaves-too": (5, "the events do not give the root of the signed head of size 6"),
    "insert": (2, "an event claims a leaf that is another event"),
    "truncate": (5, "a leaf is missing"),
}


def _tamper(stack: LocalStack, org_id: str, how: str) -> None:
    """What an insider with write access to the table (but not to the signing key) might do."""
    table, client = table_name(stack), aws.dynamodb()

    def event(index: int) -> dict[str, Any]:
        return client.get_item(TableName=table, Key=_event_key(org_id, _event_of_leaf(stack, org_id, index)))["Item"]

    if how == "edit":  # someone hides what was changed
        client.put_item(TableName=table, Item={**event(3), "ip": {"S": "10.0.0.1"}})
    elif how == "delete":
        client.delete_item(TableName=table, Key=_event_key(org_id, _event_of_leaf(stack, org_id, 2)))
    elif how.startswith("reorder"):  # the events of leaves 2 and 3 swap places
        two, three = event(2), event(3)
        client.put_item(TableName=table, Item={**two, "leaf_index": {"N": "3"}})
        client.put_item(TableName=table, Item={**three, "leaf_index": {"N": "2"}})
        if how == "reorder-leaves-too":  # and their leaves with them: every leaf hash matches again
            leaf2 = client.get_item(TableName=table, Key=_leaf_key(org_id, 2))["Item"]
            leaf3 = client.get_item(TableName=table, Key=_leaf_key(org_id, 3))["Item"]
            client.put_item(TableName=table, Item={**leaf3, **_leaf_key(org_id, 2), "index": {"N": "2"}})
            client.put_item(TableName=table, Item={**leaf2, **_leaf_key(org_id, 3), "index": {"N": "3"}})
    elif how == "insert":  # a made-up event that claims to be leaf 2
        fake = {**event(2), **_event_key(org_id, "evt_" + "1" * 26), "id": {"S": "evt_" + "1" * 26}}
        client.put_item(TableName=table, Item=fake)
    else:  # the newest event and its leaf removed
        client.delete_item(TableName=table, Key=_event_key(org_id, _event_of_leaf(stack, org_id, 5)))
        client.delete_item(TableName=table, Key=_leaf_key(org_id, 5))


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_reports_the_first_broken_leaf(api: Api, org: dict[str, Any], stack: LocalStack, how: str) -> None:
    seal(stack, org["id"])
    status, _, verdict = api("GET", f"{org['path']}/audit/verify", user=org["owner"])
    assert (status, verdict["ok"], verdict["checked"], verdict["tree_size"], verdict["next_cursor"]) == (
        200,
        True,
        6,
        6,
        None,
    )
    _tamper(stack, org["id"], how)
    status, _, verdict = api("GET", f"{org['path']}/audit/verify", user=org["owner"])
    assert (status, verdict["ok"], verdict["first_broken_leaf"], verdict["reason"]) == (200, False, *TAMPERING[how])


def test_concurrent_changes_in_one_org_each_become_one_leaf(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
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
    seal(stack, org["id"])
    events = everything(api, org)
    assert sorted(e["leaf_index"] for e in events) == list(range(len(events)))
    assert api("GET", f"{org['path']}/audit/verify", user=org["owner"])[2]["ok"] is True
