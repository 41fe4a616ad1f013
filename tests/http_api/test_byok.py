"""Bring your own KMS key, per org, over HTTP: test, enable (re-wrap every data key), reads and
writes under the customer key, fail closed when it is revoked, disable (re-wrap back), rotate.

Customer keys are made as docs/byok.md tells a customer to (`support.customer_key`): a key policy
that lets Strongroom's account use the key only under one org's encryption context. The local
stack evaluates key policies for KMS's cryptographic calls (strongroom_local/kms_policy.py; moto
alone does not), so KMS refuses another org's context here as it does in AWS."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from typing import Any

import pytest

from strongroom import aws
from strongroom.security import crypto
from strongroom_local import LocalStack
from support import Api, customer_key, get_item, query_partition, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"byok-{pysecrets.token_hex(4)}"
    status, _, created = api("POST", "/v1/orgs", user=owner, json={"name": "BYOK", "slug": slug})
    assert status == 201
    _, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    base = f"/v1/orgs/{slug}/projects/web/environments"
    for env in ("staging", "production"):
        assert api("PUT", f"{base}/{env}/secrets/DB", user=owner, json={"value": f"{env}-value"})[0] == 200
    return {
        "owner": owner,
        "path": f"/v1/orgs/{slug}",
        "base": base,
        "id": created["id"],
        "env_ids": [e["id"] for e in project["environments"]],
    }


def wrapping(stack: LocalStack, env_ids: list[str]) -> dict[str, str]:
    """SK -> kms_key_id of every data key and snapshot of these environments."""
    return {
        f"{i['PK']['S']}/{i['SK']['S']}": i["kms_key_id"]["S"]
        for e in env_ids
        for i in query_partition(stack, f"ENV#{e}")
        if i["SK"]["S"].startswith("DATAKEY#") or i["SK"]["S"] == "SNAPSHOT"
    }


def test_enable_rewraps_every_data_key_and_disable_wraps_them_back(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    owner, path, base = org["owner"], org["path"], org["base"]
    service_key = stack.resources.refs["ServiceKey"]  # type: ignore[union-attr]
    assert api("GET", f"{path}/encryption", user=owner)[2]["mode"] == "service"
    before = wrapping(stack, org["env_ids"])
    assert len(before) == 4  # staging and production: a data key and a snapshot each
    assert all(service_key in v for v in before.values())

    key = customer_key(org["id"])
    status, _, tested = api("POST", f"{path}/encryption/kms/test", user=owner, json={"kms_key_arn": key})
    assert (status, tested["ok"], tested["kms_key_arn"]) == (200, True, key)
    assert wrapping(stack, org["env_ids"]) == before  # a test changes nothing

    status, _, enabled = api("POST", f"{path}/encryption/kms/enable", user=owner, json={"kms_key_arn": key})
    assert status == 200, enabled
    assert (enabled["mode"], enabled["status"], enabled["kms_key_arn"], enabled["rewrapped"]) == (
        "customer",
        "active",
        key,
        2,
    )
    assert set(wrapping(stack, org["env_ids"]).values()) == {key}
    # reads decrypt through the customer key (cold cache), writes stay under it, new keys too
    crypto.cache.clear()
    assert api("GET", f"{base}/production/secrets/DB", user=owner)[2]["value"] == "production-value"
    assert api("PUT", f"{base}/staging/secrets/NEW", user=owner, json={"value": "n"})[0] == 200
    assert api("PUT", f"{base}/development/secrets/FIRST", user=owner, json={"value": "f"})[0] == 200
    after = wrapping(stack, org["env_ids"])
    assert len(after) == 6
    assert set(after.values()) == {key}
    # enabling the same key again is a conflict, not a second migration
    assert api("POST", f"{path}/encryption/kms/enable", user=owner, json={"kms_key_arn": key})[0] == 409

    status, _, disabled = api("DELETE", f"{path}/encryption/kms", user=owner)
    assert (status, disabled["mode"], disabled["rewrapped"]) == (200, "service", 3)
    assert all(service_key in v for v in wrapping(stack, org["env_ids"]).values())
    crypto.cache.clear()
    assert api("GET", f"{base}/development/secrets/FIRST", user=owner)[2]["value"] == "f"
    assert api("DELETE", f"{path}/encryption/kms", user=owner)[2]["error"]["code"] == "byok_not_enabled"


def test_a_revoked_customer_key_fails_closed(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    """The customer revokes our grant: KMS answers AccessDenied (moto does not enforce key state
    on Decrypt, so a Stubber gives KMS's answer). Reads and writes are 503, nothing is written."""
    import boto3
    from botocore.stub import Stubber

    owner, path, base = org["owner"], org["path"], org["base"]
    key = customer_key(org["id"])
    assert api("POST", f"{path}/encryption/kms/enable", user=owner, json={"kms_key_arn": key})[0] == 200
    before = wrapping(stack, org["env_ids"])
    snapshot_before = get_item(stack, f"ENV#{org['env_ids'][2]}", "SNAPSHOT")
    assert snapshot_before is not None
    crypto.cache.clear()
    client = boto3.client("kms", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("decrypt", service_error_code="AccessDeniedException", http_status_code=400)
        aws.override("kms", client)
        try:
            read = api("GET", f"{base}/production/secrets/DB", user=owner)
            write = api("PUT", f"{base}/production/secrets/DB", user=owner, json={"value": "x"})
        finally:
            aws.reset()
    assert (read[0], write[0]) == (503, 503)
    assert "production-value" not in json.dumps(read[2])
    assert wrapping(stack, org["env_ids"]) == before
    assert get_item(stack, f"ENV#{org['env_ids'][2]}", "SNAPSHOT") == snapshot_before
    assert api("GET", f"{base}/production/secrets/DB", user=owner)[2]["value"] == "production-value"


@pytest.mark.parametrize(
    ("arn", "code"),
    [
        ("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000", "key_unusable"),
        ("not-an-arn", "validation_error"),
    ],
)
def test_an_unusable_key_is_refused_and_nothing_changes(
    api: Api, org: dict[str, Any], stack: LocalStack, arn: str, code: str
) -> None:
    before = wrapping(stack, org["env_ids"])
    for route in ("test", "enable"):
        status, _, body = api(
            "POST", f"{org['path']}/encryption/kms/{route}", user=org["owner"], json={"kms_key_arn": arn}
        )
        assert (status, body["error"]["code"]) == (422 if code == "key_unusable" else 400, code)
    assert wrapping(stack, org["env_ids"]) == before
    assert api("GET", f"{org['path']}/encryption", user=org["owner"])[2]["mode"] == "service"


def test_a_disabled_key_is_refused(api: Api, org: dict[str, Any]) -> None:
    key = customer_key(org["id"])
    aws.kms().disable_key(KeyId=key.rsplit("/", 1)[-1])  # moto: an ID, not an ARN
    status, _, body = api("POST", f"{org['path']}/encryption/kms/test", user=org["owner"], json={"kms_key_arn": key})
    assert (status, body["error"]["code"]) == (422, "key_unusable")


def test_rotate_gives_every_environment_a_new_data_key(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    owner, base = org["owner"], org["base"]
    status, _, rotated = api("POST", f"{org['path']}/encryption/rotate", user=owner)
    assert (status, rotated["environments"]) == (200, 3)
    keys_now = wrapping(stack, org["env_ids"])
    # staging/production: DATAKEY 1 and 2; development (no secrets yet): DATAKEY 1; three snapshots
    assert (
        sorted(k.split("/")[1] for k in keys_now) == ["DATAKEY#000001"] * 3 + ["DATAKEY#000002"] * 2 + ["SNAPSHOT"] * 3
    )
    crypto.cache.clear()
    assert api("GET", f"{base}/staging/secrets/DB", user=owner)[2]["value"] == "staging-value"


def test_encryption_is_the_owners(api: Api, org: dict[str, Any]) -> None:
    admin = unique_email("admin")
    body = {"email": admin, "role": "admin"}
    _, _, inv = api("POST", f"{org['path']}/invitations", user=org["owner"], json=body)
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=admin)[0] == 200
    key = {"kms_key_arn": customer_key(org["id"])}
    for method, route, payload in [
        ("GET", "", None),
        ("POST", "/kms/test", key),
        ("POST", "/kms/enable", key),
        ("DELETE", "/kms", None),
        ("POST", "/rotate", None),
    ]:
        assert api(method, f"{org['path']}/encryption{route}", user=admin, json=payload)[0] == 403, route


# --------------------------------------------------------------------------- one key, one org


def _new_org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"byok-{pysecrets.token_hex(4)}"
    status, _, created = api("POST", "/v1/orgs", user=owner, json={"name": "Other", "slug": slug})
    assert status == 201
    return {"owner": owner, "path": f"/v1/orgs/{slug}", "id": created["id"]}


def _refusal(api: Api, org: dict[str, Any], route: str, key: str) -> tuple[int, dict[str, Any]]:
    """(status, error without its request id) of kms/test or kms/enable with `key`."""
    status, _, body = api("POST", f"{org['path']}/encryption/kms/{route}", user=org["owner"], json={"kms_key_arn": key})
    error = dict(body["error"]) if isinstance(body, dict) and "error" in body else body
    if isinstance(error, dict):
        error.pop("request_id", None)
    return status, error


def _missing_key_refusal(api: Api, org: dict[str, Any], route: str) -> tuple[int, dict[str, Any]]:
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    status, error = _refusal(api, org, route, missing)
    assert (status, error["code"]) == (422, "key_unusable")
    return status, error


def test_another_orgs_key_is_refused_as_a_missing_key_is(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    # Given org A's key, limited by its policy to org A, and enabled by org A
    key = customer_key(org["id"])
    assert api("POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": key})[0] == 200
    # When another org's owner tests it and enables it
    other = _new_org(api)
    for route in ("test", "enable"):
        # Then KMS refuses that org's context, and the answer is a missing key's, word for word
        assert _refusal(api, other, route, key) == _missing_key_refusal(api, other, route)
    assert api("GET", f"{other['path']}/encryption", user=other["owner"])[2]["mode"] == "service"
    # and org A still reads its secrets through its key
    crypto.cache.clear()
    assert api("GET", f"{org['base']}/staging/secrets/DB", user=org["owner"])[2]["value"] == "staging-value"


@pytest.mark.parametrize(
    "statement",
    [
        None,  # moto's default policy: the account may use the key for anything
        {"StringLike": {"kms:EncryptionContext:org": "org_*"}},  # any org
        {},  # no condition at all
    ],
    ids=["default-policy", "any-org-wildcard", "unconditioned"],
)
def test_a_key_that_serves_any_org_is_refused(
    api: Api, org: dict[str, Any], stack: LocalStack, statement: dict[str, Any] | None
) -> None:
    # Given a key that KMS lets Strongroom use under this org's context, and under any other's
    if statement is None:
        key = customer_key()
    else:
        from support import byok_key_policy

        policy = byok_key_policy(org["id"])
        policy["Statement"][1]["Condition"] = statement
        key = str(aws.kms().create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])
    own = {"org": org["id"], "purpose": "byok-test"}
    assert aws.kms().generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=own)["KeyId"] == key
    before = wrapping(stack, org["env_ids"])
    for route in ("test", "enable"):
        # When the owner tests or enables it, then it is refused (it could serve any tenant)
        assert _refusal(api, org, route, key) == _missing_key_refusal(api, org, route)
    assert wrapping(stack, org["env_ids"]) == before
    assert api("GET", f"{org['path']}/encryption", user=org["owner"])[2]["mode"] == "service"


