"""Service tokens and the runtime API over HTTP: an admin mints a read-only token for staging;
it reads exactly staging's resolved values, cannot write, cannot reach production; revoked or
expired it is 401; from a network it may not use, 403; the token string is stored nowhere; an
unchanged environment answers 304 to If-None-Match without decrypting."""

from __future__ import annotations

import base64
import io
import json
import secrets as pysecrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strongroom import aws, ids
from strongroom.domain import tokens
from strongroom.security import crypto
from strongroom_local import LocalStack
from support import Api, scan_all, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"tok-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Tokens", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    base = f"/v1/orgs/{slug}/projects/web/environments"
    staging = {"DB_HOST": "db.staging", "DB_URL": "postgres://${DB_HOST}/app", "PLAIN": "p"}
    assert api("PATCH", f"{base}/staging/secrets", user=owner, json={"set": staging})[0] == 200
    assert api("PUT", f"{base}/production/secrets/PROD_ONLY", user=owner, json={"value": "prod"})[0] == 200
    return {"owner": owner, "slug": slug, "path": f"/v1/orgs/{slug}", "base": base}


def mint(api: Api, org: dict[str, Any], **body: Any) -> dict[str, Any]:
    payload = {"name": "ci", "project": "web", "environment": "staging", **body}
    status, _, created = api("POST", f"{org['path']}/tokens", user=org["owner"], json=payload)
    assert status == 201, created
    return created


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.isolated  # scans the whole table: only this test's items
def test_a_read_token_reads_exactly_its_environment_resolved(
    api: Api, org: dict[str, Any], stack: LocalStack, server_log: io.StringIO
) -> None:
    created = mint(api, org, permissions=["read"])
    token = created["token"]
    assert token.startswith("sr_svc_")
    assert tokens.parse(token) == created["id"]

    status, headers, body = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    assert status == 200, body
    assert body["secrets"] == {"DB_HOST": "db.staging", "DB_URL": "postgres://db.staging/app", "PLAIN": "p"}
    assert headers["etag"] == f'"{body["version"]}"'
    assert api("GET", "/runtime/v1/secrets/DB_URL", headers=bearer(token))[2]["value"] == "postgres://db.staging/app"
    _, _, me = api("GET", "/runtime/v1", headers=bearer(token))
    assert (me["token_id"], me["environment"], me["permissions"]) == (created["id"], "staging", ["read"])
    _, _, dotenv_text = api("GET", "/runtime/v1/secrets?format=dotenv", headers=bearer(token))
    assert "DB_URL='postgres://db.staging/app'" in dotenv_text

    # the management API sees the same, and no more
    staging, production = f"{org['base']}/staging", f"{org['base']}/production"
    assert api("GET", f"{staging}/secrets/PLAIN", headers=bearer(token))[2]["value"] == "p"
    assert api("PUT", f"{staging}/secrets/PLAIN", headers=bearer(token), json={"value": "x"})[0] == 403
    assert api("GET", f"{production}/secrets/PROD_ONLY", headers=bearer(token))[0] in {403, 404}
    assert api("GET", f"{org['path']}/members", headers=bearer(token))[0] == 403
    assert api("GET", "/v1/orgs/someone-else", headers=bearer(token))[0] == 404

    # the token string is nowhere in the table (only its hash), the logs or the audit trail
    assert token not in json.dumps(scan_all(stack), default=str)
    out, err = server_log.getvalue(), ""
    assert token not in out + err
    assert token[-20:] not in out + err
    listed = api("GET", f"{org['path']}/tokens", user=org["owner"])[2]["data"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None


def test_a_write_token_writes_its_environment_only(api: Api, org: dict[str, Any]) -> None:
    token = mint(api, org, permissions=["read", "write"])["token"]
    staging = f"{org['base']}/staging"
    assert api("PUT", f"{staging}/secrets/FROM_CI", headers=bearer(token), json={"value": "ci"})[0] == 200
    assert api("GET", f"{staging}/secrets/FROM_CI", user=org["owner"])[2]["value"] == "ci"
    development = f"{org['base']}/development/secrets/X"
    assert api("PUT", development, headers=bearer(token), json={"value": "x"})[0] in {403, 404}


def test_revoked_expired_and_rotated_tokens_are_401_at_once(api: Api, org: dict[str, Any]) -> None:
    created = mint(api, org)
    token = created["token"]
    assert api("GET", "/runtime/v1", headers=bearer(token))[0] == 200
    status, _, rotated = api("POST", f"{org['path']}/tokens/{created['id']}/rotate", user=org["owner"])
    assert (status, rotated["id"]) == (200, created["id"])
    assert api("GET", "/runtime/v1", headers=bearer(token))[0] == 401
    assert api("GET", "/runtime/v1", headers=bearer(rotated["token"]))[0] == 200
    assert api("DELETE", f"{org['path']}/tokens/{created['id']}", user=org["owner"])[0] == 204
    assert api("GET", "/runtime/v1", headers=bearer(rotated["token"]))[0] == 401

    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = mint(api, org, expires_at=soon)["token"]
    assert api("GET", "/runtime/v1", headers=bearer(expiring))[0] == 200
    time.sleep(1.2)
    status, _, body = api("GET", "/runtime/v1", headers=bearer(expiring))
    assert (status, body["error"]["code"]) == (401, "unauthorized")

    # a mistyped token is refused by its checksum, a made-up one too
    assert api("GET", "/runtime/v1", headers=bearer(rotated["token"][:-1] + "x"))[0] == 401
    assert api("GET", "/runtime/v1", headers=bearer("sr_svc_" + "a" * 26 + "_" + "b" * 38))[0] == 401


def test_allowed_cidrs_are_checked_against_the_source_address(api: Api, org: dict[str, Any]) -> None:
    elsewhere = mint(api, org, allowed_cidrs=["10.0.0.0/8"])["token"]
    status, _, body = api("GET", "/runtime/v1/secrets", headers=bearer(elsewhere))
    assert (status, body["error"]["code"]) == (403, "network_not_allowed")
    # a forwarded-for header changes nothing: the address is the one API Gateway saw
    spoofed = {**bearer(elsewhere), "X-Forwarded-For": "10.1.2.3"}
    assert api("GET", "/runtime/v1/secrets", headers=spoofed)[0] == 403
    here = mint(api, org, allowed_cidrs=["127.0.0.0/8", "::1/128"])["token"]
    assert api("GET", "/runtime/v1/secrets", headers=bearer(here))[0] == 200


def test_an_unchanged_environment_is_304_without_decrypting(api: Api, org: dict[str, Any]) -> None:
    token = mint(api, org)["token"]
    _, headers, first = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    etag = headers["etag"]
    decrypts: list[str] = []

    def count(model: Any, **_: Any) -> None:
        decrypts.append(model.name)

    crypto.cache.clear()  # a decrypt would have to call KMS
    aws.kms().meta.events.register("provide-client-params.kms.*", count)
    try:
        status, again, body = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    finally:
        aws.kms().meta.events.unregister("provide-client-params.kms.*", count)
    assert (status, again["etag"], body, decrypts) == (304, etag, None, [])

    # a change to a parent or to a referenced environment changes the answer, and the ETag
    assert api("PUT", f"{org['base']}/production/secrets/UNRELATED", user=org["owner"], json={"value": "u"})[0] == 200
    assert api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})[0] == 304
    assert api("PUT", f"{org['base']}/staging/secrets/DB_HOST", user=org["owner"], json={"value": "db2"})[0] == 200
    status, changed, body = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    assert (status, body["secrets"]["DB_URL"]) == (200, "postgres://db2/app")
    assert changed["etag"] != etag
    assert first["secrets"]["DB_URL"] == "postgres://db.staging/app"


