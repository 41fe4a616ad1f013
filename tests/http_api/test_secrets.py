"""Secrets over HTTP: versions, If-Match, concurrency, roles by environment, and what is stored."""

from __future__ import annotations

import json
import secrets as pysecrets
import threading
from typing import Any

import pytest

from strongroom import aws, clock
from strongroom.data import keys
from strongroom.security import crypto
from strongroom_local import LocalStack
from strongroom_local.template import load_template, routes
from support import Api, scan_all, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    """A fresh org + project; returns the owner and the environments' base paths."""
    owner, slug = unique_email("owner"), f"sec-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Sec", "slug": slug})[0] == 201
    _, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    base = f"/v1/orgs/{slug}/projects/web/environments"
    return {
        "owner": owner,
        "slug": slug,
        "project": project,
        "base": base,
        "ids": {e["slug"]: e["id"] for e in project["environments"]},
    }


def test_versions_if_match_delete_and_history(api: Api, env: dict[str, Any]) -> None:
    path, owner = f"{env['base']}/staging/secrets/DB_URL", env["owner"]
    status, _, first = api("PUT", path, user=owner, json={"value": "postgres://one", "comment": "initial"})
    assert (status, first["version"]) == (200, 1)
    status, _, second = api("PUT", path, user=owner, json={"value": "postgres://two"}, headers={"If-Match": "1"})
    assert (status, second["version"]) == (200, 2)
    status, _, stale = api("PUT", path, user=owner, json={"value": "lost"}, headers={"If-Match": "1"})
    assert status == 412
    assert stale["error"]["details"]["current_version"] == 2
    assert "lost" not in json.dumps(stale)

    assert api("GET", path, user=owner)[2]["value"] == "postgres://two"
    assert api("GET", f"{path}?version=1", user=owner)[2]["value"] == "postgres://one"
    status, _, history = api("GET", f"{path}/versions", user=owner)
    assert [(v["version"], v["action"]) for v in history["data"]] == [(2, "set"), (1, "set")]
    assert history["data"][1]["comment"] == "initial"
    assert all("value" not in v for v in history["data"])

    assert api("DELETE", path, user=owner)[0] == 204
    assert api("GET", path, user=owner)[0] == 404
    assert api("GET", f"{path}?version=2", user=owner)[2]["value"] == "postgres://two"  # history survives
    assert api("PUT", path, user=owner, json={"value": "back"})[2]["version"] == 4  # gapless after delete


def test_list_prefix_values_false_and_pagination(api: Api, env: dict[str, Any]) -> None:
    base, owner = f"{env['base']}/development/secrets", env["owner"]
    names = ["APP_A", "APP_B", "APP_C", "DB_HOST", "DB_PASS"]
    for name in names:
        assert api("PUT", f"{base}/{name}", user=owner, json={"value": f"v-{name}"})[0] == 200
    _, _, db_only = api("GET", f"{base}?prefix=DB_", user=owner)
    assert [i["key"] for i in db_only["data"]] == ["DB_HOST", "DB_PASS"]
    assert db_only["data"][0]["value"] == "v-DB_HOST"
    _, _, no_values = api("GET", f"{base}?values=false", user=owner)
    assert all(i["value"] is None for i in no_values["data"])
    seen, cursor = [], None
    while True:
        _, _, page = api("GET", f"{base}?limit=2" + (f"&cursor={cursor}" if cursor else ""), user=owner)
        seen += [i["key"] for i in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == names


def test_twenty_concurrent_writes_with_the_same_if_match(api: Api, env: dict[str, Any]) -> None:
    path, owner = f"{env['base']}/staging/secrets/RACE", env["owner"]
    api("PUT", path, user=owner, json={"value": "start"})
    statuses: list[int] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        status = api("PUT", path, user=owner, json={"value": f"writer-{i}"}, headers={"If-Match": "1"})[0]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [412] * 19
    versions = [v["version"] for v in api("GET", f"{path}/versions", user=owner)[2]["data"]]
    assert versions == [2, 1]


def test_concurrent_writes_to_different_keys_all_land(api: Api, env: dict[str, Any]) -> None:
    base, owner = f"{env['base']}/staging/secrets", env["owner"]
    results: list[int] = []

    def write(i: int) -> None:
        results.append(api("PUT", f"{base}/K{i}", user=owner, json={"value": str(i)})[0])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) + results.count(409) == 8
    listed = {i["key"]: i["value"] for i in api("GET", base, user=owner)[2]["data"]}
    landed = [i for i, s in enumerate(results) if s == 200]
    assert len(listed) == results.count(200)
    assert all(listed[f"K{i}"] == str(i) for i in range(8) if f"K{i}" in listed)
    assert landed  # at least one landed


