"""Other tenants' resources are 404 on every route; role rules for members hold."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import pytest

from strongroom import ids as server_ids
from strongroom_local.template import load_template, routes
from support import Api, org_with_members, saml_config, unique_email

pytestmark = pytest.mark.http

POLICY = {
    "name": "Intruder",
    "project": "secret",
    "environments": ["production"],
    "applies_to": ["access_requests", "changes"],
    "approvers": ["viewer"],
}
BODIES: dict[str, Any] = {
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/folders": {"path": "/stolen"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}/folders/{id}": {"path": "/stolen"},
    "POST /v1/orgs/{org}/billing/checkout": {"plan": "team"},
    "PATCH /v1/orgs/{org}": {"name": "Mine now"},
    "PATCH /v1/orgs/{org}/members/{user}": {"role": "viewer"},
    "POST /v1/orgs/{org}/invitations": {"email": "intruder@example.com", "role": "owner"},
    "POST /v1/orgs/{org}/projects": {"name": "Intruder"},
    "PATCH /v1/orgs/{org}/projects/{project}": {"name": "Mine now"},
    "POST /v1/orgs/{org}/projects/{project}/environments": {"name": "Intruder"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}": {"name": "Mine now"},
    "PUT /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}": {"value": "stolen"},
    "PUT /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rotation": {
        "interval_days": 30,
        "rotator": {"type": "random"},
    },
    "POST /v1/orgs/{org}/shared-secrets": {"key": "DB_URL", "value": "stolen"},
    "PUT /v1/orgs/{org}/shared-secrets/{key}": {"value": "stolen"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}/secrets": {"set": {"STOLEN": "x"}},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rollback": {"version": 1},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/import": {"format": "json", "content": "{}"},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/restore": {"at": "2026-01-01T00:00:00Z"},
    "POST /v1/orgs/{org}/projects/{project}/promote": {"from": "development", "to": "staging"},
    "POST /v1/orgs/{org}/projects/{project}/template": {"key": "INJECTED"},
    "POST /v1/orgs/{org}/encryption/kms/test": {"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/mine"},
    "POST /v1/orgs/{org}/encryption/kms/enable": {"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/mine"},
    "POST /v1/orgs/{org}/tokens": {"name": "stolen", "project": "secret", "environment": "production"},
    "POST /v1/orgs/{org}/scim/tokens": {"name": "stolen"},
    "POST /v1/orgs/{org}/identities": {
        "name": "stolen",
        "type": "aws_iam",
        "project": "secret",
        "environment": "production",
        "rules": {"account": "111122223333", "role_arn": "arn:aws:iam::111122223333:role/intruder"},
    },
    "PUT /v1/orgs/{org}/identities/{id}": {
        "name": "stolen",
        "type": "aws_iam",
        "project": "secret",
        "environment": "production",
        "rules": {"account": "111122223333", "role_arn": "arn:aws:iam::111122223333:role/intruder"},
    },
    "POST /v1/orgs/{org}/webhooks": {"url": "https://example.com/steal", "events": ["*"]},
    "PATCH /v1/orgs/{org}/webhooks/{id}": {"url": "https://example.com/steal"},
    "POST /v1/orgs/{org}/roles": {"name": "Intruder", "permissions": {"audit.read": "all"}},
    "PUT /v1/orgs/{org}/roles/{role}": {"name": "Intruder", "permissions": {"audit.read": "all"}},
    "POST /v1/orgs/{org}/webhooks/{id}/rotate-secret": {},
    "POST /v1/orgs/{org}/agents": {"name": "intruder"},
    "POST /v1/orgs/{org}/jobs": {"agent": "agt_01m8rt5w37jqc2tb0rg5cwrxf3", "type": "discover"},
    "POST /v1/orgs/{org}/integrations": {
        "type": "github_actions",
        "project": "web",
        "environment": "staging",
        "config": {"repository": "acme/web", "token": "intruder"},
    },
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/grants": {
        "principal": {"type": "user", "id": "usr_01m8rt5w37jqc2tb0rg5cwrxf3"},
        "suite": "x25519",
        "wrapped_key": base64.b64encode(bytes(80)).decode(),
        "key_version": 1,
    },
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/rekey": {
        "key_version": 2,
        "grants": [
            {
                "principal": {"type": "user", "id": "usr_01m8rt5w37jqc2tb0rg5cwrxf3"},
                "suite": "x25519",
                "wrapped_key": base64.b64encode(bytes(80)).decode(),
            }
        ],
        "values": {},
    },
    "POST /v1/orgs/{org}/approval-policies": POLICY,
    "PUT /v1/orgs/{org}/approval-policies/{id}": POLICY,
    "POST /v1/orgs/{org}/access-requests": {
        "project": "secret",
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 60,
        "reason": "intrusion",
    },
    "POST /v1/orgs/{org}/access-requests/{id}/approve": {},
    "POST /v1/orgs/{org}/change-requests/{id}/approve": {},
    "POST /v1/orgs/{org}/change-requests/{id}/reject": {"reason": "intrusion"},
    "POST /v1/orgs/{org}/change-requests/{id}/comments": {"body": "intrusion"},
    "POST /v1/orgs/{org}/access-requests/{id}/reject": {"reason": "intrusion"},
    "PUT /v1/orgs/{org}/sso/oidc": {
        "issuer": "https://idp.intruder.test",
        "client_id": "mine",
        "client_secret": "mine",
        "domains": ["intruder.test"],
        "default_role": "admin",
    },
    "PUT /v1/orgs/{org}/sso/saml": saml_config("intruder.test", role="admin"),
}
GRANT_ID = "grt_01m8rt5w37jqc2tb0rg5cwrxf3"


def _sso_config(domain: str) -> dict[str, Any]:
    return {
        "issuer": "https://idp.example.test",
        "client_id": "strongroom",
        "client_secret": "never-shown",
        "domains": [domain],
        "default_role": "viewer",
    }


@pytest.fixture(scope="module")
def victim(api: Api) -> dict[str, Any]:
    owner = unique_email("victim")
    slug = f"victim-{secrets.token_hex(4)}"
    _, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Victim", "slug": slug})
    _, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Secret"})
    _, _, inv = api(
        "POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": unique_email("x"), "role": "viewer"}
    )
    _, _, me = api("GET", "/v1/me", user=owner)
    _, _, role = api(
        "POST", f"/v1/orgs/{slug}/roles", user=owner, json={"name": "Auditor", "permissions": {"audit.read": "all"}}
    )
    # Its single sign-on is configured: a stranger's GET, PUT or DELETE of it is 404 all the same.
    status, _, _sso = api("PUT", f"/v1/orgs/{slug}/sso/oidc", user=owner, json=_sso_config(f"{slug}.test"))
    assert status == 200
    status, _, _saml = api("PUT", f"/v1/orgs/{slug}/sso/saml", user=owner, json=saml_config(f"{slug}.test"))
    assert status == 200
    # It holds a shared secret by the name the routes use: reading, changing or deleting it is 404 too.
    assert api("POST", f"/v1/orgs/{slug}/shared-secrets", user=owner, json={"key": "DB_URL", "value": "v"})[0] == 201
    return {"owner": owner, "org": org, "project": project, "invitation": inv, "user_id": me["id"], "role": role}


def _org_routes() -> list[str]:
    """The tenant's routes (platform admin's /v1/admin/orgs/{org} are not: see below)."""
    return sorted(r.key for r in routes(load_template()) if r.path.startswith("/v1/orgs/{org}"))


def _admin_routes() -> list[str]:
    return sorted(r.key for r in routes(load_template()) if r.path.startswith("/v1/admin/"))


@pytest.mark.parametrize("route_key", _admin_routes())
def test_anyone_but_a_platform_admin_gets_403_on_every_admin_route(
    api: Api, victim: dict[str, Any], route_key: str
) -> None:
    # Given the victim's org's owner (an org owner is no platform admin), on every admin route,
    # even without a body (refused before validation: the route's schema is not revealed)
    method, template = route_key.split(" ", 1)
    path = template.replace("{org}", victim["org"]["id"]).replace("{plan}", "enterprise")
    status, _, body = api(method, path, user=victim["owner"])
    assert status == 403, (route_key, body)
    assert body["error"]["code"] == "platform_admin_required"
    # and the org's plan is untouched
    assert api("GET", f"/v1/orgs/{victim['org']['id']}/usage", user=victim["owner"])[2]["plan"] == "enterprise"


@pytest.mark.parametrize("route_key", _org_routes())
@pytest.mark.parametrize("ref", ["id", "slug"])
def test_a_stranger_gets_404_on_every_org_route(api: Api, victim: dict[str, Any], route_key: str, ref: str) -> None:
    method, template = route_key.split(" ", 1)
    org, project = victim["org"], victim["project"]
    path = (
        template.replace("{org}", org["id"] if ref == "id" else org["slug"])
        .replace("{project}", project["id"] if ref == "id" else project["slug"])
        .replace("{env}", project["environments"][0]["id"] if ref == "id" else "development")
        .replace("{user}", victim["user_id"])
        .replace("{id}", victim["invitation"]["id"])
        .replace("{key}", "DB_URL")
        .replace("{role}", victim["role"]["id"] if ref == "id" else victim["role"]["slug"])
        .replace("{delivery}", "dlv_01m8rt5w37jqc2tb0rg5cwrxf3")
        .replace("{grant}", GRANT_ID)
        .replace("{wrap}", "wrp_01m8rt5w37jqc2tb0rg5cwrxf3")
    )
    status, _, body = api(method, path, user=unique_email("stranger"), json=BODIES.get(route_key))
    assert status == 404, (route_key, body)
    assert body["error"]["code"] == "not_found"
    # and the victim's org is untouched
    assert api("GET", f"/v1/orgs/{org['id']}", user=victim["owner"])[2]["name"] == "Victim"


_org_with = org_with_members


def test_admins_cannot_touch_owners_or_mint_them(api: Api) -> None:
    slug, emails, ids = _org_with(api, {"admin": "admin", "dev": "developer"})
    admin = emails["admin"]
    assert api("PATCH", f"/v1/orgs/{slug}/members/{ids['owner']}", user=admin, json={"role": "viewer"})[0] == 403
    assert api("DELETE", f"/v1/orgs/{slug}/members/{ids['owner']}", user=admin)[0] == 403
    assert api("PATCH", f"/v1/orgs/{slug}/members/{ids['dev']}", user=admin, json={"role": "owner"})[0] == 403
    assert (
        api("POST", f"/v1/orgs/{slug}/invitations", user=admin, json={"email": unique_email("x"), "role": "owner"})[0]
        == 403
    )
    # but may manage non-owners
    assert api("PATCH", f"/v1/orgs/{slug}/members/{ids['dev']}", user=admin, json={"role": "viewer"})[0] == 200


def test_developers_and_viewers_cannot_manage(api: Api) -> None:
    slug, emails, _ = _org_with(api, {"dev": "developer", "viewer": "viewer"})
    for who in ("dev", "viewer"):
        user = emails[who]
        assert (
            api("POST", f"/v1/orgs/{slug}/invitations", user=user, json={"email": unique_email("x"), "role": "viewer"})[
                0
            ]
            == 403
        )
        assert api("PATCH", f"/v1/orgs/{slug}", user=user, json={"name": "Nope"})[0] == 403
        assert api("POST", f"/v1/orgs/{slug}/projects", user=user, json={"name": "Nope"})[0] == 403
        assert api("DELETE", f"/v1/orgs/{slug}", user=user)[0] == 403
        assert api("GET", f"/v1/orgs/{slug}/identities", user=user)[0] == 403
        assert api("POST", f"/v1/orgs/{slug}/approval-policies", user=user, json=POLICY)[0] == 403
    # members may read the org and its members
    assert api("GET", f"/v1/orgs/{slug}/members", user=emails["viewer"])[0] == 200


def test_only_owners_configure_single_sign_on(api: Api) -> None:
    slug, emails, _ = _org_with(api, {"admin": "admin", "dev": "developer"})
    config = _sso_config(f"{slug}.test")
    for who in ("admin", "dev"):
        user = emails[who]
        assert api("PUT", f"/v1/orgs/{slug}/sso/oidc", user=user, json=config)[0] == 403
        assert api("GET", f"/v1/orgs/{slug}/sso/oidc", user=user)[0] == 403
        assert api("DELETE", f"/v1/orgs/{slug}/sso/oidc", user=user)[0] == 403
    owner = emails["owner"]
    assert api("PUT", f"/v1/orgs/{slug}/sso/oidc", user=owner, json=config)[0] == 200
    assert api("GET", f"/v1/orgs/{slug}/sso/oidc", user=owner)[0] == 200
    # Another org's owner sees nothing of it, and cannot claim its domain.
    other = unique_email("other")
    other_slug = f"other-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other, json={"name": "Other", "slug": other_slug})[0] == 201
    assert api("GET", f"/v1/orgs/{other_slug}/sso/oidc", user=other)[0] == 404
    assert api("GET", f"/v1/orgs/{slug}/sso/oidc", user=other)[0] == 404
    status, _, body = api("PUT", f"/v1/orgs/{other_slug}/sso/oidc", user=other, json=config)
    assert status == 409
    assert body["error"]["code"] == "domain_taken"
    assert api("DELETE", f"/v1/orgs/{slug}/sso/oidc", user=owner)[0] == 204
    assert api("GET", f"/v1/orgs/{slug}/sso/oidc", user=owner)[0] == 404
    # Released with it: the other org may claim the domain now.
    assert api("PUT", f"/v1/orgs/{other_slug}/sso/oidc", user=other, json=config)[0] == 200


def test_only_owners_configure_saml_and_no_other_org_sees_it(api: Api) -> None:
    slug, emails, _ = _org_with(api, {"admin": "admin"})
    config = saml_config(f"{slug}.test")
    admin, owner = emails["admin"], emails["owner"]
    assert api("PUT", f"/v1/orgs/{slug}/sso/saml", user=admin, json=config)[0] == 403
    assert api("GET", f"/v1/orgs/{slug}/sso/saml", user=admin)[0] == 403
    assert api("DELETE", f"/v1/orgs/{slug}/sso/saml", user=admin)[0] == 403
    assert api("PUT", f"/v1/orgs/{slug}/sso/saml", user=owner, json=config)[0] == 200
    # OIDC may share the org's own domain; another org may not claim it by either method.
    oidc = {**_sso_config(f"{slug}.test")}
    assert api("PUT", f"/v1/orgs/{slug}/sso/oidc", user=owner, json=oidc)[0] == 200
    other = unique_email("other")
    other_slug = f"other-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other, json={"name": "Other", "slug": other_slug})[0] == 201
    assert api("GET", f"/v1/orgs/{slug}/sso/saml", user=other)[0] == 404
    assert api("DELETE", f"/v1/orgs/{slug}/sso/saml", user=other)[0] == 404
    assert api("GET", f"/v1/orgs/{other_slug}/sso/saml", user=other)[0] == 404
    status, _, body = api("PUT", f"/v1/orgs/{other_slug}/sso/saml", user=other, json=config)
    assert (status, body["error"]["code"]) == (409, "domain_taken")
    # Removing SAML keeps the claim OIDC still holds; removing both releases it.
    assert api("DELETE", f"/v1/orgs/{slug}/sso/saml", user=owner)[0] == 204
    assert api("GET", f"/v1/sso/by-domain?domain={slug}.test")[2]["methods"] == ["oidc"]
    assert api("PUT", f"/v1/orgs/{other_slug}/sso/saml", user=other, json=config)[0] == 409
    assert api("DELETE", f"/v1/orgs/{slug}/sso/oidc", user=owner)[0] == 204
    assert api("PUT", f"/v1/orgs/{other_slug}/sso/saml", user=other, json=config)[0] == 200


def test_the_last_owner_can_neither_leave_nor_be_demoted(api: Api) -> None:
    slug, emails, ids = _org_with(api, {"co": "owner"})
    owner = emails["owner"]
    # with two owners, one may step down
    assert api("PATCH", f"/v1/orgs/{slug}/members/{ids['co']}", user=owner, json={"role": "admin"})[0] == 200
    status, _, body = api("PATCH", f"/v1/orgs/{slug}/members/{ids['owner']}", user=owner, json={"role": "admin"})
    assert status == 409
    assert body["error"]["code"] == "last_owner"
    status, _, body = api("DELETE", f"/v1/orgs/{slug}/members/{ids['owner']}", user=owner)
    assert status == 409
    assert body["error"]["code"] == "last_owner"


def test_a_member_can_leave(api: Api) -> None:
    slug, emails, ids = _org_with(api, {"dev": "developer"})
    assert api("DELETE", f"/v1/orgs/{slug}/members/{ids['dev']}", user=emails["dev"])[0] == 204
    assert api("GET", f"/v1/orgs/{slug}", user=emails["dev"])[0] == 404


def test_an_invitation_is_bound_to_itsunique_email(api: Api) -> None:
    slug, emails, _ = _org_with(api, {})
    _, _, inv = api(
        "POST",
        f"/v1/orgs/{slug}/invitations",
        user=emails["owner"],
        json={"email": unique_email("meant"), "role": "viewer"},
    )
    status, _, body = api("POST", f"/v1/invitations/{inv['token']}/accept", user=unique_email("other"))
    assert status == 403
    assert body["error"]["code"] == "invitation_email_mismatch"


def test_only_owners_make_production_environments(api: Api) -> None:
    slug, emails, _ = _org_with(api, {"admin": "admin"})
    api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})
    path = f"/v1/orgs/{slug}/projects/web/environments"
    assert api("POST", path, user=emails["admin"], json={"name": "Prod 2", "production": True})[0] == 403
    assert api("POST", path, user=emails["admin"], json={"name": "Preview"})[0] == 201
    assert api("DELETE", f"{path}/production", user=emails["admin"])[0] == 403
    assert api("POST", path, user=emails["owner"], json={"name": "Prod 2", "production": True})[0] == 201


def _b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def _client_env(api: Api, slug: str, owner: str, *, production: bool = False) -> str:
    """A client-encrypted environment of `slug`'s first project, the owner holding its first grant
    (random bytes of the suite's lengths: the server cannot tell, tests/http_api/test_e2e.py does
    the cryptography)."""
    env_id = server_ids.new_id("env")
    body = {
        "name": f"Vault {env_id[-4:]}",
        "encryption": "client",
        "id": env_id,
        "production": production,
        "grant": {"suite": "x25519", "wrapped_key": _b64(80)},
    }
    assert api("POST", f"/v1/orgs/{slug}/projects/web/environments", user=owner, json=body)[0] == 201
    return f"/v1/orgs/{slug}/projects/web/environments/{env_id}"


def test_client_environment_grants_follow_roles_and_tenants(api: Api) -> None:
    slug, emails, user_ids = _org_with(api, {"admin": "admin", "dev": "developer", "viewer": "viewer"})
    assert api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})[0] == 201
    for email in emails.values():
        key = {"suite": "x25519", "public_key": _b64(32), "encrypted_private_key": _b64(48)}
        assert api("PUT", "/v1/me/keys", user=email, json={"keys": [key]})[0] == 200
    env = _client_env(api, slug, emails["owner"])

    def grant(who: str) -> dict[str, Any]:
        principal = {"type": "user", "id": user_ids[who]}
        return {"principal": principal, "suite": "x25519", "wrapped_key": _b64(80), "key_version": 1}

    # a developer or a viewer neither lists, gives, revokes nor rekeys grants
    status, _, given = api("POST", f"{env}/grants", user=emails["admin"], json=grant("dev"))
    assert status == 201, given
    rekey = {"key_version": 2, "grants": [{k: v for k, v in grant("dev").items() if k != "key_version"}], "values": {}}
    for who in ("dev", "viewer"):
        user = emails[who]
        assert api("GET", f"{env}/grants", user=user)[0] == 403
        assert api("POST", f"{env}/grants", user=user, json=grant("admin"))[0] == 403
        assert api("DELETE", f"{env}/grants/{given['id']}", user=user)[0] == 403
        assert api("POST", f"{env}/rekey", user=user, json=rekey)[0] == 403
    assert api("GET", f"{env}/key", user=emails["dev"])[0] == 200
    # nobody receives a grant who cannot read the environment (a viewer reads development only)
    status, _, refused = api("POST", f"{env}/grants", user=emails["owner"], json=grant("viewer"))
    assert (status, refused["error"]["code"]) == (422, "cannot_read")
    production = _client_env(api, slug, emails["owner"], production=True)
    assert api("POST", f"{production}/grants", user=emails["owner"], json=grant("dev"))[0] == 422
    assert api("GET", f"{production}/key", user=emails["dev"])[0] == 403

    # another org's grant is 404, by its ID from one's own client environment, and at its path
    stranger = unique_email("stranger")
    other = f"other-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=stranger, json={"name": "Other", "slug": other})[0] == 201
    assert api("POST", f"/v1/orgs/{other}/projects", user=stranger, json={"name": "Web"})[0] == 201
    key = {"suite": "x25519", "public_key": _b64(32), "encrypted_private_key": _b64(48)}
    assert api("PUT", "/v1/me/keys", user=stranger, json={"keys": [key]})[0] == 200
    own = _client_env(api, other, stranger)
    assert api("DELETE", f"{own}/grants/{given['id']}", user=stranger)[0] == 404
    assert api("DELETE", f"{env}/grants/{given['id']}", user=stranger)[0] == 404
    assert api("GET", f"{env}/key", user=stranger)[0] == 404
    assert api("GET", f"{env}/key", user=emails["dev"])[0] == 200  # untouched
