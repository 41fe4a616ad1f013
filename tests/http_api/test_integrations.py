"""Integrations over HTTP, with the stack's workers (outbox stream → sync fan-in → SyncQueue → sync
worker): an environment's values pushed to a GitHub repository's Actions secrets (a server held
to GitHub's published API description, which opens each sealed value), to AWS Secrets Manager and
SSM Parameter Store in a customer account on moto (through sts:AssumeRole with the external id);
a change and a deletion propagate; the status shows the revision synced. The destination down:
retries, then the dead-letter queue, status `failing`; back up, a forced sync brings it to the
latest revision. Bad configurations are 4xx; the GitHub token is in no response, log line or
audit event."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from github_peer import Description, GithubServer

from strongroom_local import LocalStack
from support import CUSTOMER_ACCOUNT, Api, query_partition, scan_all, unique_email

pytestmark = [pytest.mark.http, pytest.mark.usefixtures("stack_workers")]

ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/strongroom-sync"
EXTERNAL_ID = "strongroom-acme-7f3a"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def description() -> Description:
    return Description()


@pytest.fixture
def github(description: Description) -> Iterator[GithubServer]:
    server = GithubServer(description, token=f"ghp_{secrets.token_hex(18)}").start()
    yield server
    server.stop()


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"int-{secrets.token_hex(4)}"
    status, _, made = api("POST", "/v1/orgs", user=owner, json={"name": "Integrations", "slug": slug})
    assert status == 201, made
    status, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    assert status == 201, project
    path = f"/v1/orgs/{slug}/projects/web/environments/staging"
    return {
        "owner": owner,
        "org": slug,
        "org_id": made["id"],
        "path": path,
        "integrations": f"/v1/orgs/{slug}/integrations",
    }


def change(api: Api, env: dict[str, Any], set_: dict[str, str], delete: list[str] | None = None) -> int:
    status, _, done = api(
        "PATCH", f"{env['path']}/secrets", user=env["owner"], json={"set": set_, "delete": delete or []}
    )
    assert status == 200, done
    return int(done["revision"])


def create(api: Api, env: dict[str, Any], type_: str, config: dict[str, Any]) -> dict[str, Any]:
    body = {"type": type_, "project": "web", "environment": "staging", "config": config}
    status, _, made = api("POST", env["integrations"], user=env["owner"], json=body)
    assert status == 201, made
    return made


def wait_status(
    api: Api, env: dict[str, Any], integration_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, _, shown = api("GET", f"{env['integrations']}/{integration_id}/status", user=env["owner"])
        assert status == 200, shown
        if done(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


def at(revision: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["status"] == "synced" and s["last_synced_revision"] == revision


def customer(service: str) -> Any:
    """A client in the customer's account (moto keys its accounts by the assumed role's)."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=ROLE_ARN, RoleSessionName="test", ExternalId=EXTERNAL_ID
    )["Credentials"]
    return boto3.client(
        service,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


# --------------------------------------------------------------------------- GitHub


def test_github_sync_pushes_changes_and_deletions(
    api: Api, env: dict[str, Any], github: GithubServer, stack: LocalStack, server_log: Any
) -> None:
    # Given an environment with three keys, one of which GitHub cannot name
    change(api, env, {"DB_URL": "postgres://db/app", "API_KEY": "k-1", "app.port": "8080"})
    # When an integration pushes it to a repository
    made = create(
        api, env, "github_actions", {"repository": github.repository, "api_url": github.url, "token": github.token}
    )
    assert made["status"] == "pending"
    assert made["config"] == {"repository": github.repository, "api_url": github.url}
    first = wait_status(api, env, made["id"], lambda s: s["status"] == "synced")
    # Then the repository holds the values it can name, each opened with the repository's own key
    assert first["status"] == "synced", first
    assert github.secrets == {"DB_URL": "postgres://db/app", "API_KEY": "k-1"}
    assert "app.port" in (first["last_error"] or "")  # said, not fatal

    # When one value changes and one is deleted, the next sync follows on its own
    revision = change(api, env, {"API_KEY": "k-2"}, delete=["DB_URL"])
    shown = wait_status(api, env, made["id"], at(revision))
    assert shown["last_synced_revision"] == revision, shown
    assert github.secrets == {"API_KEY": "k-2"}
    assert ("DELETE", "/repos/{owner}/{repo}/actions/secrets/{secret_name}") in github.requests
    # Every request conformed to GitHub's description
    assert github.violations == []
    assert set(github.seen_authorization) == {f"Bearer {github.token}"}

    # The token is in no answer, no log line and no audit event of the org
    for path in (env["integrations"], f"{env['integrations']}/{made['id']}"):
        assert github.token not in json.dumps(api("GET", path, user=env["owner"])[2])
    assert github.token not in server_log.getvalue()
    events = query_partition(stack, f"AUDIT#{env['org_id']}")
    actions = {e["action"]["S"] for e in events if "action" in e}
    assert {"integration.created", "integration.synced"} <= actions, actions
    assert github.token not in json.dumps(events, default=str)


def test_destination_down_retries_dead_letters_then_a_forced_sync_catches_up(
    api: Api, env: dict[str, Any], github: GithubServer, stack: LocalStack
) -> None:
    # Given a repository that is down
    github.down = True
    dlq = stack.resources.queues["SyncDeadLetterQueue"]  # type: ignore[union-attr]
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.purge_queue(QueueUrl=dlq)
    change(api, env, {"TOKEN": "one"})
    made = create(
        api, env, "github_actions", {"repository": github.repository, "api_url": github.url, "token": github.token}
    )
    # When the sync fails every attempt (6 receives, a second apart locally)
    failing = wait_status(api, env, made["id"], lambda s: s["status"] == "failing")
    assert failing["status"] == "failing"
    assert "503" in failing["last_error"]
    deadline = time.monotonic() + 30
    landed: list[dict[str, Any]] = []
    while not landed and time.monotonic() < deadline:
        landed = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        time.sleep(0.3)
    # Then it was tried once per receive (the queue's maxReceiveCount, 6), and the message is in
    # the dead-letter queue, the status still failing
    assert github.down_hits == 6
    assert [json.loads(m["Body"])["integration_id"] for m in landed] == [made["id"]]
    assert api("GET", f"{env['integrations']}/{made['id']}/status", user=env["owner"])[2]["status"] == "failing"
    # and /metrics counts it (a platform admin's scrape)
    status, _, text = api("GET", "/metrics", user="admin@example.com")
    assert status == 200
    assert any(
        line.startswith("strongroom_sync_dlq_messages ") and float(line.split()[1]) >= 1 for line in text.splitlines()
    ), text

    # When it is back, and a change happened meanwhile, a forced sync brings it to the latest revision
    github.down = False
    revision = change(api, env, {"TOKEN": "two", "OTHER": "x"})
    status, _, queued = api("POST", f"{env['integrations']}/{made['id']}/sync", user=env["owner"])
    assert status == 202, queued
    shown = wait_status(api, env, made["id"], at(revision))
    assert shown["status"] == "synced", shown
    assert shown["last_error"] is None
    assert github.secrets == {"TOKEN": "two", "OTHER": "x"}
    assert github.violations == []


# --------------------------------------------------------------------------- AWS


def test_secrets_manager_json_and_per_key_through_assume_role(api: Api, env: dict[str, Any]) -> None:
    # Given an environment (and a folder's key, which a sync of the environment's root does not push)
    change(api, env, {"DB_URL": "postgres://db/app", "API_KEY": "k-1"})
    status, _, put = api("PUT", f"{env['path']}/secrets/NESTED?path=/backend", user=env["owner"], json={"value": "n"})
    assert status in {200, 201}, put
    base = {"role_arn": ROLE_ARN, "external_id": EXTERNAL_ID, "region": REGION}
    name = f"apps/{env['org']}/staging"
    prefix = f"apps/{env['org']}/keys/"
    # When one integration writes one JSON secret and another one secret per key
    whole = create(api, env, "aws_secrets_manager", {**base, "mode": "json", "name": name})
    each = create(api, env, "aws_secrets_manager", {**base, "mode": "per_key", "name": prefix})
    for made in (whole, each):
        assert wait_status(api, env, made["id"], lambda s: s["status"] == "synced")["status"] == "synced"
    # Then the customer's account holds them (AWSCURRENT)
    sm = customer("secretsmanager")
    current = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
    assert json.loads(current) == {"DB_URL": "postgres://db/app", "API_KEY": "k-1"}
    assert sm.get_secret_value(SecretId=f"{prefix}API_KEY", VersionStage="AWSCURRENT")["SecretString"] == "k-1"

    # When a key changes and one is deleted
    revision = change(api, env, {"API_KEY": "k-2"}, delete=["DB_URL"])
    for made in (whole, each):
        assert wait_status(api, env, made["id"], at(revision))["last_synced_revision"] == revision
    # Then the JSON secret is the new object, and the deleted key's secret is gone
    assert json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]) == {
        "API_KEY": "k-2"
    }
    assert sm.get_secret_value(SecretId=f"{prefix}API_KEY", VersionStage="AWSCURRENT")["SecretString"] == "k-2"
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId=f"{prefix}DB_URL", VersionStage="AWSCURRENT")
    # And nothing was written in Strongroom's own account
    own = boto3.client("secretsmanager", region_name=REGION)
    with pytest.raises(own.exceptions.ResourceNotFoundException):
        own.get_secret_value(SecretId=name)


