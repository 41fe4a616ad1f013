"""SCIM 2.0 over HTTP: the real peer (`scim2 test` of scim2-cli) passes every check it runs against
the local stack; a provisioned user is a member, a deactivated or deleted one is not (and its own
credentials no longer reach the org); another org's token sees none of it; a revoked token is 401;
a SCIM token is useless on /v1 and other credentials on /scim/v2; no token in audit or responses.
Groups are the org's roles: a PATCH of a Group's members sets their role (a custom Group is a
custom role), and the last owner never leaves the owners' Group."""

from __future__ import annotations

import io
import json
import os
import re
import secrets as pysecrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from strongroom_local import LocalStack
from support import Api, query_partition, unique_email

pytestmark = pytest.mark.http

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _scim2() -> str:
    found = shutil.which("scim2", path=str(Path(sys.executable).parent)) or shutil.which("scim2")
    assert found, "scim2-cli (requirements-dev.txt) is not installed"
    return found


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"scim-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Scim", "slug": slug})[0] == 201
    status, _, created = api("POST", f"/v1/orgs/{slug}/scim/tokens", user=owner, json={"name": "okta"})
    assert status == 201, created
    org_id = api("GET", f"/v1/orgs/{slug}", user=owner)[2]["id"]
    return {
        "owner": owner,
        "slug": slug,
        "org_id": org_id,
        "path": f"/v1/orgs/{slug}",
        "token": created["token"],
        "id": created["id"],
    }


