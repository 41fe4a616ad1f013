"""The platform layer over HTTP (issue #18): the probes and /metrics, plans and limits with their
counters, the rate limit's headers, platform admin, usage.

The local stack's platform admin is admin@example.com (its PLATFORM_ADMINS); its orgs start on the
enterprise plan, so that nothing else meets a limit: these tests set the limits they meet."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import http_sf
import pytest
from botocore.stub import Stubber
from prometheus_client.parser import text_string_to_metric_families

from strongroom import aws, clock
from support import unique_email

if TYPE_CHECKING:
    from conftest import Api

    from strongroom_local import LocalStack

ADMIN = "admin@example.com"


def _org(api: Api, owner: str) -> dict[str, Any]:
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Platform {secrets.token_hex(4)}"})
    assert status == 201, org
    return org


def _override(api: Api, org_id: str, **limits: int) -> dict[str, Any]:
    status, _, body = api("PATCH", f"/v1/admin/orgs/{org_id}", user=ADMIN, json={"limit_overrides": limits})
    assert status == 200, body
    return body


# --------------------------------------------------------------------------- probes


def test_healthz_is_alive_and_asks_nothing(api: Api) -> None:
    status, headers, body = api("GET", "/healthz")
    assert (status, body) == (200, {"status": "alive"})
    assert "x-ratelimit-limit" not in headers  # probes are not rate limited


def test_readyz_is_ready_then_503_naming_kms_when_kms_fails(api: Api) -> None:
    status, _, body = api("GET", "/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) >= {"dynamodb", "kms", "webhook_queue", "webhook_dlq", "sync_queue", "sync_dlq"}
    client = boto3.client("kms", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("describe_key", service_error_code="KMSInternalException", http_status_code=500)
        aws.override("kms", client)
        try:
            status, _, body = api("GET", "/readyz")
        finally:
            aws.reset()
    assert status == 503
    assert body["status"] == "not_ready"
    assert body["failing"] == ["kms"]
    assert body["checks"]["dynamodb"] == "ok"


def _scrape(api: Api, **kwargs: Any) -> str:
    status, headers, text = api("GET", "/metrics", **kwargs)
    assert status == 200, text
    assert headers["content-type"].startswith("text/plain")
    return str(text)


def _gauges(text: str) -> dict[str, float]:
    return {
        sample.name
        + (f"{{{','.join(f'{k}={v}' for k, v in sorted(sample.labels.items()))}}}" if sample.labels else ""): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_is_for_platform_admins_and_the_metrics_token(api: Api, stack: LocalStack) -> None:
    assert api("GET", "/metrics")[0] == 401
    status, _, body = api("GET", "/metrics", user=unique_email("nobody"))
    assert (status, body["error"]["code"]) == (403, "platform_admin_required")
    assert api("GET", "/metrics", headers={"Authorization": "Bearer not-the-token"})[0] == 401
    token = stack.environment["METRICS_TOKEN"]
    assert "strongroom_orgs" in _scrape(api, headers={"Authorization": f"Bearer {token}"})


def test_metrics_passes_promtool_and_parses_and_follows_the_store(api: Api) -> None:
    # Given the gauges now, when an org with a project (three environments) and a token is made
    before = _gauges(_scrape(api, user=ADMIN))
    owner = unique_email("metrics")
    org = _org(api, owner)
    status, _, project = api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": "M"})
    assert status == 201, project
    text = _scrape(api, user=ADMIN)
    # Then the exposition passes promtool's lint and prometheus_client's parser, and moved with it
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make promtool` installs it"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    after = _gauges(text)
    assert after["strongroom_orgs"] == before["strongroom_orgs"] + 1
    assert after["strongroom_users"] >= before["strongroom_users"] + 1
    assert after["strongroom_projects"] == before["strongroom_projects"] + 1
    assert after["strongroom_environments"] == before["strongroom_environments"] + 3
    assert after["strongroom_orgs_by_plan{plan=enterprise}"] == before["strongroom_orgs_by_plan{plan=enterprise}"] + 1
    assert {
        "strongroom_webhook_dlq_messages",
        "strongroom_sync_dlq_messages",
        "strongroom_audit_sealing_lag_seconds",
        "strongroom_audit_scopes_behind",
        "strongroom_secrets",
        "strongroom_webhook_deliveries{status=pending}",
        "strongroom_webhook_deliveries{status=failed}",
    } <= set(after)


# --------------------------------------------------------------------------- plans and limits


def test_a_project_past_the_override_is_403_plan_limit_and_usage_shows_it(api: Api) -> None:
    # Given an org whose override allows two projects
    owner = unique_email("limits")
    org = _org(api, owner)
    detail = _override(api, org["id"], projects=2)
    assert (detail["limits"]["projects"], detail["limit_overrides"]) == (2, {"projects": 2})
    base = f"/v1/orgs/{org['id']}"
    # When a third is created after two
    for n in range(2):
        assert api("POST", f"{base}/projects", user=owner, json={"name": f"P{n}"})[0] == 201
    status, _, body = api("POST", f"{base}/projects", user=owner, json={"name": "Third"})
    # Then it is 403 plan_limit naming the limit, and usage says 2 of 2
    assert status == 403, body
    assert body["error"]["code"] == "plan_limit"
    assert body["error"]["details"] == {"limit": "projects", "max": 2}
    _, _, usage = api("GET", f"{base}/usage", user=owner)
    assert usage["plan"] == "enterprise"
    assert (usage["usage"]["projects"], usage["limits"]["projects"]) == (2, 2)
    assert usage["usage"]["environments"] == 6
    # and a deleted project makes room again
    first = api("GET", f"{base}/projects", user=owner)[2]["data"][0]
    assert api("DELETE", f"{base}/projects/{first['id']}", user=owner)[0] == 204
    assert api("POST", f"{base}/projects", user=owner, json={"name": "Third"})[0] == 201


def test_twenty_racing_creates_at_the_limit_never_pass_it(api: Api) -> None:
    owner = unique_email("race")
    org = _org(api, owner)
    _override(api, org["id"], projects=2)

    def create(n: int) -> int:
        return api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": f"Race {n}"})[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert statuses.count(201) == 2, statuses
    assert set(statuses) <= {201, 403, 409}, statuses
    _, _, usage = api("GET", f"/v1/orgs/{org['id']}/usage", user=owner)
    assert usage["usage"]["projects"] == 2
    assert len(api("GET", f"/v1/orgs/{org['id']}/projects", user=owner)[2]["data"]) == 2


def test_every_bounded_create_stops_at_its_limit(api: Api) -> None:
    # Given an org with one of each allowed
    owner = unique_email("bounded")
    org = _org(api, owner)
    one = {"environments_per_project": 4, "secrets_per_environment": 1, "members": 2, "service_tokens": 1}
    _override(api, org["id"], webhooks=1, **one)
    base = f"/v1/orgs/{org['id']}"
    project = api("POST", f"{base}/projects", user=owner, json={"name": "Web"})[2]
    envs = f"{base}/projects/{project['id']}/environments"
    env_secrets = f"{envs}/development/secrets"
    first = {
        "environments_per_project": ("POST", envs, {"name": "QA"}),
        "secrets_per_environment": ("PUT", f"{env_secrets}/ONE", {"value": "1"}),
        "members": ("POST", f"{base}/invitations", {"email": unique_email("m1"), "role": "viewer"}),
        "service_tokens": ("POST", f"{base}/tokens", {"name": "a", "project": "web", "environment": "development"}),
        "webhooks": ("POST", f"{base}/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    }
    second = {
        "environments_per_project": ("POST", envs, {"name": "QA2"}),
        "secrets_per_environment": ("PUT", f"{env_secrets}/TWO", {"value": "2"}),
        "members": ("POST", f"{base}/invitations", {"email": unique_email("m2"), "role": "viewer"}),
        "service_tokens": ("POST", f"{base}/tokens", {"name": "b", "project": "web", "environment": "development"}),
        "webhooks": ("POST", f"{base}/webhooks", {"url": "http://127.0.0.1:9/hook2", "events": ["*"]}),
    }
    for name, (method, path, body) in first.items():
        assert api(method, path, user=owner, json=body)[0] in {200, 201}, name
    # When each is created once more, then each is refused, naming its limit
    for name, (method, path, body) in second.items():
        status, _, refused = api(method, path, user=owner, json=body)
        assert (status, refused["error"]["code"], refused["error"]["details"]["limit"]) == (403, "plan_limit", name)
    # and changing the value of a secret that exists is no create
    assert api("PUT", f"{env_secrets}/ONE", user=owner, json={"value": "one"})[0] == 200
    _, _, usage = api("GET", f"{base}/usage", user=owner)
    assert usage["usage"] == {
        "projects": 1,
        "environments": 4,
        "secrets": 1,
        "members": 2,
        "service_tokens": 1,
        "webhooks": 1,
    }


def test_an_expired_invitation_stops_counting_against_members(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an org allowed two members: its owner and one pending invitation
    owner = unique_email("expiring")
    org = _org(api, owner)
    _override(api, org["id"], members=2)
    base = f"/v1/orgs/{org['id']}"
    status, _, blocking = api(
        "POST", f"{base}/invitations", user=owner, json={"email": unique_email("i1"), "role": "viewer"}
    )
    assert status == 201, blocking
    later = {"email": unique_email("i2"), "role": "viewer"}
    status, _, refused = api("POST", f"{base}/invitations", user=owner, json=later)
    assert (status, refused["error"]["code"]) == (403, "plan_limit")
    # When the pending invitation has expired (the clock the code reads moved past it)
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=8))  # INVITATION_TTL_HOURS: 168
    # Then the next invitation is made, and the org counts its owner and that one
    status, _, made = api("POST", f"{base}/invitations", user=owner, json=later)
    assert status == 201, made
    _, _, usage = api("GET", f"{base}/usage", user=owner)
    assert (usage["usage"]["members"], usage["limits"]["members"]) == (2, 2)
    # and the expired one says so, is not revoked twice, and cannot be accepted
    listed = {i["id"]: i["status"] for i in api("GET", f"{base}/invitations", user=owner)[2]["data"]}
    assert listed[blocking["id"]] == "expired"
    status, _, body = api("DELETE", f"{base}/invitations/{blocking['id']}", user=owner)
    assert (status, body["error"]["code"]) == (409, "invitation_not_pending")
    assert api("POST", f"/v1/invitations/{blocking['token']}/accept", user=unique_email("late"))[0] == 410
    assert api("GET", f"{base}/usage", user=owner)[2]["usage"]["members"] == 2
    # and with nothing expired left, the limit holds
    third = {"email": unique_email("i3"), "role": "viewer"}
    assert api("POST", f"{base}/invitations", user=owner, json=third)[0] == 403


def test_racing_creates_release_each_expired_invitation_once_and_never_pass_the_limit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an org allowed three members: its owner and two invitations, both expired since
    owner = unique_email("race-release")
    org = _org(api, owner)
    _override(api, org["id"], members=3)
    base = f"/v1/orgs/{org['id']}"
    for n in range(2):
        body = {"email": unique_email(f"old{n}"), "role": "viewer"}
        assert api("POST", f"{base}/invitations", user=owner, json=body)[0] == 201
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=8))

    # When ten invitations race for the two places the expired ones leave
    def invite(n: int) -> int:
        body = {"email": unique_email(f"new{n}"), "role": "viewer"}
        return api("POST", f"{base}/invitations", user=owner, json=body)[0]

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(invite, range(10)))
    # Then two are made, the rest refused, and the org counts its owner and those two
    assert statuses.count(201) == 2, statuses
    assert set(statuses) <= {201, 403, 409}, statuses
    assert api("GET", f"{base}/usage", user=owner)[2]["usage"]["members"] == 3
    listed = [i["status"] for i in api("GET", f"{base}/invitations", user=owner)[2]["data"]]
    assert sorted(listed) == ["expired", "expired", "pending", "pending"]


def test_an_expired_service_token_stops_counting_against_service_tokens(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an org allowed one service token, held by one that expires in a minute
    owner = unique_email("tokexp")
    org = _org(api, owner)
    _override(api, org["id"], service_tokens=1)
    base = f"/v1/orgs/{org['id']}"
    assert api("POST", f"{base}/projects", user=owner, json={"name": "Web"})[0] == 201
    soon = clock.iso(clock.now() + timedelta(minutes=1))
    body = {"name": "short", "project": "web", "environment": "development", "expires_at": soon}
    status, _, short = api("POST", f"{base}/tokens", user=owner, json=body)
    assert status == 201, short
    second = {"name": "next", "project": "web", "environment": "development"}
    status, _, refused = api("POST", f"{base}/tokens", user=owner, json=second)
    assert (status, refused["error"]["code"]) == (403, "plan_limit")
    # When it has expired
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(minutes=2))
    # Then the next token is made, and one is counted
    status, _, made = api("POST", f"{base}/tokens", user=owner, json=second)
    assert status == 201, made
    assert api("GET", f"{base}/usage", user=owner)[2]["usage"]["service_tokens"] == 1
    # and revoking the expired one moves no counter: the live one still holds the only place
    assert api("DELETE", f"{base}/tokens/{short['id']}", user=owner)[0] == 204
    assert api("GET", f"{base}/usage", user=owner)[2]["usage"]["service_tokens"] == 1
    third = {"name": "third", "project": "web", "environment": "development"}
    assert api("POST", f"{base}/tokens", user=owner, json=third)[0] == 403


# --------------------------------------------------------------------------- rate limits


def _token(api: Api, owner: str, org_id: str) -> str:
    api("POST", f"/v1/orgs/{org_id}/projects", user=owner, json={"name": "Web"})
    body = {"name": "ci", "project": "web", "environment": "staging"}
    status, _, created = api("POST", f"/v1/orgs/{org_id}/tokens", user=owner, json=body)
    assert status == 201, created
    return str(created["token"])


def test_a_token_past_its_org_s_requests_per_minute_is_429_and_others_are_not(api: Api) -> None:
    # Given a token of an org limited to 15 requests a minute
    owner = unique_email("rpm")
    org = _org(api, owner)
    bearer = {"Authorization": f"Bearer {_token(api, owner, org['id'])}"}
    _override(api, org["id"], requests_per_minute=15)
    # When it makes 16 requests in one window (a new window meanwhile starts the count again)
    seen: list[tuple[int, dict[str, str]]] = []
    while len(seen) < 16:
        status, headers, _body = api("GET", "/runtime/v1/secrets", headers=bearer)
        if seen and int(headers["x-ratelimit-reset"]) != int(seen[0][1]["x-ratelimit-reset"]):
            seen = []  # the minute turned: start over in this window
        seen.append((status, headers))
    # Then the first 15 pass, the headers counting down, and the 16th is 429 rate_limited
    limits = [h for _s, h in seen]
    assert [s for s, _h in seen[:15]] == [200] * 15
    assert [int(h["x-ratelimit-remaining"]) for h in limits[:15]] == list(range(14, -1, -1))
    assert {h["x-ratelimit-limit"] for h in limits} == {"15"}
    status, headers = seen[15]
    assert status == 429
    assert int(headers["retry-after"]) >= 1
    assert int(headers["x-ratelimit-remaining"]) == 0
    # and the IETF fields parse as structured fields (RFC 9651) and say the same
    policy = http_sf.parse(headers["ratelimit-policy"].encode(), tltype="list")
    current = http_sf.parse(headers["ratelimit"].encode(), tltype="list")
    assert policy[0][0] == "minute"
    assert (policy[0][1]["q"], policy[0][1]["w"]) == (15, 60)
    assert current[0][1]["r"] == 0
    assert 0 <= current[0][1]["t"] <= 60
    # and another principal of the same org is unaffected
    status, headers, _ = api("GET", f"/v1/orgs/{org['id']}", user=owner)
    assert status == 200
    assert int(headers["x-ratelimit-remaining"]) >= 0
    assert headers["x-ratelimit-limit"] == "15"
    # and the 429 body is the envelope
    refused = api("GET", "/runtime/v1/secrets", headers=bearer)
    if refused[0] == 429:
        assert refused[2]["error"]["code"] == "rate_limited"


def test_an_unauthenticated_request_is_counted_by_its_source_ip(api: Api) -> None:
    status, headers, body = api("GET", "/v1/me")
    assert status == 401, body
    assert int(headers["x-ratelimit-limit"]) >= 1
    assert "ratelimit-policy" in headers


# --------------------------------------------------------------------------- platform admin


def test_admin_stats_orgs_plans_and_summary_work_for_an_admin(api: Api) -> None:
    owner = unique_email("admin-view")
    org = _org(api, owner)
    status, _, stats = api("GET", "/v1/admin/stats", user=ADMIN)
    assert status == 200, stats
    assert stats["orgs"] >= 1
    assert stats["orgs_by_plan"]["enterprise"] >= 1
    status, _, page = api("GET", f"/v1/admin/orgs?q={org['slug']}&limit=5", user=ADMIN)
    assert status == 200, page
    assert [o["id"] for o in page["data"]] == [org["id"]]
    status, _, plans = api("GET", "/v1/admin/plans", user=ADMIN)
    assert [p["name"] for p in plans["data"]] == ["free", "team", "enterprise"]
    status, _, summary = api("GET", "/v1/admin/metrics/summary?hours=1", user=ADMIN)
    assert status == 200, summary
    assert summary["requests"] >= 1
    assert len(summary["by_hour"]) == 1
    assert api("GET", "/v1/admin/metrics/summary?hours=169", user=ADMIN)[0] == 400
    # and a plan change moves the org, audited in the platform's scope
    status, _, moved = api("PATCH", f"/v1/admin/orgs/{org['slug']}", user=ADMIN, json={"plan": "team"})
    assert (status, moved["plan"], moved["limits"]["projects"]) == (200, "team", 50)
    assert api("GET", f"/v1/orgs/{org['id']}/usage", user=owner)[2]["plan"] == "team"


def test_a_plan_config_sets_the_limits_of_its_orgs(api: Api) -> None:
    # Given an org on the team plan, and the team plan's stored config allowing one webhook
    owner = unique_email("plan-config")
    org = _org(api, owner)
    api("PATCH", f"/v1/admin/orgs/{org['id']}", user=ADMIN, json={"plan": "team"})
    status, _, plan = api("PUT", "/v1/admin/plans/team", user=ADMIN, json={"limits": {"webhooks": 1}})
    try:
        assert status == 200, plan
        assert (plan["limits"]["webhooks"], plan["defaults"]["webhooks"]) == (1, 25)
        # Then the org's effective limit is the plan's config, and its override wins over it
        assert api("GET", f"/v1/orgs/{org['id']}/usage", user=owner)[2]["limits"]["webhooks"] == 1
        _override(api, org["id"], webhooks=-1)
        assert api("GET", f"/v1/orgs/{org['id']}/usage", user=owner)[2]["limits"]["webhooks"] == -1
    finally:
        api("PUT", "/v1/admin/plans/team", user=ADMIN, json={"limits": {}})