def test_a_warm_tokens_304_is_one_dynamodb_request(api: Api, org: dict[str, Any]) -> None:
    """The token's scope is remembered once it verified: its next request reads the token, org,
    project, environment and snapshot in one BatchGetItem, and a 304 needs nothing else."""
    import threading

    token = mint(api, org)["token"]
    _, headers, _ = api("GET", "/runtime/v1/secrets", headers=bearer(token))  # verifies: scope known
    seen: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if not threading.current_thread().name.startswith("strongroom-worker-"):
            # the rate limit's one write per request (issue #18) is named apart: "rate"
            rate = model.name == "UpdateItem" and params["Key"]["PK"]["S"].startswith("RATE#")
            seen.append("rate" if rate else model.name)

    aws.dynamodb().meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        status, _, _ = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": headers["etag"]})
        not_modified = list(seen)
        seen.clear()
        assert api("DELETE", f"{org['path']}/tokens/{tokens.parse(token)}", user=org["owner"])[0] == 204
        seen.clear()
        revoked = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": headers["etag"]})[0]
    finally:
        aws.dynamodb().meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert (status, not_modified) == (304, ["BatchGetItem"])  # enterprise: requests are not counted
    # the read-ahead reads the token afresh; refused, the request is counted against its source IP
    assert (revoked, seen) == (401, ["BatchGetItem", "rate"])