@pytest.mark.usefixtures("stack_workers")  # the purge worker releases a deleted org's claim
def test_one_key_is_claimed_by_one_org_at_a_time(api: Api, org: dict[str, Any]) -> None:
    # Given a key whose policy lets two orgs use it, enabled by the first
    other = _new_org(api)
    key = customer_key(org["id"], other["id"])
    assert api("POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": key})[0] == 200
    # When the second org tests or enables it, then it is refused as a missing key is
    for route in ("test", "enable"):
        assert _refusal(api, other, route, key) == _missing_key_refusal(api, other, route)
    # Once the first org gives it back, the second may take it
    assert api("DELETE", f"{org['path']}/encryption/kms", user=org["owner"])[0] == 200
    status, _, enabled = api(
        "POST", f"{other['path']}/encryption/kms/enable", user=other["owner"], json={"kms_key_arn": key}
    )
    assert (status, enabled["kms_key_arn"]) == (200, key)
    assert _refusal(api, org, "enable", key) == _missing_key_refusal(api, org, "enable")
    # and when that org is deleted, its claim goes with it (released by the purge worker)
    assert api("DELETE", other["path"], user=other["owner"])[0] == 204
    deadline = time.monotonic() + 60
    while True:
        status, _, enabled = api(
            "POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": key}
        )
        if status == 200 or time.monotonic() > deadline:
            break
        assert enabled["error"]["code"] == "key_unusable"  # still claimed until the purge reaches it
        time.sleep(0.2)
    assert (status, enabled["kms_key_arn"]) == (200, key)


