"""Governance over HTTP: approval policies, access requests and their temporary grants (honoured by
the one permission choke point until they end), workflows of ordered steps, change requests."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from strongroom import clock
from strongroom_local import LocalStack
from support import Api, org_with_members, query_partition

pytestmark = pytest.mark.http

P = "/v1/orgs/{slug}/projects/web"


def _project(api: Api, slug: str, owner: str) -> str:
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    return P.format(slug=slug)


def _policy(api: Api, slug: str, owner: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Guard", "project": "web", "environments": ["production"], "applies_to": ["access_requests"]}
    status, _, policy = api("POST", f"/v1/orgs/{slug}/approval-policies", user=owner, json={**body, **fields})
    assert status == 201, policy
    return policy


def _request(api: Api, slug: str, user: str, *, env: str = "production", seconds: int = 6) -> dict[str, Any]:
    body = {"project": "web", "environment": env, "permission": "secrets.read", "duration_seconds": seconds}
    status, _, req = api("POST", f"/v1/orgs/{slug}/access-requests", user=user, json={**body, "reason": "incident 42"})
    assert status == 201, req
    assert req["status"] == "pending"
    return req


def _act(api: Api, slug: str, req: dict[str, Any], verb: str, user: str, *, body: Any = None) -> tuple[int, Any]:
    status, _, out = api("POST", f"/v1/orgs/{slug}/access-requests/{req['id']}/{verb}", user=user, json=body or {})
    return status, out


def _mailbox(api: Api, email: str) -> list[dict[str, Any]]:
    status, _, body = api("GET", f"/_local/mailbox?to={email}")
    assert status == 200
    return list(body["data"])


def test_a_developer_reads_production_for_the_time_two_admins_approved(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, emails, ids = org_with_members(api, {"a1": "admin", "a2": "admin", "dev": "developer"})
    owner, dev = emails["owner"], emails["dev"]
    project = _project(api, slug, owner)
    secret = f"{project}/environments/production/secrets/DB_URL"
    assert api("PUT", secret, user=owner, json={"value": "postgres://prod"})[0] == 200
    policy = _policy(api, slug, owner, approvals_required=2, approvers=["admin"])
    assert (policy["approvals_required"], policy["approvers"], policy["owner_bypass"]) == (2, ["admin"], True)
    assert api("GET", secret, user=dev)[0] == 403

    # Given a request for 6 s, the approvers are told by mail (the requester is not)
    req = _request(api, slug, dev)
    for admin in ("a1", "a2"):
        [mail] = _mailbox(api, emails[admin])
        assert req["id"] in mail["text"]
        assert "postgres://prod" not in mail["text"]
    assert _mailbox(api, dev) == []

    # The requester cannot approve their own; one approval of two is not enough; nobody approves twice
    status, out = _act(api, slug, req, "approve", dev)
    assert (status, out["error"]["code"]) == (403, "self_approval")
    status, out = _act(api, slug, req, "approve", emails["a1"], body={"comment": "ok"})
    assert (status, out["status"], len(out["approvals"])) == (200, "pending", 1)
    status, out = _act(api, slug, req, "approve", emails["a1"])
    assert (status, out["error"]["code"]) == (409, "already_approved")
    assert api("GET", secret, user=dev)[0] == 403

    # After the second approval the developer reads production
    status, out = _act(api, slug, req, "approve", emails["a2"])
    assert (status, out["status"]) == (200, "approved")
    assert out["grant_expires_at"] > out["granted_at"]
    status, _, read = api("GET", secret, user=dev)
    assert (status, read["value"]) == (200, "postgres://prod")
    assert api("PUT", secret, user=dev, json={"value": "x"})[0] == 403  # read only: what was asked
    status, out = _act(api, slug, req, "approve", owner)
    assert (status, out["error"]["code"]) == (409, "not_pending")

    # After expiry they are 403 again, at once (the clock moves past the grant's end)
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(seconds=7))
    assert api("GET", secret, user=dev)[0] == 403
    _, _, shown = api("GET", f"/v1/orgs/{slug}/access-requests/{req['id']}", user=dev)
    assert shown["status"] == "expired"
    assert [a["user_id"] for a in shown["approvals"]] == [ids["a1"], ids["a2"]]


def test_decisions_are_final_and_only_the_requester_cancels(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    slug, emails, _ = org_with_members(api, {"a1": "admin", "a2": "admin", "dev": "developer"})
    owner, dev = emails["owner"], emails["dev"]
    _project(api, slug, owner)
    _policy(api, slug, owner, approvals_required=1, approvers=["admin"], owner_bypass=False)

    # Reject then approve → 409
    req = _request(api, slug, dev)
    status, out = _act(api, slug, req, "reject", emails["a1"], body={"reason": "not during the freeze"})
    assert (status, out["status"], out["decision_reason"]) == (200, "rejected", "not during the freeze")
    status, out = _act(api, slug, req, "approve", emails["a2"])
    assert (status, out["error"]["code"]) == (409, "not_pending")

    # Cancel by anyone but the requester → 403 (a stranger: 404); by the requester → cancelled
    req = _request(api, slug, dev)
    for other in (emails["a1"], owner):
        status, out = _act(api, slug, req, "cancel", other)
        assert (status, out["error"]["code"]) == (403, "not_requester")
    assert _act(api, slug, req, "cancel", "stranger@example.com")[0] == 404
    status, out = _act(api, slug, req, "cancel", dev)
    assert (status, out["status"]) == (200, "cancelled")
    assert _act(api, slug, req, "approve", emails["a1"])[0] == 409

    # Approve after the request's own deadline → 409 expired, and the expiry is audited
    req = _request(api, slug, dev)
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=8))
    status, out = _act(api, slug, req, "approve", emails["a1"])
    assert (status, out["error"]["code"]) == (409, "expired")
    _, _, log = api("GET", f"/v1/orgs/{slug}/audit?resource_type=access_request", user=owner)
    actions = [e["action"] for e in log["data"] if e["resource"]["id"] == req["id"]]
    assert actions == ["access_request.expired", "access_request.created"]

    # What a request asks for is bounded by its policy, and needs one
    body = {"project": "web", "environment": "production", "permission": "secrets.read", "reason": "r"}
    status, _, out = api(
        "POST", f"/v1/orgs/{slug}/access-requests", user=dev, json={**body, "duration_seconds": 8 * 3600 + 1}
    )
    assert (status, out["error"]["code"]) == (422, "duration_too_long")
    status, _, out = api(
        "POST",
        f"/v1/orgs/{slug}/access-requests",
        user=dev,
        json={**body, "environment": "staging", "duration_seconds": 5},
    )
    assert (status, out["error"]["code"]) == (409, "already_permitted")


def test_twenty_racing_approvals_record_exactly_the_required_count(api: Api) -> None:
    approvers = {f"a{n}": "admin" for n in range(20)}
    slug, emails, _ = org_with_members(api, {**approvers, "dev": "developer"})
    _project(api, slug, emails["owner"])
    _policy(api, slug, emails["owner"], approvals_required=3, approvers=["admin"])
    req = _request(api, slug, emails["dev"], seconds=600)

    results: list[int] = []
    start = threading.Barrier(len(approvers))

    def approve(name: str) -> None:
        start.wait()
        results.append(_act(api, slug, req, "approve", emails[name])[0])

    threads = [threading.Thread(target=approve, args=(name,)) for name in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 3 + [409] * 17
    _, _, shown = api("GET", f"/v1/orgs/{slug}/access-requests/{req['id']}", user=emails["dev"])
    assert shown["status"] == "approved"
    assert len(shown["approvals"]) == 3
    assert len({a["user_id"] for a in shown["approvals"]}) == 3


def test_a_two_step_workflow_decides_in_order(api: Api) -> None:
    slug, emails, ids = org_with_members(api, {"lead": "developer", "admin": "admin", "viewer": "viewer"})
    owner = emails["owner"]
    project = _project(api, slug, owner)
    steps = [
        {"approvals_required": 1, "approvers": ["developer"]},
        {"approvals_required": 1, "approvers": [ids["admin"]]},
    ]
    policy = _policy(api, slug, owner, environments=["staging"], steps=steps, owner_bypass=False)
    assert [s["approvers"] for s in policy["steps"]] == [["developer"], [ids["admin"]]]
    req = _request(api, slug, emails["viewer"], env="staging")
    assert req["current_step"] == 1
    assert _mailbox(api, emails["admin"]) == []  # step 2 is told when its turn comes

    # Step 2 cannot approve before step 1
    status, out = _act(api, slug, req, "approve", emails["admin"])
    assert (status, out["error"]["code"]) == (409, "step_pending")
    status, out = _act(api, slug, req, "approve", emails["lead"])
    assert (status, out["status"], out["current_step"]) == (200, "pending", 2)
    [mail] = _mailbox(api, emails["admin"])
    assert req["id"] in mail["text"]
    status, out = _act(api, slug, req, "approve", emails["admin"])
    assert (status, out["status"]) == (200, "approved")
    assert [a["step"] for a in out["approvals"]] == [1, 2]
    assert api("GET", f"{project}/environments/staging/secrets", user=emails["viewer"])[0] == 200


def test_policies_are_validated_and_exclusive(api: Api) -> None:
    slug, emails, _ = org_with_members(api, {"admin": "admin", "dev": "developer"})
    owner = emails["owner"]
    _project(api, slug, owner)
    base = {"name": "G", "project": "web", "environments": ["production"], "applies_to": ["changes"]}
    path = f"/v1/orgs/{slug}/approval-policies"
    status, _, out = api("POST", path, user=owner, json={**base, "approvers": ["nobody-here"]})
    assert (status, out["error"]["code"]) == (422, "unknown_approver")
    status, _, out = api("POST", path, user=owner, json={**base, "approvers": ["admin"], "approvals_required": 11})
    assert status == 400
    assert api("POST", path, user=emails["dev"], json={**base, "approvers": ["admin"]})[0] == 403
    status, _, first = api("POST", path, user=emails["admin"], json={**base, "approvers": ["admin"]})
    assert status == 201
    status, _, out = api("POST", path, user=owner, json={**base, "approvers": ["owner"]})
    assert (status, out["error"]["code"]) == (409, "policy_overlap")
    # replaced to cover staging instead: production is free for another policy
    moved = {**base, "environments": ["staging"], "approvers": ["admin"]}
    assert api("PUT", f"{path}/{first['id']}", user=owner, json=moved)[0] == 200
    assert api("POST", path, user=owner, json={**base, "approvers": ["owner"]})[0] == 201
    _, _, listed = api("GET", path, user=emails["dev"])
    assert len(listed["data"]) == 2
    assert api("DELETE", f"{path}/{first['id']}", user=owner)[0] == 204
    assert api("GET", f"{path}/{first['id']}", user=owner)[0] == 404


def _change_policy(api: Api, slug: str, owner: str) -> dict[str, Any]:
    return _policy(api, slug, owner, environments=["staging"], applies_to=["changes"], approvers=["admin"])


def test_a_developers_patch_into_a_covered_staging_waits_for_approval_and_its_author(
    api: Api, stack: LocalStack
) -> None:
    slug, emails, ids = org_with_members(api, {"admin": "admin", "dev": "developer"})
    owner, dev, admin = emails["owner"], emails["dev"], emails["admin"]
    staging = f"{_project(api, slug, owner)}/environments/staging"
    policy = _change_policy(api, slug, owner)

    # The owner's own write bypasses, audited as a bypass
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": "one"})[0] == 200
    _, _, log = api("GET", f"/v1/orgs/{slug}/audit?action=secret.created", user=owner)
    assert log["data"][0]["metadata"]["approval_bypassed"] == {"policy_id": policy["id"]}

    # A developer's PATCH answers 202 with keys and actions only; nothing changed
    patch = {"set": {"A": "two-proposed", "B": "bee-proposed"}}
    status, _, held = api("PATCH", f"{staging}/secrets", user=dev, json=patch)
    assert status == 202, held
    cr = held["change_request"]
    assert cr["status"] == "open"
    assert [(c["key"], c["action"], c["old_version"], c["new_version"]) for c in cr["changes"]] == [
        ("A", "update", 1, 2),
        ("B", "create", None, 1),
    ]
    assert "proposed" not in str(held)
    assert api("GET", f"{staging}/secrets/A", user=dev)[2]["value"] == "one"
    assert api("GET", f"{staging}/secrets/B", user=dev)[0] == 404
    # …and the proposed values are sealed at rest
    org_id = api("GET", f"/v1/orgs/{slug}", user=owner)[2]["id"]
    [item] = [i for i in query_partition(stack, f"ORG#{org_id}", "CHANGEREQ#") if i["id"]["S"] == cr["id"]]
    assert b"proposed" not in item["sealed"]["B"]

    base = f"/v1/orgs/{slug}/change-requests/{cr['id']}"
    assert api("POST", f"{base}/apply", user=dev)[2]["error"]["code"] == "not_approved"
    assert api("POST", f"{base}/approve", user=dev, json={})[2]["error"]["code"] == "self_approval"
    assert api("POST", f"{base}/comments", user=admin, json={"body": "looks right"})[0] == 200
    status, _, approved = api("POST", f"{base}/approve", user=admin, json={"comment": "ok"})
    assert (status, approved["status"]) == (200, "approved")
    assert api("POST", f"{base}/apply", user=admin)[2]["error"]["code"] == "not_author"
    assert api("GET", f"{staging}/secrets/A", user=dev)[2]["value"] == "one"
    status, _, applied = api("POST", f"{base}/apply", user=dev)
    assert (status, applied["status"], applied["applied_revision"]) == (200, "applied", 2)
    assert api("GET", f"{staging}/secrets/A", user=dev)[2]["value"] == "two-proposed"
    assert api("GET", f"{staging}/secrets/B", user=dev)[2]["version"] == 1
    _, _, shown = api("GET", base, user=dev)
    assert [c["body"] for c in shown["comments"]] == ["looks right"]
    assert shown["approvals"][0]["user_id"] == ids["admin"]

    # A change request whose key moved since it was opened → 409 stale on apply, nothing written
    status, _, held = api("PUT", f"{staging}/secrets/A", user=dev, json={"value": "three"})
    assert status == 202
    stale = f"/v1/orgs/{slug}/change-requests/{held['change_request']['id']}"
    assert api("POST", f"{stale}/approve", user=admin, json={})[0] == 200
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": "four"})[0] == 200
    status, _, out = api("POST", f"{stale}/apply", user=dev)
    assert (status, out["error"]["code"], out["error"]["details"]["keys"]) == (409, "stale", ["A"])
    _, _, a = api("GET", f"{staging}/secrets/A", user=dev)
    assert (a["value"], a["version"]) == ("four", 3)
    assert api("GET", stale, user=dev)[2]["status"] == "approved"


def test_ten_racing_applies_apply_once(api: Api) -> None:
    slug, emails, _ = org_with_members(api, {"admin": "admin", "dev": "developer"})
    staging = f"{_project(api, slug, emails['owner'])}/environments/staging"
    _change_policy(api, slug, emails["owner"])
    status, _, held = api("PUT", f"{staging}/secrets/C", user=emails["dev"], json={"value": "see"})
    assert status == 202
    base = f"/v1/orgs/{slug}/change-requests/{held['change_request']['id']}"
    assert api("POST", f"{base}/approve", user=emails["admin"], json={})[0] == 200

    results: list[int] = []
    start = threading.Barrier(10)

    def apply() -> None:
        start.wait()
        results.append(api("POST", f"{base}/apply", user=emails["dev"])[0])

    threads = [threading.Thread(target=apply) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 9
    _, _, c = api("GET", f"{staging}/secrets/C", user=emails["dev"])
    assert (c["value"], c["version"]) == ("see", 1)
    _, _, versions = api("GET", f"{staging}/secrets/C/versions", user=emails["dev"])
    assert len(versions["data"]) == 1