# role, environment, may read, may write (docs/design.md roles matrix)
MATRIX = [
    ("admin", "production", True, True),
    ("developer", "development", True, True),
    ("developer", "staging", True, True),
    ("developer", "production", False, False),
    ("viewer", "development", True, False),
    ("viewer", "staging", False, False),
    ("viewer", "production", False, False),
]


E = "/v1/orgs/{org}/projects/{project}/environments/{env}"
# Every route of the secrets function, in an order where each allowed call succeeds:
# (route key, what it needs: "read" | "write" | "owner", body).
SECRETS_ROUTES: list[tuple[str, str, Any]] = [
    (f"GET {E}/secrets", "read", None),
    (f"GET {E}/secrets/{{key}}", "read", None),
    (f"GET {E}/secrets/{{key}}/versions", "read", None),
    (f"GET {E}/export", "read", None),
    (f"GET {E}/validate", "read", None),
    (f"PUT {E}/secrets/{{key}}", "write", {"value": "member"}),
    (f"PATCH {E}/secrets", "write", {"set": {"MORE": "x"}}),
    (f"POST {E}/import", "write", {"format": "dotenv", "content": "IMPORTED=1\n"}),
    (f"POST {E}/secrets/{{key}}/rollback", "write", {"version": 1}),
    (f"POST {E}/secrets/{{key}}/restore", "write", None),
    (f"POST {E}/restore", "write", {"at": "NOW"}),
    ("POST /v1/orgs/{org}/projects/{project}/promote", "write", {"from": "FROM", "to": "{env}"}),
    (f"POST {E}/rotate-key", "owner", None),
    (f"DELETE {E}/secrets/{{key}}", "write", None),
]


def test_the_roles_test_covers_every_secrets_route() -> None:
    template = load_template()
    declared = {r.key for r in routes(template) if r.function == "SecretsFunction"}
    assert declared == {key for key, _, _ in SECRETS_ROUTES}


@pytest.mark.parametrize(("role", "environment", "may_read", "may_write"), MATRIX)
def test_roles_by_environment_on_every_secrets_route(  # noqa: PLR0917 - parametrized
    api: Api,
    env: dict[str, Any],
    role: str,
    environment: str,
    may_read: bool,
    may_write: bool,
) -> None:
    owner, member = env["owner"], unique_email(role)
    _, _, inv = api("POST", f"/v1/orgs/{env['slug']}/invitations", user=owner, json={"email": member, "role": role})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=member)[0] == 200
    base = f"{env['base']}/{environment}"
    # The owner seeds TOKEN (two versions), and GONE in the trash; the promote source holds a value.
    assert api("PUT", f"{base}/secrets/TOKEN", user=owner, json={"value": "owner-wrote-this"})[0] == 200
    assert api("PUT", f"{base}/secrets/TOKEN", user=owner, json={"value": "and-this"})[0] == 200
    assert api("PUT", f"{base}/secrets/GONE", user=owner, json={"value": "was"})[0] == 200
    assert api("DELETE", f"{base}/secrets/GONE", user=owner)[0] == 204
    source = "staging" if environment == "development" else "development"
    assert api("PUT", f"{env['base']}/{source}/secrets/PROMOTED", user=owner, json={"value": "p"})[0] == 200
    project_path = f"/v1/orgs/{env['slug']}/projects/web"
    outcomes = {}
    for route_key, needs, template_body in SECRETS_ROUTES:
        method, template = route_key.split(" ", 1)
        key = "GONE" if template.endswith("/restore") and "{key}" in template else "TOKEN"
        path = (
            template.replace("/v1/orgs/{org}/projects/{project}/environments/{env}", base)
            .replace("/v1/orgs/{org}/projects/{project}", project_path)
            .replace("{key}", key)
        )
        body = template_body
        if body is not None:
            text = (
                json.dumps(body).replace("NOW", clock.now_iso()).replace("FROM", source).replace("{env}", environment)
            )
            body = json.loads(text)
        status, _, payload = api(method, path, user=member, json=body)
        outcomes[route_key] = status
        allowed = {"read": may_read, "write": may_write, "owner": False}[needs]  # MATRIX has no owner
        if allowed:
            assert 200 <= status < 300, (route_key, status, payload)
        else:
            assert status == 403, (route_key, status, payload)
            assert payload["error"]["code"] == "forbidden"
    assert len(outcomes) == len(SECRETS_ROUTES)