def scim(
    api: Api, method: str, path: str, token: str, body: Any = None, *, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    status, headers, raw = api(
        method,
        f"/scim/v2{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM, **(headers or {})},
        body=json.dumps(body).encode() if body is not None else None,
    )
    if isinstance(raw, str) and raw:
        raw = json.loads(raw)
    return status, headers, raw


def new_user(email: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": True}], **extra}


def test_scim2_cli_passes_every_check_it_runs(local_stack: str, org: dict[str, Any]) -> None:
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {org['token']}"}
    run = subprocess.run(
        [_scim2(), "--url", f"{local_stack}/scim/v2", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if re.match(r"^[A-Z_]+ ", line)]
    assert lines, run.stdout + run.stderr
    bad = [line for line in lines if not line.startswith("SUCCESS ")]
    assert bad == [], run.stdout
    assert "Resource types available are: 'User', 'Group'" in run.stdout
    assert "attribute filtering honoured for Group" in run.stdout
    assert run.returncode == 0, run.stdout + run.stderr  # scim2: 1 on anything but SUCCESS


def members(api: Api, org: dict[str, Any]) -> dict[str, str]:
    status, _, body = api("GET", f"{org['path']}/members", user=org["owner"])
    assert status == 200, body
    return {m["email"]: m["role"] for m in body["data"]}


def audit_actions(stack: LocalStack, org_id: str) -> list[tuple[str, str, str]]:
    items = query_partition(stack, f"AUDIT#{org_id}")
    events = sorted((i for i in items if i["entity"]["S"] == "audit_event"), key=lambda i: i["created_at"]["S"])
    return [(e["action"]["S"], e["actor"]["M"]["type"]["S"], e["actor"]["M"]["id"]["S"]) for e in events]


def test_a_provisioned_user_is_a_member_until_deactivated_and_comes_back_when_reactivated(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    # Given an identity provider that provisions a new person
    email = unique_email("provisioned")
    status, headers, created = scim(api, "POST", "/Users", org["token"], new_user(email, displayName="Ada"))
    assert status == 201, created
    assert headers["content-type"].startswith(SCIM)
    assert created["active"] is True
    assert created["userName"] == email
    assert created["id"].startswith("usr_")
    user_id = created["id"]
    assert headers["location"] == created["meta"]["location"]
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{user_id}")
    # Then the person is a member with the default role, and their own credential reaches the org
    assert members(api, org)[email] == "viewer"
    assert api("GET", org["path"], user=email)[0] == 200

    # And the filter finds them; another filter is refused in SCIM's error shape
    status, _, found = scim(api, "GET", f"/Users?filter=userName%20eq%20%22{email}%22", org["token"])
    assert status == 200
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == user_id
    status, _, refused = scim(api, "GET", "/Users?filter=displayName%20co%20%22A%22", org["token"])
    assert status == 400
    assert refused["schemas"] == [ERROR]
    assert refused["scimType"] == "invalidFilter"
    # And a second creation of the same userName is a uniqueness conflict
    status, _, again = scim(api, "POST", "/Users", org["token"], new_user(email))
    assert status == 409
    assert again["scimType"] == "uniqueness"

    # When the identity provider deactivates them
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    status, _, patched = scim(api, "PATCH", f"/Users/{user_id}", org["token"], off)
    assert status == 200
    assert patched["active"] is False
    # Then they are no member any more and their credential no longer reaches the org (404)
    assert email not in members(api, org)
    assert api("GET", org["path"], user=email)[0] == 404
    assert api("GET", "/v1/me", user=email)[0] == 200  # the account itself stays

    # When reactivated, they are a member again (with the default role)
    on = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}
    status, _, patched = scim(api, "PATCH", f"/Users/{user_id}", org["token"], on)
    assert status == 200
    assert patched["active"] is True
    assert members(api, org)[email] == "viewer"

    # When deleted, the user is gone from SCIM and from the members, never the account
    assert scim(api, "DELETE", f"/Users/{user_id}", org["token"])[0] == 204
    assert scim(api, "GET", f"/Users/{user_id}", org["token"])[0] == 404
    assert email not in members(api, org)
    assert api("GET", "/v1/me", user=email)[0] == 200

    # And every change is audited with the SCIM token as the actor, as member events
    actions = [(a, t, i) for a, t, i in audit_actions(stack, org["org_id"]) if t == "scim_token"]
    assert actions == [
        ("member.joined", "scim_token", org["id"]),
        ("member.removed", "scim_token", org["id"]),
        ("member.joined", "scim_token", org["id"]),
        ("member.removed", "scim_token", org["id"]),
    ]


def test_the_last_owner_is_never_deactivated(api: Api, org: dict[str, Any]) -> None:
    # Given the owner, adopted by the identity provider (already a member: nothing moves)
    status, _, owner = scim(api, "POST", "/Users", org["token"], new_user(org["owner"]))
    assert status == 201
    assert owner["active"] is True
    assert members(api, org)[org["owner"]] == "owner"
    # When the identity provider deactivates them, it is refused: the org keeps its owner
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    status, _, refused = scim(api, "PATCH", f"/Users/{owner['id']}", org["token"], off)
    assert status == 409
    assert refused["schemas"] == [ERROR]
    assert scim(api, "DELETE", f"/Users/{owner['id']}", org["token"])[0] == 409
    assert members(api, org)[org["owner"]] == "owner"


def test_only_an_owners_token_removes_an_owner(api: Api, org: dict[str, Any]) -> None:
    # Given a second owner and an admin, each invited by the owner
    joined = {}
    for role in ("owner", "admin"):
        email = unique_email(role)
        body = {"email": email, "role": role}
        status, _, inv = api("POST", f"{org['path']}/invitations", user=org["owner"], json=body)
        assert status == 201, inv
        assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
        joined[role] = email
    status, _, made = api("POST", f"{org['path']}/scim/tokens", user=joined["admin"], json={"name": "admin-idp"})
    assert status == 201, made
    status, _, second = scim(api, "POST", "/Users", org["token"], new_user(joined["owner"]))
    assert status == 201, second
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    # When the admin's token deactivates the second owner: refused (an admin cannot remove an owner)
    status, _, refused = scim(api, "PATCH", f"/Users/{second['id']}", made["token"], off)
    assert (status, refused["schemas"]) == (403, [ERROR]), refused
    assert scim(api, "DELETE", f"/Users/{second['id']}", made["token"])[0] == 403
    assert members(api, org)[joined["owner"]] == "owner"
    # Then the owner's token may
    assert scim(api, "PATCH", f"/Users/{second['id']}", org["token"], off)[0] == 200
    assert joined["owner"] not in members(api, org)


def test_another_orgs_token_sees_none_of_this_orgs_users(api: Api, org: dict[str, Any]) -> None:
    # Given a user provisioned in this org and a second org with its own token
    status, _, created = scim(api, "POST", "/Users", org["token"], new_user(unique_email("mine")))
    assert status == 201
    other_owner, other_slug = unique_email("other"), f"scim-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other_owner, json={"name": "Other", "slug": other_slug})[0] == 201
    other = api("POST", f"/v1/orgs/{other_slug}/scim/tokens", user=other_owner, json={"name": "idp"})[2]["token"]
    # Then the other token finds nothing of it: 404 by ID, an empty listing and filter
    assert scim(api, "GET", f"/Users/{created['id']}", other)[0] == 404
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert scim(api, "PATCH", f"/Users/{created['id']}", other, off)[0] == 404
    assert scim(api, "DELETE", f"/Users/{created['id']}", other)[0] == 404
    status, _, listing = scim(api, "GET", "/Users", other)
    assert status == 200
    assert listing["totalResults"] == 0
    filtered = scim(api, "GET", f"/Users?filter=userName%20eq%20%22{created['userName']}%22", other)[2]
    assert filtered["totalResults"] == 0
    # And this org's user is still active here
    assert scim(api, "GET", f"/Users/{created['id']}", org["token"])[2]["active"] is True


def test_scim_tokens_work_on_scim_only_and_die_when_revoked(
    api: Api, org: dict[str, Any], stack: LocalStack, server_log: io.StringIO
) -> None:
    token = org["token"]
    assert token.startswith("sr_scim_")
    # A SCIM token is useless on the rest of the API
    for method, path in (("GET", org["path"]), ("GET", "/v1/me"), ("GET", f"{org['path']}/members")):
        status, _, body = api(method, path, headers={"Authorization": f"Bearer {token}"})
        assert (status, body["error"]["code"]) == (403, "scim_token"), path
    # Other credentials are useless on /scim/v2 (in SCIM's error shape)
    status, _, body = api("GET", "/scim/v2/Users", user=org["owner"])
    assert status == 403
    assert json.loads(body)["schemas"] == [ERROR]
    assert scim(api, "GET", "/Users", "sr_scim_notatoken")[0] == 401
    # The token list never shows the token
    status, _, listed = api("GET", f"{org['path']}/scim/tokens", user=org["owner"])
    assert status == 200
    assert [t["id"] for t in listed["data"]] == [org["id"]]
    assert token not in json.dumps(listed)
    assert token not in json.dumps(query_partition(stack, f"SCIMTOK#{org['id']}"), default=str)  # its hash only
    # When revoked, the next request is 401
    assert scim(api, "GET", "/Users", token)[0] == 200
    assert api("DELETE", f"{org['path']}/scim/tokens/{org['id']}", user=org["owner"])[0] == 204
    status, _, body = scim(api, "GET", "/Users", token)
    assert status == 401
    assert body["schemas"] == [ERROR]
    # And the token is stored nowhere, logged nowhere
    stored = [
        *query_partition(stack, f"SCIMTOK#{org['id']}"),  # gone: revoked
        *query_partition(stack, f"AUDIT#{org['org_id']}"),
        *query_partition(stack, f"ORG#{org['org_id']}"),
    ]
    assert token not in json.dumps(stored, default=str)
    assert token not in server_log.getvalue()


@pytest.mark.usefixtures("stack_workers")
def test_provisioning_reaches_webhooks_as_member_events(api: Api, org: dict[str, Any]) -> None:
    from http_api.test_webhooks import Receiver, subscribe

    receiver = Receiver()
    try:
        subscribe(api, org, receiver.url, ["member.*"])
        status, _, created = scim(api, "POST", "/Users", org["token"], new_user(unique_email("hooked")))
        assert status == 201, created
        assert scim(api, "DELETE", f"/Users/{created['id']}", org["token"])[0] == 204
        calls = receiver.wait(2)
    finally:
        receiver.close()
    events = [json.loads(body) for _, body in calls]
    assert sorted(e["type"] for e in events) == ["member.joined", "member.removed"]
    assert all(e["data"]["actor"] == {"type": "scim_token", "id": org["id"]} for e in events)
    assert org["token"] not in json.dumps(events)


# --------------------------------------------------------------------------- Groups


def add_members(*user_ids: str) -> dict[str, Any]:
    return {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in user_ids]}],
    }