def test_ssm_parameters_per_key_as_secure_strings(api: Api, env: dict[str, Any]) -> None:
    kms = customer("kms")
    key_id = kms.create_key(Description="the customer's parameters")["KeyMetadata"]["KeyId"]
    change(api, env, {"DB_URL": "postgres://db/app", "API_KEY": "k-1"})
    prefix = f"/{env['org']}/staging/"
    config = {
        "role_arn": ROLE_ARN,
        "external_id": EXTERNAL_ID,
        "region": REGION,
        "mode": "per_key",
        "name": prefix,
        "kms_key_id": key_id,
    }
    made = create(api, env, "aws_ssm_parameter_store", config)
    assert wait_status(api, env, made["id"], lambda s: s["status"] == "synced")["status"] == "synced"
    ssm = customer("ssm")
    found = ssm.get_parameters_by_path(Path=prefix, WithDecryption=True)["Parameters"]
    assert {p["Name"]: (p["Value"], p["Type"]) for p in found} == {
        f"{prefix}DB_URL": ("postgres://db/app", "SecureString"),
        f"{prefix}API_KEY": ("k-1", "SecureString"),
    }
    revision = change(api, env, {"API_KEY": "k-2"}, delete=["DB_URL"])
    assert wait_status(api, env, made["id"], at(revision))["last_synced_revision"] == revision
    found = ssm.get_parameters_by_path(Path=prefix, WithDecryption=True)["Parameters"]
    assert {p["Name"]: p["Value"] for p in found} == {f"{prefix}API_KEY": "k-2"}