def test_a_token_follows_its_environment_parent(api: Api, org: dict[str, Any]) -> None:
    owner = org["owner"]
    body = {"name": "QA", "slug": "qa", "parent": "staging"}
    assert api("POST", f"/v1/orgs/{org['slug']}/projects/web/environments", user=owner, json=body)[0] == 201
    assert api("PUT", f"{org['base']}/qa/secrets/DB_HOST", user=owner, json={"value": "db.qa"})[0] == 200
    token = mint(api, org, environment="qa")["token"]
    _, headers, pulled = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    assert pulled["secrets"] == {"DB_HOST": "db.qa", "DB_URL": "postgres://db.qa/app", "PLAIN": "p"}
    etag = headers["etag"]
    assert api("PUT", f"{org['base']}/staging/secrets/PLAIN", user=owner, json={"value": "p2"})[0] == 200
    status, _, again = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    assert (status, again["secrets"]["PLAIN"]) == (200, "p2")


def _pairs(etag: str) -> list[tuple[str, int]]:
    """The (environment id, revision) pairs an ETag names (its documented shape: base64url of
    `env:rev,env:rev`, the token's environment first)."""
    tag = etag.strip('"')
    raw = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).decode()
    return [(env_id, int(rev)) for env_id, rev in (p.rsplit(":", 1) for p in raw.split(","))]


def _etag(pairs: list[tuple[str, int | str]]) -> str:
    raw = ",".join(f"{env_id}:{rev}" for env_id, rev in pairs)
    return '"' + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") + '"'


def _dynamodb_requests(api: Api, token: str, etag: str) -> tuple[int, list[tuple[str, str]]]:
    """The status of a conditional pull, and each DynamoDB request it made (operation, parameters)."""
    import threading

    seen: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if not threading.current_thread().name.startswith("strongroom-worker-"):
            seen.append((model.name, json.dumps(params, default=str)))

    aws.dynamodb().meta.events.register("before-call.dynamodb.*", record)
    try:
        status = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})[0]
    finally:
        aws.dynamodb().meta.events.unregister("before-call.dynamodb.*", record)
    return status, seen