def group_members(api: Api, token: str, group_id: str) -> list[str]:
    status, _, group = scim(api, "GET", f"/Groups/{group_id}", token)
    assert status == 200, group
    return [m["value"] for m in group.get("members", [])]


def test_a_group_patch_sets_a_members_role(api: Api, org: dict[str, Any], stack: LocalStack) -> None:
    # Given a provisioned user (a viewer)
    email = unique_email("grace")
    status, _, user = scim(api, "POST", "/Users", org["token"], new_user(email))
    assert status == 201
    assert members(api, org)[email] == "viewer"
    assert user["id"] in group_members(api, org["token"], "viewer")
    # When the identity provider adds them to the developers' Group
    status, _, group = scim(api, "PATCH", "/Groups/developer", org["token"], add_members(user["id"]))
    # Then they are a developer, in that Group and no longer among the viewers
    assert status == 200, group
    assert user["id"] in [m["value"] for m in group["members"]]
    assert members(api, org)[email] == "developer"
    assert user["id"] not in group_members(api, org["token"], "viewer")
    # A Group of its own is a custom role (holding nothing until an admin grants it)
    status, _, made = scim(api, "POST", "/Groups", org["token"], {"schemas": [GROUP], "displayName": "Release Crew"})
    assert status == 201, made
    assert made["id"].startswith("rol_")
    assert scim(api, "PATCH", f"/Groups/{made['id']}", org["token"], add_members(user["id"]))[0] == 200
    assert members(api, org)[email] == "release-crew"
    status, _, role = api("GET", f"{org['path']}/roles/release-crew", user=org["owner"])
    assert (status, role["permissions"]) == (200, {})
    # Deactivated, they are no member, but still the Group's; reactivated, they hold it again
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert scim(api, "PATCH", f"/Users/{user['id']}", org["token"], off)[0] == 200
    assert email not in members(api, org)
    assert user["id"] in group_members(api, org["token"], made["id"])
    on = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]}
    assert scim(api, "PATCH", f"/Users/{user['id']}", org["token"], on)[0] == 200
    assert members(api, org)[email] == "release-crew"
    # Deleting the Group deletes the role; its members are viewers again
    assert scim(api, "DELETE", f"/Groups/{made['id']}", org["token"])[0] == 204
    assert members(api, org)[email] == "viewer"
    assert api("GET", f"{org['path']}/roles/release-crew", user=org["owner"])[0] == 404
    assert scim(api, "DELETE", "/Groups/viewer", org["token"])[0] == 400
    # Each change is one event, whose actor is the SCIM token
    events = [e for e in audit_actions(stack, org["org_id"]) if e[0].startswith("scim_group.")]
    assert [e[0] for e in events] == [
        "scim_group.updated",
        "scim_group.created",
        "scim_group.updated",
        "scim_group.deleted",
    ]
    assert {(e[1], e[2]) for e in events} == {("scim_token", org["id"])}