# --------------------------------------------------------------------------- configurations, access


GOOD_AWS = {"role_arn": ROLE_ARN, "external_id": EXTERNAL_ID, "region": REGION, "name": "app"}


@pytest.mark.parametrize(
    ("type_", "config", "expected"),
    [
        ("vault", GOOD_AWS, 400),  # unknown type
        ("aws_secrets_manager", {k: v for k, v in GOOD_AWS.items() if k != "role_arn"}, 400),  # no role_arn
        ("aws_secrets_manager", {**GOOD_AWS, "role_arn": "arn:aws:iam::1:user/x"}, 400),
        ("aws_ssm_parameter_store", GOOD_AWS, 400),  # SecureString needs kms_key_id
        ("aws_secrets_manager", {"repository": "acme/web", "token": "t"}, 400),  # the other type's config
        ("github_actions", {"repository": "acme", "token": "t"}, 400),  # malformed repository
        ("github_actions", {"repository": "acme/web"}, 400),  # no token
        ("github_actions", {"repository": "acme/web", "token": "t", "api_url": "http://169.254.169.254/"}, 422),
        ("github_actions", {"repository": "acme/web", "token": "t", "api_url": "https://169.254.169.254/api"}, 422),
        ("github_actions", {"repository": "acme/web", "token": "t", "api_url": "https://10.0.0.8/api/v3"}, 422),
    ],
)
def test_bad_configurations_are_4xx(
    api: Api, env: dict[str, Any], type_: str, config: dict[str, Any], expected: int
) -> None:
    body = {"type": type_, "project": "web", "environment": "staging", "config": config}
    status, _, answer = api("POST", env["integrations"], user=env["owner"], json=body)
    assert status == expected, answer
    assert "error" in answer
    assert answer["error"].get("details", {}).get("input") != "t"


def test_who_may_manage_integrations(api: Api, env: dict[str, Any]) -> None:
    made = create(api, env, "aws_secrets_manager", {**GOOD_AWS, "name": "who"})
    outsider = unique_email("outsider")
    # Someone else's org answers as a missing one
    assert api("GET", env["integrations"], user=outsider)[0] == 404
    assert api("GET", f"{env['integrations']}/{made['id']}/status", user=outsider)[0] == 404
    # A developer of the org may not
    dev = unique_email("dev")
    status, _, inv = api(
        "POST", f"/v1/orgs/{env['org']}/invitations", user=env["owner"], json={"email": dev, "role": "developer"}
    )
    assert status == 201, inv
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    assert api("GET", env["integrations"], user=dev)[0] == 403
    assert api("DELETE", f"{env['integrations']}/{made['id']}", user=dev)[0] == 403
    # An unknown id is 404; the owner deletes it (then 404)
    assert api("GET", f"{env['integrations']}/int_00000000000000000000000000", user=env["owner"])[0] == 404
    assert api("DELETE", f"{env['integrations']}/{made['id']}", user=env["owner"])[0] == 204
    assert api("GET", f"{env['integrations']}/{made['id']}", user=env["owner"])[0] == 404


