"""Agents over HTTP: an admin mints one (its secret shown once, never listed); it heartbeats (204),
claims from an empty queue (204), claims a job exactly once however many claims race, completes
it; its status shows. A read job is answered with a libsodium sealed box the requester opens
with PyNaCl, once (then 410), and the wrap is in no log line and no audit event. Revoked, an agent
is 401; acting as another agent it finds nothing (404); agents and everyone else keep to their
own routes (403). The inventory of discovered secrets filters by label, cluster and provider, ref
prefix and status, and pages."""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
from typing import Any

import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox

from strongroom_local import LocalStack
from support import Api, get_item, query_partition, unique_email

pytestmark = pytest.mark.http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"agt-{secrets.token_hex(4)}"
    status, _, made = api("POST", "/v1/orgs", user=owner, json={"name": "Agents", "slug": slug})
    assert status == 201, made
    return {"owner": owner, "slug": slug, "id": made["id"], "path": f"/v1/orgs/{slug}"}


def mint(api: Api, org: dict[str, Any], name: str = "cluster-a") -> dict[str, Any]:
    status, _, created = api("POST", f"{org['path']}/agents", user=org["owner"], json={"name": name})
    assert status == 201, created
    return created


def job(api: Api, org: dict[str, Any], agent_id: str, job_type: str = "discover", **params: Any) -> dict[str, Any]:
    body = {"agent": agent_id, "type": job_type, "params": params}
    status, _, created = api("POST", f"{org['path']}/jobs", user=org["owner"], json=body)
    assert status == 201, created
    return created


def test_mint_heartbeat_claim_once_complete_and_status(api: Api, org: dict[str, Any]) -> None:
    # Given an agent, minted: its secret this once
    agent = mint(api, org)
    secret, agent_id = agent["agent_secret"], agent["id"]
    assert secret.startswith("sr_agt_")
    assert agent_id.startswith("agt_")
    assert agent["status"] == "stale"  # never seen yet
    status, _, listed = api("GET", f"{org['path']}/agents", user=org["owner"])
    assert status == 200
    assert [a["id"] for a in listed["data"]] == [agent_id]
    assert secret not in json.dumps(listed)
    assert "agent_secret" not in listed["data"][0]
    assert secret not in json.dumps(api("GET", f"{org['path']}/agents/{agent_id}", user=org["owner"])[2])

    # When it heartbeats: 204, and it is online
    me = f"/v1/agents/{agent_id}"
    assert api("POST", f"{me}/heartbeat", headers=bearer(secret))[0] == 204
    shown = api("GET", f"{org['path']}/agents/{agent_id}", user=org["owner"])[2]
    assert shown["status"] == "online"
    assert shown["last_seen_at"] is not None
    # a second heartbeat within the minute writes nothing
    assert api("POST", f"{me}/heartbeat", headers={"X-Agent-Secret": secret})[0] == 204
    assert api("GET", f"{org['path']}/agents/{agent_id}", user=org["owner"])[2]["last_seen_at"] == shown["last_seen_at"]

    # An empty queue: 204
    assert api("POST", f"{me}/jobs/claim", headers=bearer(secret))[0] == 204

    # A job, claimed by 20 racing claims: exactly one gets it
    queued = job(api, org, agent_id)
    assert queued["status"] == "queued"
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def claim() -> None:
        status, _, body = api("POST", f"{me}/jobs/claim", headers=bearer(secret))
        with lock:
            results.append((status, body))

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [body for status, body in results if status == 200]
    assert sorted(status for status, _ in results) == [200] + [204] * 19, results
    assert won[0]["id"] == queued["id"]
    assert won[0]["status"] == "claimed"

    # Completed: 204; the job shows its history; completing again is 409
    done = {"status": "failed", "error": "no such directory"}
    assert api("POST", f"{me}/jobs/{queued['id']}/complete", headers=bearer(secret), json=done)[0] == 204
    status, _, seen = api("GET", f"{org['path']}/jobs/{queued['id']}", user=org["owner"])
    assert status == 200
    assert (seen["status"], seen["error"]) == ("failed", "no such directory")
    assert [h["status"] for h in seen["history"]] == ["queued", "claimed", "failed"]
    again = api("POST", f"{me}/jobs/{queued['id']}/complete", headers=bearer(secret), json={"status": "succeeded"})
    assert (again[0], again[2]["error"]["code"]) == (409, "not_claimed")
    history = api("GET", f"{org['path']}/jobs?agent={agent_id}", user=org["owner"])[2]["data"]
    assert [j["id"] for j in history] == [queued["id"]]

    # Every mutation audited once: created, claimed once (the 19 lost claims wrote nothing), failed
    actions = [
        e["action"] for e in api("GET", f"{org['path']}/audit?resource_type=agent_job", user=org["owner"])[2]["data"]
    ]
    assert sorted(actions) == ["job.claimed", "job.created", "job.failed"]