def test_the_last_owner_never_leaves_the_owners_group(api: Api, org: dict[str, Any]) -> None:
    owner_id = api("GET", "/v1/me", user=org["owner"])[2]["id"]
    assert group_members(api, org["token"], "owner") == [owner_id]
    # Given a provisioned user, added to the owners (by the owner's token): two owners
    email = unique_email("heidi")
    _, _, user = scim(api, "POST", "/Users", org["token"], new_user(email))
    # An admin's token does not make owners
    admin = unique_email("admin")
    _, _, inv = api("POST", f"{org['path']}/invitations", user=org["owner"], json={"email": admin, "role": "admin"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=admin)[0] == 200
    admins_token = api("POST", f"{org['path']}/scim/tokens", user=admin, json={"name": "admin-idp"})[2]["token"]
    status, _, refused = scim(api, "PATCH", "/Groups/owner", admins_token, add_members(user["id"]))
    assert (status, refused["schemas"]) == (403, [ERROR])
    assert scim(api, "PATCH", "/Groups/owner", org["token"], add_members(user["id"]))[0] == 200
    assert members(api, org)[email] == "owner"
    # When the identity provider empties the owners' Group: refused (409), nothing moves
    empty = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": []}]}
    status, _, refused = scim(api, "PATCH", "/Groups/owner", org["token"], empty)
    assert (status, refused["schemas"], refused.get("status")) == (409, [ERROR], "409"), refused
    assert sorted(group_members(api, org["token"], "owner")) == sorted([owner_id, user["id"]])
    # Removing one of the two is fine; then the last one stays
    one = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]}
    assert scim(api, "PATCH", "/Groups/owner", org["token"], one)[0] == 200
    assert members(api, org)[email] == "viewer"
    last = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{owner_id}"]'}]}
    assert scim(api, "PATCH", "/Groups/owner", org["token"], last)[0] == 409
    assert members(api, org)[org["owner"]] == "owner"