def test_an_etag_naming_another_orgs_environment_is_no_oracle(api: Api, org: dict[str, Any]) -> None:
    """If-None-Match is compared only over environments the token may read: an ETag that also
    names another org's environment (right revision or not) or a made-up one is a plain miss (a
    full read), and those ids reach no DynamoDB request, so existing and missing look alike."""
    token = mint(api, org)["token"]
    _, headers, _ = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    ((mine, revision),) = _pairs(headers["etag"])
    # another tenant's environment, and its current revision (what the oracle would confirm)
    owner, slug = unique_email("other"), f"oth-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Other", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    base = f"/v1/orgs/{slug}/projects/web/environments"
    assert api("PUT", f"{base}/staging/secrets/THEIRS", user=owner, json={"value": "x"})[0] == 200
    body = {"name": "ci", "project": "web", "environment": "staging"}
    theirs = api("POST", f"/v1/orgs/{slug}/tokens", user=owner, json=body)[2]["token"]
    ((foreign, foreign_revision),) = _pairs(api("GET", "/runtime/v1/secrets", headers=bearer(theirs))[1]["etag"])
    missing = ids.new_id("env")

    assert _dynamodb_requests(api, token, headers["etag"])[0] == 304  # the token's own ETag still matches
    existing = _dynamodb_requests(api, token, _etag([(mine, revision), (foreign, foreign_revision)]))
    absent = _dynamodb_requests(api, token, _etag([(mine, revision), (missing, 0)]))
    assert (existing[0], absent[0]) == (200, 200)
    assert [name for name, _ in existing[1]] == [name for name, _ in absent[1]]
    assert [params for _, params in existing[1] if foreign in params] == []
    assert [params for _, params in absent[1] if missing in params] == []


def test_an_etag_naming_a_malformed_environment_id_is_a_miss_and_builds_no_key(api: Api, org: dict[str, Any]) -> None:
    token = mint(api, org)["token"]
    _, headers, _ = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    ((mine, revision),) = _pairs(headers["etag"])
    long_id = "env_" + "a" * 2096  # 2,100 characters: DynamoDB refuses a key this long
    for bad in (_etag([(mine, revision), (long_id, 0)]), _etag([(mine, revision), ("ENV#x", 0)])):
        status, requests = _dynamodb_requests(api, token, bad)
        assert status == 200
        assert [params for _, params in requests if long_id in params or "ENV#x" in params] == []
    # a revision that is not plain ASCII digits is malformed too (int() would take these)
    for written in (f"+{revision}", f" {revision}", f"0_{revision}"):
        assert _dynamodb_requests(api, token, _etag([(mine, written)]))[0] == 200
    assert _dynamodb_requests(api, token, _etag([(mine, revision)]))[0] == 304


def test_an_inheriting_tokens_etag_still_matches(api: Api, org: dict[str, Any]) -> None:
    owner = org["owner"]
    body = {"name": "QA", "slug": "qa", "parent": "staging"}
    assert api("POST", f"/v1/orgs/{org['slug']}/projects/web/environments", user=owner, json=body)[0] == 201
    token = mint(api, org, environment="qa")["token"]
    _, headers, _ = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    assert len(_pairs(headers["etag"])) == 2  # qa, and staging it inherits from
    assert api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": headers["etag"]})[0] == 304


def test_who_may_mint_what(api: Api, org: dict[str, Any]) -> None:
    owner, path = org["owner"], org["path"]
    people = {}
    for role in ("admin", "developer"):
        email = unique_email(role)
        _, _, inv = api("POST", f"{path}/invitations", user=owner, json={"email": email, "role": role})
        assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
        people[role] = email
    body = {"name": "x", "project": "web", "environment": "staging"}
    assert api("POST", f"{path}/tokens", user=people["developer"], json=body)[0] == 403
    assert api("POST", f"{path}/tokens", user=people["admin"], json=body)[0] == 201
    # runtime API is for tokens only
    assert api("GET", "/runtime/v1", user=owner)[2]["error"]["code"] == "service_token_required"
    # bad input is 4xx naming the field
    bad = {**body, "allowed_cidrs": ["not-a-network"]}
    status, _, error = api("POST", f"{path}/tokens", user=owner, json=bad)
    assert (status, error["error"]["code"]) == (422, "invalid_cidr")
    assert [f["field"] for f in error["error"]["details"]["fields"]] == ["allowed_cidrs"]
    past = {**body, "expires_at": "2020-01-01T00:00:00Z"}
    assert api("POST", f"{path}/tokens", user=owner, json=past)[2]["error"]["code"] == "invalid_expiry"
    assert api("DELETE", f"{path}/tokens/tok_01m8rt5w37jqc2tb0rg5cwrxf3", user=owner)[0] == 404