def test_revoked_is_401_and_an_agent_is_only_itself(api: Api, org: dict[str, Any]) -> None:
    mine, other = mint(api, org, "a"), mint(api, org, "b")
    secret = mine["agent_secret"]
    # acting as another agent: nothing there (404), and nothing happened to it
    for method, suffix, body in [
        ("POST", "heartbeat", None),
        ("POST", "jobs/claim", None),
        ("PUT", "public-key", {"public_key": base64.b64encode(bytes(32)).decode()}),
    ]:
        status, _, answer = api(method, f"/v1/agents/{other['id']}/{suffix}", headers=bearer(secret), json=body)
        assert (status, answer["error"]["code"]) == (404, "not_found"), (suffix, answer)
    assert api("GET", f"{org['path']}/agents/{other['id']}", user=org["owner"])[2]["last_seen_at"] is None
    # its job cannot be completed by this one
    theirs = job(api, org, other["id"])
    assert api("POST", f"/v1/agents/{other['id']}/jobs/claim", headers=bearer(other["agent_secret"]))[0] == 200
    status, _, _ = api(
        "POST",
        f"/v1/agents/{mine['id']}/jobs/{theirs['id']}/complete",
        headers=bearer(secret),
        json={"status": "succeeded"},
    )
    assert status == 404
    # an agent on an org's routes, and a user on an agent's: 403
    status, _, answer = api("GET", f"{org['path']}/agents", headers=bearer(secret))
    assert (status, answer["error"]["code"]) == (403, "agent_only")
    status, _, answer = api("POST", f"/v1/agents/{mine['id']}/heartbeat", user=org["owner"])
    assert (status, answer["error"]["code"]) == (403, "agent_required")
    # another org's admin sees none of them
    stranger = unique_email("stranger")
    assert api("GET", f"{org['path']}/agents/{mine['id']}", user=stranger)[0] == 404

    # revoked: 401 on the next call, listed as revoked
    status, _, revoked = api("POST", f"{org['path']}/agents/{mine['id']}/revoke", user=org["owner"])
    assert (status, revoked["status"]) == (200, "revoked")
    assert api("POST", f"/v1/agents/{mine['id']}/heartbeat", headers=bearer(secret))[0] == 401
    assert api("POST", f"/v1/agents/{mine['id']}/heartbeat", headers={"X-Agent-Secret": secret})[0] == 401
    listed = {a["id"]: a["status"] for a in api("GET", f"{org['path']}/agents", user=org["owner"])[2]["data"]}
    assert listed[mine["id"]] == "revoked"
    # a job for a revoked agent is refused
    body = {"agent": mine["id"], "type": "discover", "params": {}}
    assert api("POST", f"{org['path']}/jobs", user=org["owner"], json=body)[0] == 409


