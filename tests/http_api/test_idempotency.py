"""Idempotency-Key over HTTP: a key belongs to the credential that sent it, and no stored response
keeps a credential that was shown once (tokens, webhook secrets, invitation tokens)."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
from typing import Any

import pytest

from strongroom.data import keys
from strongroom_local import LocalStack
from support import Api, query_partition, unique_email

pytestmark = pytest.mark.http


def _key() -> dict[str, str]:
    return {"Idempotency-Key": pysecrets.token_hex(8)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _idempotency_records(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of the local functions' idempotency partition (a Query of that partition)."""
    return query_partition(stack, keys.idempotency_partition(os.environ["AWS_LAMBDA_FUNCTION_NAME"]))


def test_an_idempotency_key_belongs_to_the_credential_not_the_user(api: Api) -> None:
    """Two PATs of one user are two callers: the same key and body from the second is a request
    of its own, never a replay of what the first was answered."""
    email, slug = unique_email("creds"), f"cred-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=email, json={"name": "Creds", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=email, json={"name": "Web"})[0] == 201
    first = api("POST", "/v1/auth/tokens", user=email, json={"name": "one"})[2]["token"]
    second = api("POST", "/v1/auth/tokens", user=email, json={"name": "two"})[2]["token"]
    path = f"/v1/orgs/{slug}/projects/web/environments/development/secrets/SHARED"
    key, body = _key(), {"value": "v"}

    def put(credential: dict[str, str], **kwargs: Any) -> tuple[int, bool, Any]:
        status, headers, written = api("PUT", path, headers={**credential, **key}, json=body, **kwargs)
        return status, headers.get("idempotent-replayed") == "true", written.get("version")

    assert put(bearer(first)) == (200, False, 1)
    assert put(bearer(first)) == (200, True, 1)  # a retry with the same credential: replayed
    assert put(bearer(second)) == (200, False, 2)  # the same user through another token: its own request
    assert put({}, user=email) == (200, False, 3)  # and signed in as themselves


def test_no_stored_response_keeps_a_credential_shown_once(api: Api, stack: LocalStack) -> None:
    """Each route that hands out a credential, sent with an Idempotency-Key: the caller gets it,
    a retry gets the same status and ids without it, and the idempotency partition holds it nowhere."""
    owner, slug = unique_email("owner"), f"once-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Once", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    org = f"/v1/orgs/{slug}"
    token_body = {"name": "ci", "project": "web", "environment": "staging"}
    hook_body = {"url": "http://127.0.0.1:9/hook", "events": ["secret.*"]}

    shown: dict[str, str] = {}

    def once(name: str, path: str, body: dict[str, Any], field: str, status: int) -> dict[str, Any]:
        key = _key()
        got, _, first = api("POST", path, user=owner, json=body, headers=key)
        assert got == status, (name, first)
        shown[name] = first[field]
        got, headers, replay = api("POST", path, user=owner, json=body, headers=key)
        assert (got, headers.get("idempotent-replayed"), replay["id"]) == (status, "true", first["id"])
        assert shown[name] not in json.dumps(replay), name
        return dict(first)

    once("personal token", "/v1/auth/tokens", {"name": "laptop"}, "token", 201)
    once("invitation", f"{org}/invitations", {"email": unique_email("guest"), "role": "viewer"}, "token", 201)
    created = once("service token", f"{org}/tokens", token_body, "token", 201)
    once("rotated service token", f"{org}/tokens/{created['id']}/rotate", {}, "token", 200)
    hook = once("webhook", f"{org}/webhooks", hook_body, "secret", 201)
    once("rotated webhook secret", f"{org}/webhooks/{hook['id']}/rotate-secret", {}, "secret", 200)

    records = json.dumps(_idempotency_records(stack), default=str)
    assert [name for name, credential in shown.items() if credential in records] == []