@pytest.mark.isolated  # scans the whole table: only this test's items
def test_no_plaintext_value_is_stored_anywhere(api: Api, env: dict[str, Any], stack: LocalStack) -> None:
    canary = "canary-" + pysecrets.token_hex(12)
    path = f"{env['base']}/staging/secrets/CANARY"
    api("PUT", path, user=env["owner"], json={"value": canary}, headers={"Idempotency-Key": pysecrets.token_hex(6)})
    api("PUT", path, user=env["owner"], json={"value": canary + "-2"})
    assert api("GET", path, user=env["owner"])[2]["value"] == canary + "-2"
    # and through every other way a value gets in: batch, import, promote, rollback, restore
    owner, base, project = env["owner"], env["base"], env["base"].rsplit("/environments", 1)[0]
    assert api("PATCH", f"{base}/staging/secrets", user=owner, json={"set": {"BATCH": canary + "-b"}})[0] == 200
    content = f"IMPORTED='{canary}-i'\n"
    assert api("POST", f"{base}/staging/import", user=owner, json={"format": "dotenv", "content": content})[0] == 200
    assert api("POST", f"{project}/promote", user=owner, json={"from": "staging", "to": "production"})[0] == 200
    assert api("POST", f"{path}/rollback", user=owner, json={"version": 1})[0] == 200
    assert api("GET", f"{base}/production/export?format=json", user=owner)[2]["IMPORTED"] == canary + "-i"
    dump = json.dumps(scan_all(stack), default=str)
    assert canary not in dump
    assert canary[7:] not in dump  # not even the random part


def test_a_ciphertext_moved_to_another_version_or_environment_fails(
    api: Api, env: dict[str, Any], stack: LocalStack
) -> None:
    owner = env["owner"]
    staging, dev = f"{env['base']}/staging/secrets/MOVED", f"{env['base']}/development/secrets/MOVED"
    api("PUT", staging, user=owner, json={"value": "staging-one"})
    api("PUT", staging, user=owner, json={"value": "staging-two"})
    api("PUT", dev, user=owner, json={"value": "dev-one"})
    client, table = aws.dynamodb(), stack.resources.refs["Table"]  # type: ignore[union-attr]
    s_id, d_id = env["ids"]["staging"], env["ids"]["development"]

    def blob(env_id: str, version: int) -> Any:
        key = keys.secret_version(env_id, "MOVED", version)
        return client.get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()})["Item"]["blob"]

    def overwrite(env_id: str, version: int, value: Any) -> None:
        key = keys.secret_version(env_id, "MOVED", version)
        client.update_item(
            TableName=table,
            Key={k: {"S": v} for k, v in key.items()},
            UpdateExpression="SET #b = :b",
            ExpressionAttributeNames={"#b": "blob"},
            ExpressionAttributeValues={":b": value},
        )

    # version 2's ciphertext copied over version 1 (same key, same environment)
    original = blob(s_id, 1)
    overwrite(s_id, 1, blob(s_id, 2))
    status, _, body = api("GET", f"{staging}?version=1", user=owner)
    assert status == 500
    assert "staging-two" not in json.dumps(body)
    assert body["error"]["message"] == "an internal error occurred" or "integrity" in body["error"]["message"]
    overwrite(s_id, 1, original)
    assert api("GET", f"{staging}?version=1", user=owner)[2]["value"] == "staging-one"
    # development's ciphertext copied into staging (another environment and data key)
    overwrite(s_id, 1, blob(d_id, 1))
    status, _, body = api("GET", f"{staging}?version=1", user=owner)
    assert status == 500
    assert "dev-one" not in json.dumps(body)
    overwrite(s_id, 1, original)