def test_a_read_job_is_answered_with_a_sealed_box_opened_once(
    api: Api, org: dict[str, Any], stack: LocalStack, server_log: io.StringIO
) -> None:
    agent = mint(api, org)
    secret, me = agent["agent_secret"], f"/v1/agents/{agent['id']}"
    recipient = PrivateKey.generate()
    recipient_key = base64.b64encode(bytes(recipient.public_key)).decode()
    read = job(api, org, agent["id"], "read", ref="apps/web/.env#DB_URL", recipient_public_key=recipient_key)

    # The agent claims it and seals the value to the job's key
    status, _, claimed = api("POST", f"{me}/jobs/claim", headers=bearer(secret))
    assert status == 200
    assert claimed["params"]["ref"] == "apps/web/.env#DB_URL"
    value = b"postgres://user:hunter2-" + secrets.token_hex(8).encode()
    to = PublicKey(base64.b64decode(claimed["params"]["recipient_public_key"]))
    sealed = base64.b64encode(SealedBox(to).encrypt(value)).decode()
    status, _, wrap = api("POST", f"{me}/wraps", headers=bearer(secret), json={"job": read["id"], "sealed": sealed})
    assert status == 201, wrap
    # one wrap per job
    again = api("POST", f"{me}/wraps", headers=bearer(secret), json={"job": read["id"], "sealed": sealed})
    assert again[0] == 409
    assert (
        api("POST", f"{me}/jobs/{read['id']}/complete", headers=bearer(secret), json={"status": "succeeded"})[0] == 204
    )
    seen = api("GET", f"{org['path']}/jobs/{read['id']}", user=org["owner"])[2]
    assert (seen["status"], seen["wrap_id"]) == ("succeeded", wrap["id"])

    # Someone else of the org cannot fetch it (404), the requester can, once
    status, _, inv = api(
        "POST",
        f"{org['path']}/invitations",
        user=org["owner"],
        json={"email": (m := unique_email("m")), "role": "admin"},
    )
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=m)[0] == 200
    assert api("GET", f"{org['path']}/wraps/{wrap['id']}", user=m)[0] == 404
    status, _, fetched = api("GET", f"{org['path']}/wraps/{wrap['id']}", user=org["owner"])
    assert status == 200
    assert SealedBox(recipient).decrypt(base64.b64decode(fetched["sealed"])) == value
    status, _, gone = api("GET", f"{org['path']}/wraps/{wrap['id']}", user=org["owner"])
    assert (status, gone["error"]["code"]) == (410, "wrap_gone")

    # The wrap is in no log line and no audit event; the stored item keeps it no more
    assert sealed not in server_log.getvalue()
    events = query_partition(stack, f"AUDIT#{org['id']}", "EVT#")
    assert {"job.wrap_created", "wrap.fetched"} <= {e["action"]["S"] for e in events}
    assert sealed not in json.dumps(events)
    assert value.decode() not in json.dumps(events)
    stored = get_item(stack, f"ORG#{org['id']}", f"WRAP#{wrap['id']}")
    assert stored is not None
    assert "sealed" not in stored


def test_an_agent_gets_a_data_key_under_its_own_context(api: Api, org: dict[str, Any]) -> None:
    from strongroom import aws

    agent = mint(api, org)
    status, _, issued = api("POST", f"/v1/agents/{agent['id']}/dek", headers=bearer(agent["agent_secret"]))
    assert status == 200, issued
    assert issued["encryption_context"] == {"org": org["id"], "agent": agent["id"], "purpose": "agent_dek"}
    plaintext = base64.b64decode(issued["plaintext_key"])
    assert len(plaintext) == 32
    opened = aws.kms().decrypt(
        CiphertextBlob=base64.b64decode(issued["wrapped_key"]), EncryptionContext=issued["encryption_context"]
    )
    assert opened["Plaintext"] == plaintext