def test_another_orgs_token_sees_none_of_this_orgs_groups(api: Api, org: dict[str, Any]) -> None:
    # Given a custom Group with a member in this org, and another org's token
    _, _, user = scim(api, "POST", "/Users", org["token"], new_user(unique_email("ivan")))
    _, _, made = scim(api, "POST", "/Groups", org["token"], {"schemas": [GROUP], "displayName": "Ops"})
    assert scim(api, "PATCH", f"/Groups/{made['id']}", org["token"], add_members(user["id"]))[0] == 200
    other_owner, other_slug = unique_email("other"), f"scim-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other_owner, json={"name": "Other", "slug": other_slug})[0] == 201
    other = api("POST", f"/v1/orgs/{other_slug}/scim/tokens", user=other_owner, json={"name": "idp"})[2]["token"]
    # Then its Group is missing there, and this org's user cannot join the other org's Groups
    assert scim(api, "GET", f"/Groups/{made['id']}", other)[0] == 404
    assert scim(api, "PATCH", f"/Groups/{made['id']}", other, add_members(user["id"]))[0] == 404
    assert scim(api, "DELETE", f"/Groups/{made['id']}", other)[0] == 404
    status, _, listing = scim(api, "GET", "/Groups", other)
    assert status == 200
    assert sorted(g["id"] for g in listing["Resources"]) == ["admin", "developer", "owner", "viewer"]
    assert user["id"] not in json.dumps(listing)
    assert scim(api, "PATCH", "/Groups/developer", other, add_members(user["id"]))[0] == 400
    assert scim(api, "GET", f"/Groups/{made['id']}", org["token"])[2]["members"] == [
        {"value": user["id"], "$ref": user["meta"]["location"]}
    ]


def test_versions_are_etags_that_guard_writes(api: Api, org: dict[str, Any]) -> None:
    token = org["token"]
    status, headers, user = scim(api, "POST", "/Users", token, new_user(unique_email("etag")))
    assert status == 201
    first = user["meta"]["version"]
    assert first.startswith('W/"')
    assert headers["etag"] == first
    assert scim(api, "GET", "/ServiceProviderConfig", token)[2]["etag"]["supported"] is True
    # a GET naming the version it has is 304; the listing carries the same version
    path = f"/Users/{user['id']}"
    assert scim(api, "GET", path, token, headers={"If-None-Match": first})[0] == 304
    listed = scim(api, "GET", f"/Users?filter=userName%20eq%20%22{user['userName']}%22", token)[2]
    assert listed["Resources"][0]["meta"]["version"] == first
    # a write naming the version applies and moves it; one naming an older version is 412
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    status, headers, patched = scim(api, "PATCH", path, token, off, headers={"If-Match": first})
    assert status == 200, patched
    second = patched["meta"]["version"]
    assert second != first
    assert headers["etag"] == second
    status, _, stale = scim(api, "PATCH", path, token, off, headers={"If-Match": first})
    assert (status, stale["schemas"]) == (412, [ERROR])
    assert scim(api, "GET", path, token)[2]["active"] is False
    assert scim(api, "DELETE", path, token, headers={"If-Match": first})[0] == 412
    assert scim(api, "GET", path, token, headers={"If-None-Match": first})[0] == 200
    # a Group's version moves with its members
    before = scim(api, "GET", "/Groups/developer", token)[1]["etag"]
    guarded = {"If-Match": before}
    status, _, moved = scim(api, "PATCH", "/Groups/developer", token, add_members(user["id"]), headers=guarded)
    assert status == 200, moved
    assert moved["meta"]["version"] != before
    assert scim(api, "PATCH", "/Groups/developer", token, add_members(user["id"]), headers=guarded)[0] == 412
    assert scim(api, "DELETE", path, token, headers={"If-Match": "*"})[0] == 204


