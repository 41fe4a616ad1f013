"""Org-wide shared secrets over HTTP (issue #15 part 2): an admin writes them, every member reads
them, environments reference them as `${shared.KEY}`; a service token's 304 turns into a 200 with
the new value once a shared secret changes; versions list every version; another org's shared
secrets answer as missing; values reach no listing, audit event or webhook payload."""

from __future__ import annotations

import json
import secrets as pysecrets
from typing import Any

import pytest

from strongroom.security import crypto
from strongroom_local import LocalStack
from support import Api, customer_key, org_with_members, query_partition

pytestmark = pytest.mark.http

DSN = "https://public@sentry.example/42"


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    slug, emails, ids_ = org_with_members(api, {"admin": "admin", "developer": "developer", "viewer": "viewer"})
    owner = emails["owner"]
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    org_id = api("GET", f"/v1/orgs/{slug}", user=owner)[2]["id"]
    return {
        "slug": slug,
        "id": org_id,
        "emails": emails,
        "ids": ids_,
        "shared": f"/v1/orgs/{slug}/shared-secrets",
        "staging": f"/v1/orgs/{slug}/projects/web/environments/staging",
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_reference_resolves_and_a_changed_shared_value_turns_a_304_into_a_200(api: Api, org: dict[str, Any]) -> None:
    admin, shared, staging = org["emails"]["admin"], org["shared"], org["staging"]
    status, _, made = api("POST", shared, user=admin, json={"key": "SENTRY_DSN", "value": DSN})
    assert (status, made["key"], made["version"]) == (201, "SENTRY_DSN", 1)
    body = {"set": {"SENTRY": "${shared.SENTRY_DSN}", "MISSING": "${shared.NOPE}", "OWN": "x"}}
    assert api("PATCH", f"{staging}/secrets", user=admin, json=body)[0] == 200

    # the management API and the runtime API resolve it alike; a missing shared key stays as written
    assert api("GET", f"{staging}/secrets/SENTRY", user=org["emails"]["developer"])[2]["value"] == DSN
    status, _, tok = api(
        "POST",
        f"/v1/orgs/{org['slug']}/tokens",
        user=admin,
        json={"name": "ci", "project": "web", "environment": "staging", "permissions": ["read"]},
    )
    assert status == 201, tok
    token = tok["token"]
    status, headers, pulled = api("GET", "/runtime/v1/secrets", headers=bearer(token))
    assert status == 200, pulled
    assert pulled["secrets"] == {"SENTRY": DSN, "MISSING": "${shared.NOPE}", "OWN": "x"}
    etag = headers["etag"]
    assert api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})[0] == 304

    # a change to an unrelated shared secret moves the shared revision: the answer is recomputed
    # (a 200, same values), never a stale 304
    assert api("PUT", f"{shared}/OTHER", user=admin, json={"value": "o"})[0] == 200
    status, headers, again = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    assert (status, again["secrets"]["SENTRY"]) == (200, DSN)
    etag = headers["etag"]
    assert api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})[0] == 304

    # the referenced value changes: 200 with the new value, a new ETag
    new = "https://public@sentry.example/43"
    assert api("PUT", f"{shared}/SENTRY_DSN", user=admin, json={"value": new}, headers={"If-Match": "1"})[0] == 200
    status, headers, changed = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    assert (status, changed["secrets"]["SENTRY"]) == (200, new)
    assert headers["etag"] != etag
    # a missing key appearing also changes the answer
    etag = headers["etag"]
    assert api("POST", shared, user=admin, json={"key": "NOPE", "value": "now"})[0] == 201
    status, _, found = api("GET", "/runtime/v1/secrets", headers={**bearer(token), "If-None-Match": etag})
    assert (status, found["secrets"]["MISSING"]) == (200, "now")

    # versions list both, newest first, without values
    _, _, versions = api("GET", f"{shared}/SENTRY_DSN/versions", user=org["emails"]["viewer"])
    assert [(v["version"], v["action"]) for v in versions["data"]] == [(2, "set"), (1, "set")]
    assert DSN not in json.dumps(versions)
    assert api("GET", f"{shared}/SENTRY_DSN", user=org["emails"]["viewer"])[2]["value"] == new
    # a past version, as it was written; a version that never was is 404
    past = api("GET", f"{shared}/SENTRY_DSN?version=1", user=org["emails"]["viewer"])[2]
    assert (past["value"], past["version"]) == (DSN, 1)
    assert api("GET", f"{shared}/SENTRY_DSN?version=9", user=org["emails"]["viewer"])[0] == 404