def _report(api: Api, agent: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    status, _, result = api(
        "POST", f"/v1/agents/{agent['id']}/secrets/bulk", headers=bearer(agent["agent_secret"]), json={"secrets": items}
    )
    assert status == 200, result
    return result


def _item(ref: str, cluster: str = "prod-eu", provider: str = "kubernetes", **labels: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "provider": provider,
        "cluster_name": cluster,
        "labels": labels,
        "fingerprint": "hmac:" + "ab" * 8,
    }


def test_discovered_secrets_filter_and_page(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    agent = mint(api, org)
    items = [
        _item("payments/db#password", team="payments", tier="db"),
        _item("payments/api#key", team="payments", tier="api"),
        _item("search/es#password", team="search", tier="db"),
        _item("payments/db#password", cluster="prod-us", team="payments", tier="db"),
        _item("vault/kv/payments#token", provider="vault", team="payments"),
    ]
    assert _report(api, agent, items) == {"received": 5, "created": 5, "updated": 0}
    # reported again: the same items
    assert _report(api, agent, items[:2]) == {"received": 2, "created": 0, "updated": 2}

    def refs(query: str) -> list[tuple[str, str]]:
        status, _, page = api("GET", f"{org['path']}/discovered-secrets{query}", user=org["owner"])
        assert status == 200, page
        assert all("value" not in s for s in page["data"])
        found = [(s["ref"], s["cluster_name"]) for s in page["data"]]
        assert [r for r, _ in found] == sorted(r for r, _ in found)  # in ref order
        return sorted(found)

    assert refs("?label=tier:db&label=team:payments") == [
        ("payments/db#password", "prod-eu"),
        ("payments/db#password", "prod-us"),
    ]
    assert refs("?cluster_name=prod-eu&provider=kubernetes") == [
        ("payments/api#key", "prod-eu"),
        ("payments/db#password", "prod-eu"),
        ("search/es#password", "prod-eu"),
    ]
    assert refs("?ref_prefix=payments/") == [
        ("payments/api#key", "prod-eu"),
        ("payments/db#password", "prod-eu"),
        ("payments/db#password", "prod-us"),
    ]
    assert refs("?provider=vault") == [("vault/kv/payments#token", "prod-eu")]
    assert refs("?status=stale") == []

    # One not reported for more than a day is stale
    from strongroom import aws
    from support import table_name

    es = next(i for i in query_partition(stack, f"DISCOVERED#{org['id']}", "DSC#search/"))
    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key={"PK": es["PK"], "SK": es["SK"]},
        UpdateExpression="SET last_seen_at = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00Z"}},
    )
    assert refs("?status=stale") == [("search/es#password", "prod-eu")]
    assert ("search/es#password", "prod-eu") not in refs("?status=active")

    # Cursor paging walks them all once
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api("GET", f"{org['path']}/discovered-secrets{query}", user=org["owner"])[2]
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5

    # Bad input: 400, never 5xx
    for query in ("?label=nocolon", "?status=gone", "?limit=0"):
        assert api("GET", f"{org['path']}/discovered-secrets{query}", user=org["owner"])[0] == 400, query
    status, _, _bad = api(
        "POST",
        f"/v1/agents/{agent['id']}/secrets/bulk",
        headers=bearer(agent["agent_secret"]),
        json={"secrets": [{"ref": "x"}]},
    )
    assert status == 400