def test_an_environment_deleted_takes_its_integrations_with_it(api: Api, env: dict[str, Any]) -> None:
    # Given an integration of an environment, and one of another environment of the project
    made = create(api, env, "aws_secrets_manager", {**GOOD_AWS, "name": "gone"})
    body = {"type": "aws_secrets_manager", "project": "web", "environment": "development", "config": GOOD_AWS}
    status, _, kept = api("POST", env["integrations"], user=env["owner"], json=body)
    assert status == 201, kept
    # When the environment is deleted (the purge runs in the background)
    assert api("DELETE", env["path"], user=env["owner"])[0] == 204
    deadline = time.monotonic() + 20
    while api("GET", f"{env['integrations']}/{made['id']}", user=env["owner"])[0] != 404:
        assert time.monotonic() < deadline, "the purge did not remove the integration"
        time.sleep(0.2)
    # Then only the other environment's is left
    listed = api("GET", env["integrations"], user=env["owner"])[2]
    assert [i["id"] for i in listed["data"]] == [kept["id"]]


@pytest.mark.isolated
def test_the_token_is_nowhere_in_the_table(api: Api, env: dict[str, Any], stack: LocalStack) -> None:
    # Given a GitHub integration created with an Idempotency-Key (its answer is kept for replays)
    token = f"ghp_{secrets.token_hex(18)}"
    body = {
        "type": "github_actions",
        "project": "web",
        "environment": "staging",
        "config": {"repository": "acme/web", "token": token},
    }
    headers = {"Idempotency-Key": secrets.token_hex(8)}
    status, _, made = api("POST", env["integrations"], user=env["owner"], json=body, headers=headers)
    assert status == 201, made
    # Then the token is in no item (only its ciphertext, under a data key KMS wrapped)
    dumped = json.dumps(scan_all(stack), default=str)
    assert made["id"] in dumped
    assert token not in dumped


def test_a_change_of_the_parent_reaches_the_child_integration(api: Api, env: dict[str, Any]) -> None:
    # Given a child of staging that sets one key of its own, and its integration (one JSON secret)
    projects = f"/v1/orgs/{env['org']}/projects/web/environments"
    body = {"name": "QA", "slug": "qa", "parent": "staging"}
    assert api("POST", projects, user=env["owner"], json=body)[0] == 201
    change(api, env, {"SHARED": "one"})
    status, _, done = api("PUT", f"{projects}/qa/secrets/OWN", user=env["owner"], json={"value": "mine"})
    assert status == 200, done
    name = f"apps/{env['org']}/qa"
    config = {**GOOD_AWS, "name": name}
    body = {"type": "aws_secrets_manager", "project": "web", "environment": "qa", "config": config}
    status, _, made = api("POST", env["integrations"], user=env["owner"], json=body)
    assert status == 201, made
    first = wait_status(api, env, made["id"], lambda s: s["status"] == "synced")
    assert first["status"] == "synced", first
    sm = customer("secretsmanager")
    assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"]) == {"SHARED": "one", "OWN": "mine"}

    # When only the parent changes, the child's integration pushes what the child now sees
    change(api, env, {"SHARED": "two"})
    deadline = time.monotonic() + 20
    while json.loads(sm.get_secret_value(SecretId=name)["SecretString"]).get("SHARED") != "two":
        assert time.monotonic() < deadline, "the parent's change did not reach the child's integration"
        time.sleep(0.2)
    assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"]) == {"SHARED": "two", "OWN": "mine"}


def test_a_shared_secret_change_reaches_the_integrations_that_reference_it(api: Api, env: dict[str, Any]) -> None:
    # Given an environment whose value references a shared secret, synced as one JSON secret
    shared = f"/v1/orgs/{env['org']}/shared-secrets"
    status, _, made = api("POST", shared, user=env["owner"], json={"key": "SENTRY_DSN", "value": "https://k1@sentry/1"})
    assert status == 201, made
    change(api, env, {"DSN": "${shared.SENTRY_DSN}"})
    name = f"apps/{env['org']}/shared"
    base = {"role_arn": ROLE_ARN, "external_id": EXTERNAL_ID, "region": REGION, "mode": "json", "name": name}
    integration = create(api, env, "aws_secrets_manager", base)
    first = wait_status(api, env, integration["id"], lambda s: s["status"] == "synced")
    assert first["status"] == "synced"
    sm = customer("secretsmanager")
    pushed = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
    assert json.loads(pushed) == {"DSN": "https://k1@sentry/1"}
    # When only the shared secret changes (the environment's own revision does not move)
    status, _, put = api("PUT", f"{shared}/SENTRY_DSN", user=env["owner"], json={"value": "https://k2@sentry/1"})
    assert status == 200, put

    # Then the destination gets the new value without a forced sync
    def current() -> str:
        return json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])["DSN"]

    deadline = time.monotonic() + 30
    while current() != "https://k2@sentry/1" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert current() == "https://k2@sentry/1"
    assert wait_status(api, env, integration["id"], at(first["last_synced_revision"]))["status"] == "synced"