def test_environments_without_shared_references_keep_their_etag(api: Api, org: dict[str, Any]) -> None:
    admin, shared = org["emails"]["admin"], org["shared"]
    assert api("PUT", f"{org['staging']}/secrets/PLAIN", user=admin, json={"value": "p"})[0] == 200
    status, _, tok = api(
        "POST",
        f"/v1/orgs/{org['slug']}/tokens",
        user=admin,
        json={"name": "ci", "project": "web", "environment": "staging", "permissions": ["read"]},
    )
    assert status == 201, tok
    _, headers, _ = api("GET", "/runtime/v1/secrets", headers=bearer(tok["token"]))
    assert api("POST", shared, user=admin, json={"key": "A", "value": "1"})[0] == 201
    assert (
        api("GET", "/runtime/v1/secrets", headers={**bearer(tok["token"]), "If-None-Match": headers["etag"]})[0] == 304
    )


def test_admins_write_members_read_and_values_stay_out_of_lists_and_events(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    emails, shared = org["emails"], org["shared"]
    value = f"v-{pysecrets.token_hex(8)}"
    assert api("POST", shared, user=emails["owner"], json={"key": "K", "value": value})[0] == 201
    assert api("POST", shared, user=emails["admin"], json={"key": "K", "value": "again"})[2]["error"]["code"] == (
        "shared_secret_exists"
    )
    for who in ("developer", "viewer"):
        assert api("GET", f"{shared}/K", user=emails[who])[2]["value"] == value
        assert api("PUT", f"{shared}/K", user=emails[who], json={"value": "nope"})[0] == 403
        assert api("DELETE", f"{shared}/K", user=emails[who])[0] == 403
        assert api("POST", shared, user=emails[who], json={"key": "N", "value": "n"})[0] == 403
    status, _, listing = api("GET", shared, user=emails["viewer"])
    assert status == 200
    assert [(i["key"], i["version"]) for i in listing["data"]] == [("K", 1)]
    assert "value" not in listing["data"][0]
    assert api("PUT", f"{shared}/K", user=emails["admin"], json={"value": "v2"}, headers={"If-Match": "7"})[0] == 412
    assert api("DELETE", f"{shared}/K", user=emails["admin"])[0] == 204
    assert api("GET", f"{shared}/K", user=emails["viewer"])[0] == 404
    assert api("DELETE", f"{shared}/K", user=emails["admin"])[0] == 404
    _, _, versions = api("GET", f"{shared}/K/versions", user=emails["admin"])
    assert [(v["version"], v["action"]) for v in versions["data"]] == [(2, "delete"), (1, "set")]

    # exactly one event per mutation, none carrying the value (the audit items are the outbox)
    events = query_partition(stack, f"AUDIT#{org['id']}", "EVT#")
    actions = [a for e in events if (a := e.get("action", {}).get("S", "")).startswith("shared_secret.")]
    assert sorted(actions) == sorted(["shared_secret.created", "shared_secret.deleted", *["shared_secret.read"] * 2])
    assert value not in json.dumps(events, default=str)
    # the stored items hold ciphertext only
    assert value not in json.dumps(query_partition(stack, f"ENV#shr_{org['id'].partition('_')[2]}"), default=str)


def test_another_orgs_shared_secrets_are_missing(api: Api, org: dict[str, Any]) -> None:
    assert api("POST", org["shared"], user=org["emails"]["admin"], json={"key": "MINE", "value": "m"})[0] == 201
    stranger, slug = f"s-{pysecrets.token_hex(4)}@example.com", f"other-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=stranger, json={"name": "Other", "slug": slug})[0] == 201
    for path in (org["shared"], f"{org['shared']}/MINE", f"/v1/orgs/{org['id']}/shared-secrets/MINE/versions"):
        status, _, body = api("GET", path, user=stranger)
        assert (status, body["error"]["code"]) == (404, "not_found")
    # the stranger's own store is theirs and empty; a reference there does not reach ours
    assert api("GET", f"/v1/orgs/{slug}/shared-secrets", user=stranger)[2]["data"] == []
    assert api("POST", f"/v1/orgs/{slug}/projects", user=stranger, json={"name": "Web"})[0] == 201
    env = f"/v1/orgs/{slug}/projects/web/environments/development"
    assert api("PUT", f"{env}/secrets/REF", user=stranger, json={"value": "${shared.MINE}"})[0] == 200
    assert api("GET", f"{env}/secrets/REF", user=stranger)[2]["value"] == "${shared.MINE}"


def test_a_custom_role_without_shared_read_cannot_expand_a_reference(api: Api, org: dict[str, Any]) -> None:
    owner, slug = org["emails"]["owner"], org["slug"]
    role = {"name": "Dev only", "slug": "dev-only", "permissions": {"secrets.read": "all", "secrets.write": "all"}}
    assert api("POST", f"/v1/orgs/{slug}/roles", user=owner, json=role)[0] == 201
    assert (
        api("PATCH", f"/v1/orgs/{slug}/members/{org['ids']['developer']}", user=owner, json={"role": "dev-only"})[0]
        == 200
    )
    dev = org["emails"]["developer"]
    assert api("POST", org["shared"], user=owner, json={"key": "S", "value": "s"})[0] == 201
    assert api("GET", f"{org['shared']}/S", user=dev)[0] == 403
    # writing a reference to what one cannot read is refused; reading one written by an owner too
    status, _, body = api("PUT", f"{org['staging']}/secrets/R", user=dev, json={"value": "${shared.S}"})
    assert (status, body["error"]["code"]) == (403, "reference_forbidden")
    assert api("PUT", f"{org['staging']}/secrets/R", user=owner, json={"value": "${shared.S}"})[0] == 200
    status, _, body = api("GET", f"{org['staging']}/secrets/R", user=dev)
    assert (status, body["error"]["code"]) == (403, "reference_forbidden")
    assert api("GET", f"{org['staging']}/secrets/R", user=owner)[2]["value"] == "s"


def _wrapping(stack: LocalStack, org_id: str) -> dict[str, str]:
    """SK -> kms_key_id of the shared store's data keys and snapshot."""
    return {
        i["SK"]["S"]: i["kms_key_id"]["S"]
        for i in query_partition(stack, f"ENV#shr_{org_id.partition('_')[2]}")
        if i["SK"]["S"].startswith("DATAKEY#") or i["SK"]["S"] == "SNAPSHOT"
    }


def test_byok_rewraps_the_shared_store_and_rotation_gives_it_a_new_key(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    owner, path, shared = org["emails"]["owner"], f"/v1/orgs/{org['slug']}", org["shared"]
    assert api("POST", shared, user=owner, json={"key": "S", "value": "before"})[0] == 201
    service_key = stack.resources.refs["ServiceKey"]  # type: ignore[union-attr]
    assert all(service_key in v for v in _wrapping(stack, org["id"]).values())

    key = customer_key(org["id"])
    status, _, enabled = api("POST", f"{path}/encryption/kms/enable", user=owner, json={"kms_key_arn": key})
    assert (status, enabled["rewrapped"]) == (200, 1)  # the shared store's one data key (no environment has any)
    assert set(_wrapping(stack, org["id"]).values()) == {key}
    crypto.cache.clear()  # a read through the customer key
    assert api("GET", f"{shared}/S", user=owner)[2]["value"] == "before"

    assert api("POST", f"{path}/encryption/rotate", user=owner)[0] == 200
    assert sorted(_wrapping(stack, org["id"])) == ["DATAKEY#000001", "DATAKEY#000002", "SNAPSHOT"]
    assert set(_wrapping(stack, org["id"]).values()) == {key}
    crypto.cache.clear()
    assert api("PUT", f"{shared}/S", user=owner, json={"value": "after"})[0] == 200
    assert api("GET", f"{shared}/S", user=owner)[2]["value"] == "after"
    assert [v["version"] for v in api("GET", f"{shared}/S/versions", user=owner)[2]["data"]] == [2, 1]


def test_a_service_token_cannot_write_a_shared_reference(api: Api, org: dict[str, Any]) -> None:
    admin = org["emails"]["admin"]
    body = {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read", "write"]}
    status, _, tok = api("POST", f"/v1/orgs/{org['slug']}/tokens", user=admin, json=body)
    assert status == 201, tok
    status, _, refused = api(
        "PUT", f"{org['staging']}/secrets/R", headers=bearer(tok["token"]), json={"value": "${shared.S}"}
    )
    assert (status, refused["error"]["code"]) == (403, "reference_forbidden")
    assert api("GET", org["shared"], headers=bearer(tok["token"]))[0] == 403
