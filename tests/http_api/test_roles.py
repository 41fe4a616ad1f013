"""Custom roles over HTTP (docs/design.md, "Custom roles"): what a custom role may do is decided
by the one choke point with its scopes, nobody creates or grants more than they hold, a role in use
stays, and another org's role is 404."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from support import Api, unique_email

pytestmark = pytest.mark.http

AUDITOR = {"audit.read": "all", "secrets.read": "non_production"}
# what a member holding it holds: it sees its org, and the projects (to reach their environments)
HELD = {**AUDITOR, "org.read": "all", "projects.read": "all"}


def _org(api: Api) -> tuple[str, str, dict[str, Any]]:
    owner, slug = unique_email("owner"), f"cr-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Custom roles", "slug": slug})[0] == 201
    status, _h, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "App"})
    assert status == 201, project
    return slug, owner, project


def _member(api: Api, slug: str, owner: str, role: str) -> tuple[str, str]:
    email = unique_email("member")
    status, _h, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": email, "role": role})
    assert status == 201, inv
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
    return email, api("GET", "/v1/me", user=email)[2]["id"]


def _create(api: Api, org: str, user: str, **body: Any) -> tuple[int, Any]:
    status, _h, payload = api("POST", f"/v1/orgs/{org}/roles", user=user, json={"name": "Auditor", **body})
    return status, payload


def test_a_custom_role_reads_the_audit_log_and_non_production_secrets_only(api: Api) -> None:
    # Given an org with a secret in staging and production, and an auditor role created by its owner
    slug, owner, project = _org(api)
    envs = f"/v1/orgs/{slug}/projects/{project['slug']}/environments"
    for env in ("staging", "production"):
        assert api("PUT", f"{envs}/{env}/secrets/DB_URL", user=owner, json={"value": f"{env}-db"})[0] in (200, 201)
    status, role = _create(api, slug, owner, slug="auditor", description="Reads", permissions=AUDITOR)
    assert status == 201, role
    assert role["id"].startswith("rol_")
    assert (role["slug"], role["permissions"], role["description"]) == ("auditor", AUDITOR, "Reads")
    # When a member holds it
    auditor, _ = _member(api, slug, owner, "auditor")
    # Then they read the audit log and staging's secrets, not production's, and write nothing
    assert api("GET", f"/v1/orgs/{slug}/audit", user=auditor)[0] == 200
    status, _h, secret = api("GET", f"{envs}/staging/secrets/DB_URL", user=auditor)
    assert (status, secret["value"]) == (200, "staging-db")
    status, _h, refused = api("GET", f"{envs}/production/secrets/DB_URL", user=auditor)
    assert (status, refused["error"]["details"]["permission"]) == (403, "secrets.read")
    assert api("PUT", f"{envs}/staging/secrets/DB_URL", user=auditor, json={"value": "x"})[0] == 403
    assert api("GET", f"/v1/orgs/{slug}/members", user=auditor)[0] == 403  # members.read not held
    assert api("POST", f"/v1/orgs/{slug}/projects", user=auditor, json={"name": "No"})[0] == 403
    status, _h, mine = api("GET", f"/v1/me/permissions?org={slug}", user=auditor)
    assert (status, mine["role"], mine["permissions"]) == (200, "auditor", dict(sorted(HELD.items())))


def test_nobody_creates_or_grants_a_role_holding_more_than_they_do(api: Api) -> None:
    slug, owner, _ = _org(api)
    admin, _ = _member(api, slug, owner, "admin")
    status, refused = _create(api, slug, admin, slug="keys", permissions={"encryption.manage": "all"})
    assert (status, refused["error"]["code"]) == (403, "forbidden")
    assert refused["error"]["details"]["permissions"] == ["encryption.manage"]
    # the owner may; the admin may then neither grant it nor change it
    assert _create(api, slug, owner, slug="keys", permissions={"encryption.manage": "all"})[0] == 201
    invite = {"email": unique_email("x"), "role": "keys"}
    assert api("POST", f"/v1/orgs/{slug}/invitations", user=admin, json=invite)[0] == 403
    put = {"name": "Keys", "permissions": {"audit.read": "all"}}
    assert api("PUT", f"/v1/orgs/{slug}/roles/keys", user=admin, json=put)[0] == 403
    assert api("DELETE", f"/v1/orgs/{slug}/roles/keys", user=admin)[0] == 403
    # and a developer manages no roles at all
    dev, _ = _member(api, slug, owner, "developer")
    assert _create(api, slug, dev, slug="mine", permissions={"org.read": "all"})[0] == 403


def test_bad_roles_are_refused_naming_the_field(api: Api) -> None:
    slug, owner, _ = _org(api)
    for permissions in ({"secrets.explode": "all"}, {"secrets.read": "everywhere"}):
        status, body = _create(api, slug, owner, permissions=permissions)
        assert status == 400, body
        assert "permissions" in str(body["error"]["details"]), body
    for builtin in ("owner", "admin", "developer", "viewer"):
        status, body = _create(api, slug, owner, slug=builtin, permissions={"org.read": "all"})
        assert (status, body["error"]["code"]) == (409, "slug_taken")
    assert _create(api, slug, owner, slug="dup", permissions={})[0] == 201
    assert _create(api, slug, owner, slug="dup", permissions={})[0] == 409
    # a member's role must be one the org has
    invite = {"email": unique_email("x"), "role": "no-such-role"}
    status, _h, body = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json=invite)
    assert (status, "role" in str(body["error"]["details"])) == (400, True)


def test_a_role_in_use_is_not_deleted_and_an_unused_one_is(api: Api) -> None:
    slug, owner, _ = _org(api)
    assert _create(api, slug, owner, slug="auditor", permissions=AUDITOR)[0] == 201
    _, user_id = _member(api, slug, owner, "auditor")
    # a member holds it
    status, _h, body = api("DELETE", f"/v1/orgs/{slug}/roles/auditor", user=owner)
    assert (status, body["error"]["code"]) == (409, "role_in_use")
    # then only a pending invitation names it
    assert api("PATCH", f"/v1/orgs/{slug}/members/{user_id}", user=owner, json={"role": "viewer"})[0] == 200
    invite = {"email": unique_email("x"), "role": "auditor"}
    _, _h, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json=invite)
    assert api("DELETE", f"/v1/orgs/{slug}/roles/auditor", user=owner)[0] == 409
    # nobody
    assert api("DELETE", f"/v1/orgs/{slug}/invitations/{inv['id']}", user=owner)[0] == 204
    assert api("DELETE", f"/v1/orgs/{slug}/roles/auditor", user=owner)[0] == 204
    assert api("GET", f"/v1/orgs/{slug}/roles/auditor", user=owner)[0] == 404
    assert api("GET", f"/v1/orgs/{slug}/roles", user=owner)[2]["data"] == []


def test_a_member_patched_to_a_custom_role_holds_it_and_a_change_of_the_role_applies(api: Api) -> None:
    slug, owner, project = _org(api)
    assert _create(api, slug, owner, slug="auditor", permissions=AUDITOR)[0] == 201
    email, user_id = _member(api, slug, owner, "developer")
    status, _h, member = api("PATCH", f"/v1/orgs/{slug}/members/{user_id}", user=owner, json={"role": "auditor"})
    assert (status, member["role"]) == (200, "auditor")
    assert api("GET", f"/v1/me/permissions?org={slug}", user=email)[2]["permissions"] == HELD
    # the role changes: so does what its members may do, at once
    put = {"name": "Auditor", "permissions": {"audit.read": "all"}}
    status, _h, role = api("PUT", f"/v1/orgs/{slug}/roles/auditor", user=owner, json=put)
    assert (status, role["permissions"]) == (200, {"audit.read": "all"})
    staging = f"/v1/orgs/{slug}/projects/{project['slug']}/environments/staging/secrets"
    assert api("GET", staging, user=email)[0] == 403
    assert api("GET", f"/v1/me/permissions?org={slug}", user=email)[2]["permissions"] == {
        "audit.read": "all",
        "org.read": "all",
    }


def test_another_org_s_role_is_404(api: Api) -> None:
    slug, owner, _ = _org(api)
    status, role = _create(api, slug, owner, slug="auditor", permissions=AUDITOR)
    assert status == 201
    other, other_owner, _ = _org(api)
    for ref in (role["id"], "auditor"):
        assert api("GET", f"/v1/orgs/{other}/roles/{ref}", user=other_owner)[0] == 404
        assert api("DELETE", f"/v1/orgs/{other}/roles/{ref}", user=other_owner)[0] == 404
    # and a stranger sees nothing of the first org's roles
    assert api("GET", f"/v1/orgs/{slug}/roles", user=other_owner)[0] == 404
    # nor may the other org grant the first org's role
    invite = {"email": unique_email("x"), "role": "auditor"}
    assert api("POST", f"/v1/orgs/{other}/invitations", user=other_owner, json=invite)[0] == 400


def test_an_org_holds_a_bounded_number_of_custom_roles(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from strongroom.data import roles

    monkeypatch.setattr(roles, "MAX_ROLES", 2)  # the server runs in this process
    slug, owner, _ = _org(api)
    assert _create(api, slug, owner, slug="one", permissions=AUDITOR)[0] == 201
    assert _create(api, slug, owner, slug="two", permissions=AUDITOR)[0] == 201
    status, body = _create(api, slug, owner, slug="three", permissions=AUDITOR)
    assert (status, body["error"]["code"], body["error"]["details"]["limit"]) == (409, "too_many_roles", 2)
    assert [r["slug"] for r in api("GET", f"/v1/orgs/{slug}/roles", user=owner)[2]["data"]] == ["one", "two"]
    # a deleted role frees its place
    assert api("DELETE", f"/v1/orgs/{slug}/roles/one", user=owner)[0] == 204
    assert _create(api, slug, owner, slug="three", permissions=AUDITOR)[0] == 201