def test_switching_to_another_key_gives_the_first_one_back(api: Api, org: dict[str, Any]) -> None:
    # Given a key two orgs may use, enabled by the first, which then moves to a key of its own
    other = _new_org(api)
    shared, own = customer_key(org["id"], other["id"]), customer_key(org["id"])
    assert (
        api("POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": shared})[0] == 200
    )
    status, _, switched = api(
        "POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": own}
    )
    assert (status, switched["kms_key_arn"], switched["rewrapped"]) == (200, own, 2)
    # Then the second org may take the first key
    status, _, enabled = api(
        "POST", f"{other['path']}/encryption/kms/enable", user=other["owner"], json={"kms_key_arn": shared}
    )
    assert (status, enabled["kms_key_arn"]) == (200, shared)
    crypto.cache.clear()
    assert api("GET", f"{org['base']}/production/secrets/DB", user=org["owner"])[2]["value"] == "production-value"


def test_every_unusable_key_gets_the_same_answer(api: Api, org: dict[str, Any]) -> None:
    disabled = customer_key(org["id"])
    aws.kms().disable_key(KeyId=disabled.rsplit("/", 1)[-1])
    keys_of_all_kinds = {
        "another account's": "arn:aws:kms:eu-west-1:210987654321:key/11111111-2222-3333-4444-555555555555",
        "an alias that names nothing": "arn:aws:kms:us-east-1:123456789012:alias/nothing-here",
        "disabled": disabled,
        "another org's": customer_key(_new_org(api)["id"]),
        "usable by any org": customer_key(),
    }
    for route in ("test", "enable"):
        reference = _missing_key_refusal(api, org, route)
        answers = {kind: _refusal(api, org, route, key) for kind, key in keys_of_all_kinds.items()}
        assert answers == dict.fromkeys(keys_of_all_kinds, reference)
        assert not reference[1].get("details")  # nothing about the key