def test_a_search_across_types_pages_users_then_groups(api: Api, org: dict[str, Any]) -> None:
    token, search = org["token"], "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
    emails = sorted(unique_email(f"root{i}") for i in range(2))
    made = [scim(api, "POST", "/Users", token, new_user(e))[2]["id"] for e in emails]
    status, _, everything = scim(api, "POST", "/.search", token, {"schemas": [search]})
    assert status == 200, everything
    kinds = [r["schemas"][0] for r in everything["Resources"]]
    groups = scim(api, "GET", "/Groups", token)[2]["totalResults"]  # the built-in roles' groups
    # the two users, then the groups
    assert (everything["totalResults"], kinds) == (2 + groups, [USER] * 2 + [GROUP] * groups)
    assert set(made) == {r["id"] for r in everything["Resources"][:2]}
    # a page that straddles the types
    page = scim(api, "POST", "/.search", token, {"schemas": [search], "startIndex": 2, "count": 2})[2]
    assert [r["schemas"][0] for r in page["Resources"]] == [USER, GROUP]
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (2 + groups, 2, 2)
    # a filter reaches the type it names
    by_name = {"schemas": [search], "filter": f'userName eq "{emails[0]}"'}
    assert [r["userName"] for r in scim(api, "POST", "/.search", token, by_name)[2]["Resources"]] == [emails[0]]
    by_group = {"schemas": [search], "filter": 'displayName eq "Developer"'}
    assert [r["id"] for r in scim(api, "POST", "/.search", token, by_group)[2]["Resources"]] == ["developer"]
    status, _, refused = scim(api, "POST", "/.search", token, {"schemas": [search], "filter": 'title eq "x"'})
    assert (status, refused["scimType"]) == (400, "invalidFilter")


def _expire(stack: LocalStack, org_id: str, invitation_id: str) -> None:
    from strongroom import aws
    from support import table_name

    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key={"PK": {"S": f"ORG#{org_id}"}, "SK": {"S": f"INVITE#{invitation_id}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00Z"}},
    )


def test_a_join_at_the_member_limit_releases_an_expired_invitation(
    api: Api, org: dict[str, Any], stack: LocalStack
) -> None:
    admin = {"limit_overrides": {"members": 2}}
    assert api("PATCH", f"/v1/admin/orgs/{org['org_id']}", user="admin@example.com", json=admin)[0] == 200

    def invite() -> str:
        body = {"email": unique_email("late"), "role": "developer"}
        status, _, invited = api("POST", f"{org['path']}/invitations", user=org["owner"], json=body)
        assert status == 201, invited
        return str(invited["id"])

    def status_of(invitation_id: str) -> str:
        listed = api("GET", f"{org['path']}/invitations", user=org["owner"])[2]["data"]
        return str({i["id"]: i["status"] for i in listed}[invitation_id])

    # Given an org allowed two members: its owner and a pending invitation
    first = invite()
    email = unique_email("provisioned")
    # While the invitation is pending, provisioning is past the limit, and nothing is written
    status, _, refused = scim(api, "POST", "/Users", org["token"], new_user(email))
    assert status == 403, refused
    assert refused["schemas"] == [ERROR]
    assert email not in members(api, org)
    # When the invitation's time has passed, provisioning releases it and the user joins
    _expire(stack, org["org_id"], first)
    status, _, created = scim(api, "POST", "/Users", org["token"], new_user(email))
    assert status == 201, created
    assert members(api, org)[email] == "viewer"
    assert status_of(first) == "expired"
    assert api("GET", f"{org['path']}/usage", user=org["owner"])[2]["usage"]["members"] == 2

    # And a reactivation at the limit does the same
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert scim(api, "PATCH", f"/Users/{created['id']}", org["token"], off)[0] == 200
    second = invite()
    on = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]}
    assert scim(api, "PATCH", f"/Users/{created['id']}", org["token"], on)[0] == 403
    _expire(stack, org["org_id"], second)
    status, _, patched = scim(api, "PATCH", f"/Users/{created['id']}", org["token"], on)
    assert status == 200, patched
    assert patched["active"] is True
    assert status_of(second) == "expired"
    assert api("GET", f"{org['path']}/usage", user=org["owner"])[2]["usage"]["members"] == 2

    # And each join's one audit event names the invitation it released
    items = query_partition(stack, f"AUDIT#{org['org_id']}")
    joins = sorted(
        (i for i in items if i["entity"]["S"] == "audit_event" and i["action"]["S"] == "member.joined"),
        key=lambda i: i["created_at"]["S"],
    )
    released = [j["metadata"]["M"]["released_expired_invitations"]["L"] for j in joins]
    assert [[r["S"] for r in each] for each in released] == [[first], [second]]