def test_a_bulk_report_of_5000_items(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    agent = mint(api, org)
    items = [_item(f"ns-{n // 100}/secret-{n}#k", team=f"t{n % 7}") for n in range(5000)]
    assert _report(api, agent, items) == {"received": 5000, "created": 5000, "updated": 0}
    status, _, page = api("GET", f"{org['path']}/discovered-secrets?ref_prefix=ns-49/&limit=500", user=org["owner"])
    assert status == 200
    assert len(page["data"]) == 100


def test_an_approved_agent_read_request_queues_the_job_and_the_requester_opens_its_answer(
    api: Api, org: dict[str, Any]
) -> None:
    # Given a project whose production needs approval for access, a developer, and an agent that
    # reported a ref
    path, owner = org["path"], org["owner"]
    assert api("POST", f"{path}/projects", user=owner, json={"name": "Web"})[0] == 201
    policy = {
        "name": "Prod",
        "project": "web",
        "environments": ["production"],
        "applies_to": ["access_requests"],
        "approvers": ["admin"],
        "approvals_required": 1,
    }
    assert api("POST", f"{path}/approval-policies", user=owner, json=policy)[0] == 201
    dev = unique_email("dev")
    _, _, inv = api("POST", f"{path}/invitations", user=owner, json={"email": dev, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    agent = mint(api, org)
    auth = bearer(agent["agent_secret"])
    _report(api, agent, [_item("payments/db#password")])

    # When the developer asks for one sealed read of it, and an approver approves
    recipient = PrivateKey.generate()
    ask = {
        "project": "web",
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 600,
        "reason": "incident 42",
        "agent_read": {
            "agent": agent["id"],
            "ref": "payments/db#password",
            "recipient_public_key": base64.b64encode(bytes(recipient.public_key)).decode(),
        },
    }
    unknown = {**ask, "agent_read": {**ask["agent_read"], "ref": "never/reported#x"}}
    status, _, refused = api("POST", f"{path}/access-requests", user=dev, json=unknown)
    assert (status, refused["error"]["code"]) == (422, "unknown_ref")
    status, _, req = api("POST", f"{path}/access-requests", user=dev, json=ask)
    assert status == 201, req
    assert api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=auth)[0] == 204  # nothing before approval
    status, _, approved = api("POST", f"{path}/access-requests/{req['id']}/approve", user=owner, json={})
    assert (status, approved["status"]) == (200, "approved"), approved
    assert approved["job_id"] is not None

    # Then the agent gets the read job, made for the developer, and the developer opens the answer once
    status, _, claimed = api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=auth)
    assert (status, claimed["id"], claimed["type"]) == (200, approved["job_id"], "read")
    assert (claimed["created_by"], claimed["access_request_id"]) == (req["requester_id"], req["id"])
    to = PublicKey(base64.b64decode(claimed["params"]["recipient_public_key"]))
    sealed = base64.b64encode(SealedBox(to).encrypt(b"s3cr3t-db-password")).decode()
    wrap_body = {"job": claimed["id"], "sealed": sealed}
    assert api("POST", f"/v1/agents/{agent['id']}/wraps", headers=auth, json=wrap_body)[0] == 201
    status, _, seen = api("GET", f"{path}/jobs/{claimed['id']}", user=dev)
    assert status == 200, seen
    fetched = api("GET", f"{path}/wraps/{seen['wrap_id']}", user=dev)[2]
    assert SealedBox(recipient).decrypt(base64.b64decode(fetched["sealed"])) == b"s3cr3t-db-password"
    assert api("GET", f"{path}/wraps/{seen['wrap_id']}", user=dev)[0] == 410
    # and no timed permission came with it: production stays unreadable to the developer
    assert api("GET", f"{path}/projects/web/environments/production/secrets", user=dev)[0] == 403


def test_an_idempotency_key_belongs_to_the_agent_that_sent_it(api: Api, org: dict[str, Any]) -> None:
    one, two = mint(api, org, "one"), mint(api, org, "two")
    body = {"public_key": base64.b64encode(bytes(range(32))).decode()}
    for agent in (one, two):  # the same key and body, by two agents, each with X-Agent-Secret
        headers = {"X-Agent-Secret": agent["agent_secret"], "Idempotency-Key": "same-key-1"}
        status, answered, shown = api("PUT", f"/v1/agents/{agent['id']}/public-key", headers=headers, json=body)
        assert (status, shown["id"]) == (200, agent["id"])
        assert "idempotent-replayed" not in answered
    # and the same agent again is the replay
    headers = {"X-Agent-Secret": one["agent_secret"], "Idempotency-Key": "same-key-1"}
    _, answered, _ = api("PUT", f"/v1/agents/{one['id']}/public-key", headers=headers, json=body)
    assert answered.get("idempotent-replayed") == "true"


def test_a_job_unclaimed_past_its_end_expires_and_is_never_claimed(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    from strongroom import aws
    from support import table_name

    agent = mint(api, org)
    late, fresh = job(api, org, agent["id"]), job(api, org, agent["id"])
    # Given the first one's end has passed (its clock moved on: the item says so)
    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key={"PK": {"S": f"ORG#{org['id']}"}, "SK": {"S": f"JOB#{late['id']}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00Z"}},
    )
    assert api("GET", f"{org['path']}/jobs/{late['id']}", user=org["owner"])[2]["status"] == "expired"
    # When the agent claims: it gets the fresh one, and the late one is moved to expired for good
    status, _, claimed = api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=bearer(agent["agent_secret"]))
    assert (status, claimed["id"]) == (200, fresh["id"])
    assert api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=bearer(agent["agent_secret"]))[0] == 204
    seen = api("GET", f"{org['path']}/jobs/{late['id']}", user=org["owner"])[2]
    assert [h["status"] for h in seen["history"]] == ["queued", "expired"]
    expired = api("GET", f"{org['path']}/jobs?status=expired", user=org["owner"])[2]["data"]
    assert [j["id"] for j in expired] == [late["id"]]