def test_a_kms_outage_during_the_probe_fails_closed(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    """KMS fails (throttling) on the call under another org's context, which moto cannot do on
    demand: a Stubber answers. The probe cannot conclude: 503, and nothing changes."""
    import boto3
    from botocore.stub import ANY, Stubber

    key = customer_key(org["id"])
    before = wrapping(stack, org["env_ids"])
    client = boto3.client("kms", region_name="us-east-1")
    generated = {"KeyId": key, "Plaintext": b"k" * 32, "CiphertextBlob": b"wrapped"}
    with Stubber(client) as stub:
        stub.add_response(
            "generate_data_key", generated, {"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": ANY}
        )
        stub.add_response("decrypt", {"KeyId": key, "Plaintext": b"k" * 32}, None)
        stub.add_client_error("generate_data_key", service_error_code="ThrottlingException", http_status_code=400)
        aws.override("kms", client)
        try:
            status, _, body = api(
                "POST", f"{org['path']}/encryption/kms/enable", user=org["owner"], json={"kms_key_arn": key}
            )
        finally:
            aws.reset()
        stub.assert_no_pending_responses()
    assert (status, body["error"]["code"]) == (503, "service_unavailable")
    assert wrapping(stack, org["env_ids"]) == before
    assert api("GET", f"{org['path']}/encryption", user=org["owner"])[2]["mode"] == "service"