def test_a_ciphertext_moved_to_another_key_project_or_org_fails(
    api: Api, env: dict[str, Any], stack: LocalStack
) -> None:
    """The same data key (same environment) but another secret name; and the same name and
    version in another project and in another org: AES-GCM's AAD binds org, project,
    environment, key and version, so each read fails (500, integrity alert), never another value."""
    owner = env["owner"]
    client, table = aws.dynamodb(), stack.resources.refs["Table"]  # type: ignore[union-attr]
    staging = f"{env['base']}/staging/secrets"
    for name, value in (("VICTIM", "victim-value"), ("THIEF", "thief-value")):
        assert api("PUT", f"{staging}/{name}", user=owner, json={"value": value})[0] == 200
    other_owner, other_slug = unique_email("other"), f"other-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other_owner, json={"name": "Other", "slug": other_slug})[0] == 201
    _, _, other_project = api("POST", f"/v1/orgs/{other_slug}/projects", user=other_owner, json={"name": "Web"})
    _, _, same_org_project = api("POST", f"/v1/orgs/{env['slug']}/projects", user=owner, json={"name": "Api"})
    elsewhere = {
        "another project": (
            owner,
            f"/v1/orgs/{env['slug']}/projects/api/environments/staging/secrets",
            same_org_project,
        ),
        "another org": (other_owner, f"/v1/orgs/{other_slug}/projects/web/environments/staging/secrets", other_project),
    }
    for user, path, _ in elsewhere.values():
        assert api("PUT", f"{path}/VICTIM", user=user, json={"value": "their-own"})[0] == 200

    def item_key(env_id: str, name: str) -> dict[str, Any]:
        return {k: {"S": v} for k, v in keys.secret_version(env_id, name, 1).items()}

    def blob(env_id: str, name: str) -> Any:
        return client.get_item(TableName=table, Key=item_key(env_id, name))["Item"]["blob"]

    def overwrite(env_id: str, name: str, value: Any) -> None:
        client.update_item(
            TableName=table,
            Key=item_key(env_id, name),
            UpdateExpression="SET #b = :b",
            ExpressionAttributeNames={"#b": "blob"},
            ExpressionAttributeValues={":b": value},
        )

    staging_id = env["ids"]["staging"]
    original = blob(staging_id, "VICTIM")
    overwrite(staging_id, "VICTIM", blob(staging_id, "THIEF"))  # another key, same data key
    status, _, body = api("GET", f"{staging}/VICTIM?version=1", user=owner)
    assert (status, "thief-value" in json.dumps(body)) == (500, False)
    overwrite(staging_id, "VICTIM", original)
    assert api("GET", f"{staging}/VICTIM?version=1", user=owner)[2]["value"] == "victim-value"
    for where, (user, path, project) in elsewhere.items():
        target = next(e["id"] for e in project["environments"] if e["slug"] == "staging")
        theirs = blob(target, "VICTIM")
        overwrite(target, "VICTIM", original)  # our ciphertext moved into their environment
        status, _, body = api("GET", f"{path}/VICTIM?version=1", user=user)
        assert (status, "victim-value" in json.dumps(body)) == (500, False), where
        overwrite(target, "VICTIM", theirs)
        assert api("GET", f"{path}/VICTIM?version=1", user=user)[2]["value"] == "their-own"


def _stored(stack: LocalStack) -> list[dict[str, Any]]:
    """The table's items but the rate limit's request counters (bookkeeping of every request)."""
    return [i for i in scan_all(stack) if not i["PK"]["S"].startswith("RATE#")]


@pytest.mark.isolated  # counts every item of the table: only this test's
@pytest.mark.parametrize(
    ("error_code", "status"),
    [("AccessDeniedException", 503), ("DisabledException", 503), ("ThrottlingException", 503)],
)
def test_kms_failure_fails_closed_and_writes_nothing(
    api: Api, env: dict[str, Any], stack: LocalStack, error_code: str, status: int
) -> None:
    import boto3
    from botocore.stub import Stubber

    path = f"{env['base']}/production/secrets/FIRST"  # the first write needs a new data key from KMS
    before = len(_stored(stack))
    client = boto3.client("kms", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("generate_data_key", service_error_code=error_code, http_status_code=400)
        aws.override("kms", client)
        try:
            got, _, body = api("PUT", path, user=env["owner"], json={"value": "never-stored"})
        finally:
            aws.reset()
    assert got == status
    assert body["error"]["code"] == "service_unavailable"
    assert "never-stored" not in json.dumps(body)
    assert len(_stored(stack)) == before
    assert api("GET", path, user=env["owner"])[0] == 404


def test_kms_decrypt_failure_on_a_cold_cache_is_503(api: Api, env: dict[str, Any]) -> None:
    import boto3
    from botocore.stub import Stubber

    path = f"{env['base']}/staging/secrets/COLD"
    assert api("PUT", path, user=env["owner"], json={"value": "v"})[0] == 200
    crypto.cache.clear()
    client = boto3.client("kms", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("decrypt", service_error_code="KMSInvalidStateException", http_status_code=400)
        aws.override("kms", client)
        try:
            got = api("PUT", path, user=env["owner"], json={"value": "w"})[0]
        finally:
            aws.reset()
    assert got == 503
    assert api("GET", path, user=env["owner"])[2]["value"] == "v"
