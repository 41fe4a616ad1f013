"""A credential's narrowing holds on every route (the route table of record, template.yaml):

- a read-only credential (read-only PAT, reading service token) mutates nothing anywhere: 403
  `read_only_token` before the route looks at anything;
- an org-narrowed PAT acts on nothing outside its orgs (404, as a stranger) and, on the account's
  own routes, only reads (GET /v1/me, its orgs, its permissions in them, the catalog): it creates
  no org, accepts no invitation, changes no profile, and lists, mints or revokes no PAT;
- a service token sees exactly its scope (its org, project and environment) and answers 2xx there
  or a clean 403/404 elsewhere, never a 5xx.

Each refusal is also checked to have changed nothing: every mutation writes one audit event, and
the audit heads of the org, the other org and the user have not moved.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from strongroom.http.app import PUBLIC_ROUTES
from strongroom_local import LocalStack
from strongroom_local.template import DEFAULT_ROUTE, load_template, routes
from support import Api, saml_config, unique_email

pytestmark = pytest.mark.http

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# an org's routes start so; the runtime API's; SCIM's (SCIM tokens only: tests/http_api/test_scim.py)
ORG_ROUTES, RUNTIME_ROUTES, SCIM_ROUTES = "/v1/orgs/{org}", "/runtime/", "/scim/v2/"
# an agent's own routes (agents only: tests/http_api/test_agents.py)
AGENT_ROUTES = "/v1/agents/"
ROUTES = sorted(r.key for r in routes(load_template()) if r.key not in PUBLIC_ROUTES and r.path != DEFAULT_ROUTE)
ORG_ROUTE_KEYS = [k for k in ROUTES if k.split(" ", 1)[1].startswith(ORG_ROUTES)]
ACCOUNT_ROUTE_KEYS = [
    k for k in ROUTES if not k.split(" ", 1)[1].startswith((ORG_ROUTES, RUNTIME_ROUTES, SCIM_ROUTES, AGENT_ROUTES))
]
AGENT_ID = "agt_01m8rt5w37jqc2tb0rg5cwrxf3"  # well-formed; the credential is refused before any lookup
KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f0e0d0c-0b0a-0908-0706-050403020100"

POLICY_BODY = {
    "name": "Guard",
    "project": "web",
    "environments": ["production"],
    "applies_to": ["access_requests"],
    "approvers": ["admin"],
    "approvals_required": 1,
}
IDENTITY_BODY = {
    "name": "lambda",
    "type": "aws_iam",
    "project": "web",
    "environment": "staging",
    "rules": {"account": "123456789012", "role_arn": "arn:aws:iam::123456789012:role/web-*"},
}
# A valid body for every route that takes one, so that a refusal is the credential's, not the input's.
BODIES: dict[str, Any] = {
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/folders": {"path": "/made/by/a/token"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}/folders/{id}": {"path": "/moved"},
    "POST /v1/orgs/{org}/billing/checkout": {"plan": "team"},
    "PATCH /v1/me": {"name": "Renamed"},
    "POST /v1/orgs": {"name": "Made by a token"},
    "POST /v1/orgs/{org}/roles": {"name": "Made by a token", "permissions": {"audit.read": "all"}},
    "PUT /v1/orgs/{org}/roles/{role}": {"name": "Changed by a token", "permissions": {"audit.read": "all"}},
    "POST /v1/auth/tokens": {"name": "more"},
    "POST /v1/auth/device/approve": {"user_code": "BCDF-GHJK"},
    "POST /v1/auth/change-password": {"current_password": "x", "new_password": "plover-quartz-umbrella-9"},
    "POST /v1/me/2fa/enable": {"code": "123456"},
    "DELETE /v1/me/2fa": {"code": "123456"},
    "PATCH /v1/orgs/{org}": {"name": "Renamed"},
    "PATCH /v1/orgs/{org}/members/{user}": {"role": "viewer"},
    "POST /v1/orgs/{org}/invitations": {"email": "someone@example.com", "role": "viewer"},
    "POST /v1/orgs/{org}/projects": {"name": "Made by a token"},
    "PATCH /v1/orgs/{org}/projects/{project}": {"description": "changed"},
    "POST /v1/orgs/{org}/projects/{project}/environments": {"name": "Made by a token"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}": {"name": "Renamed"},
    "PUT /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}": {"value": "changed"},
    "PUT /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rotation": {
        "interval_days": 30,
        "rotator": {"type": "random"},
    },
    "POST /v1/orgs/{org}/shared-secrets": {"key": "NEW_SHARED", "value": "changed"},
    "PUT /v1/orgs/{org}/shared-secrets/{key}": {"value": "changed"},
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}/secrets": {"set": {"ADDED": "x"}},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rollback": {"version": 1},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/import": {"format": "json", "content": '{"I": "1"}'},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/restore": {"at": "2026-01-01T00:00:00Z"},
    "POST /v1/orgs/{org}/projects/{project}/promote": {"from": "development", "to": "staging"},
    "POST /v1/orgs/{org}/projects/{project}/template": {"key": "REQUIRED"},
    "POST /v1/orgs/{org}/encryption/kms/test": {"kms_key_arn": KMS_ARN},
    "POST /v1/orgs/{org}/encryption/kms/enable": {"kms_key_arn": KMS_ARN},
    "POST /v1/orgs/{org}/tokens": {"name": "more", "project": "web", "environment": "staging"},
    "POST /v1/orgs/{org}/scim/tokens": {"name": "more"},
    "POST /v1/orgs/{org}/identities": IDENTITY_BODY,
    "PUT /v1/orgs/{org}/identities/{id}": IDENTITY_BODY,
    "POST /v1/orgs/{org}/webhooks": {"url": "http://127.0.0.1:9/hook", "events": ["*"]},
    "POST /v1/orgs/{org}/approval-policies": POLICY_BODY,
    "PUT /v1/orgs/{org}/approval-policies/{id}": POLICY_BODY,
    "POST /v1/orgs/{org}/access-requests/{id}/reject": {"reason": "no"},
    "POST /v1/orgs/{org}/change-requests/{id}/reject": {"reason": "no"},
    "POST /v1/orgs/{org}/access-requests/{id}/approve": {},
    "POST /v1/orgs/{org}/change-requests/{id}/approve": {},
    "POST /v1/orgs/{org}/change-requests/{id}/comments": {"body": "looks fine"},
    "POST /v1/orgs/{org}/access-requests": {
        "project": "web",
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 60,
        "reason": "incident",
    },
    "PATCH /v1/orgs/{org}/webhooks/{id}": {"description": "changed"},
    "POST /v1/orgs/{org}/agents": {"name": "made by a token"},
    "POST /v1/orgs/{org}/jobs": {"agent": AGENT_ID, "type": "discover"},
    "POST /v1/orgs/{org}/integrations": {
        "type": "github_actions",
        "project": "web",
        "environment": "staging",
        "config": {"repository": "acme/web", "token": "made-by-a-token"},
    },
    "PUT /v1/agents/{id}/public-key": {"public_key": "A" * 43 + "="},
    "POST /v1/agents/{id}/jobs/{job}/complete": {"status": "succeeded"},
    "POST /v1/agents/{id}/wraps": {"job": "job_01m8rt5w37jqc2tb0rg5cwrxf3", "sealed": "A" * 108},
    "POST /v1/agents/{id}/secrets/bulk": {
        "secrets": [{"ref": "a#b", "provider": "file", "cluster_name": "c", "fingerprint": "hmac:0123456789"}]
    },
    "POST /v1/orgs/{org}/webhooks/{id}/rotate-secret": {},
    # end-to-end grants: random bytes of the x25519 lengths (the server cannot tell)
    "PUT /v1/me/keys": {"keys": [{"suite": "x25519", "public_key": "A" * 43 + "=", "encrypted_private_key": "AAAA"}]},
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/grants": {
        "principal": {"type": "user", "id": "usr_01m8rt5w37jqc2tb0rg5cwrxf3"},
        "suite": "x25519",
        "wrapped_key": "A" * 107 + "=",
        "key_version": 1,
    },
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/rekey": {
        "key_version": 2,
        "grants": [
            {
                "principal": {"type": "user", "id": "usr_01m8rt5w37jqc2tb0rg5cwrxf3"},
                "suite": "x25519",
                "wrapped_key": "A" * 107 + "=",
            }
        ],
        "values": {},
    },
    "PUT /v1/orgs/{org}/sso/oidc": {
        "issuer": "https://idp.example.test",
        "client_id": "token",
        "client_secret": "by-a-token",
        "domains": ["narrowed.example.test"],
        "default_role": "viewer",
    },
    "PUT /v1/orgs/{org}/sso/saml": saml_config("narrowed-saml.example.test"),
}
QUERIES = {
    "GET /v1/me/permissions": "?org={org}",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/export": "?format=dotenv",
    "GET /v1/orgs/{org}/audit/export": "?format=json",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _org(api: Api, owner: str) -> dict[str, Any]:
    """An org of `owner` with a project `web` (a secret in staging), a project `api`, a member, a
    pending invitation, a service token and a webhook: something for every path parameter."""
    slug = f"narrow-{secrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Narrow", "slug": slug})
    assert status == 201, org
    base = f"/v1/orgs/{slug}"
    for name in ("Web", "Api"):
        assert api("POST", f"{base}/projects", user=owner, json={"name": name})[0] == 201
    staging = f"{base}/projects/web/environments/staging"
    assert api("PUT", f"{staging}/secrets/DB_URL", user=owner, json={"value": "postgres://db"})[0] == 200
    member = unique_email("member")
    _, _, inv = api("POST", f"{base}/invitations", user=owner, json={"email": member, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=member)[0] == 200
    _, _, pending = api("POST", f"{base}/invitations", user=owner, json={"email": unique_email("p"), "role": "viewer"})
    token_body = {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read", "write"]}
    status, _, writer = api("POST", f"{base}/tokens", user=owner, json=token_body)
    assert status == 201, writer
    status, _, reader = api("POST", f"{base}/tokens", user=owner, json={**token_body, "permissions": ["read"]})
    assert status == 201, reader
    status, _, hook = api("POST", f"{base}/webhooks", user=owner, json={"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert status == 201, hook
    status, _, identity = api("POST", f"{base}/identities", user=owner, json=IDENTITY_BODY)
    assert status == 201, identity
    return {
        "id": org["id"],
        "slug": slug,
        "member_id": api("GET", "/v1/me", user=member)[2]["id"],
        "invitation_id": pending["id"],
        "writer": writer,
        "reader": reader,
        "webhook_id": hook["id"],
        "identity_id": identity["id"],
    }


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, Any]:
    owner = unique_email("narrowed")
    mine, other = _org(api, owner), _org(api, owner)
    # An invitation of someone else's org to this user's own email.
    stranger = unique_email("stranger")
    elsewhere = f"elsewhere-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=stranger, json={"name": "Elsewhere", "slug": elsewhere})[0] == 201
    _, _, invitation = api(
        "POST", f"/v1/orgs/{elsewhere}/invitations", user=stranger, json={"email": owner, "role": "admin"}
    )
    pats = {}
    for name, body in {
        "full": {"name": "full"},
        "read_only": {"name": "read-only", "read_only": True},
        "org_narrowed": {"name": "narrowed", "orgs": [mine["slug"]]},
    }.items():
        status, _, created = api("POST", "/v1/auth/tokens", user=owner, json=body)
        assert status == 201, created
        pats[name] = created
    return {
        "owner": owner,
        "user_id": api("GET", "/v1/me", user=owner)[2]["id"],
        "mine": mine,
        "other": other,
        "elsewhere": elsewhere,
        "invitation_token": invitation["token"],
        "pats": pats,
    }


def _path(
    route_key: str, world: dict[str, Any], org: dict[str, Any], *, project: str = "web", env: str = "staging"
) -> str:
    template = route_key.split(" ", 1)[1]
    ids = {
        "/v1/auth/tokens/{id}": world["pats"]["full"]["id"],
        "/invitations/{id}": org["invitation_id"],
        "/tokens/{id}": org["writer"]["id"],
        "/webhooks/{id}": org["webhook_id"],
        "/identities/{id}": org["identity_id"],
        "/agents/{id}": AGENT_ID,
        "/jobs/{id}": "job_01m8rt5w37jqc2tb0rg5cwrxf3",
        "/integrations/{id}": "int_01m8rt5w37jqc2tb0rg5cwrxf3",
        # governance: well-formed IDs of nothing (the checks here come before any lookup)
        "/approval-policies/{id}": "pol_01m8rt5w37jqc2tb0rg5cwrxf3",
        "/access-requests/{id}": "req_01m8rt5w37jqc2tb0rg5cwrxf3",
        "/change-requests/{id}": "chr_01m8rt5w37jqc2tb0rg5cwrxf3",
        "/folders/{id}": "fld_01m8rt5w37jqc2tb0rg5cwrxf3",
    }
    the_id = next((v for k, v in ids.items() if k in template), "")
    path = (
        template.replace("{org}", org["slug"])
        .replace("{project}", project)
        .replace("{env}", env)
        .replace("{key}", "DB_URL")
        .replace("{role}", "auditor")
        .replace("{user}", org["member_id"])
        .replace("{id}", the_id)
        .replace("{delivery}", "dlv_01m8rt5w37jqc2tb0rg5cwrxf3")
        .replace("{grant}", "grt_01m8rt5w37jqc2tb0rg5cwrxf3")
        .replace("{job}", "job_01m8rt5w37jqc2tb0rg5cwrxf3")
        .replace("{wrap}", "wrp_01m8rt5w37jqc2tb0rg5cwrxf3")
        .replace("{plan}", "team")
        .replace("{token}", world["invitation_token"])
    )
    return path + QUERIES.get(route_key, "").replace("{org}", org["slug"])


def _heads(stack: LocalStack, *scopes: str) -> dict[str, int]:
    """How many audit events each scope holds (a Query of its partition's events)."""
    from support import query_partition

    return {scope: len(query_partition(stack, f"AUDIT#{scope}", "EVT#")) for scope in scopes}


def _scopes(world: dict[str, Any]) -> tuple[str, ...]:
    return (world["mine"]["id"], world["other"]["id"], world["user_id"])


# --------------------------------------------------------------------------- read-only


@pytest.mark.parametrize("credential", ["read-only PAT", "reading service token"])
@pytest.mark.parametrize("route_key", [k for k in ROUTES if k.split(" ", 1)[0] in MUTATING])
def test_a_read_only_credential_mutates_nothing_anywhere(
    api: Api, stack: LocalStack, world: dict[str, Any], route_key: str, credential: str
) -> None:
    token = world["pats"]["read_only"]["token"] if credential == "read-only PAT" else world["mine"]["reader"]["token"]
    before = _heads(stack, *_scopes(world))
    status, _, body = api(
        route_key.split(" ", 1)[0],
        _path(route_key, world, world["mine"]),
        headers=bearer(token),
        json=BODIES.get(route_key),
    )
    assert (status, body["error"]["code"]) == (403, "read_only_token"), (route_key, body)
    assert _heads(stack, *_scopes(world)) == before


def test_a_read_only_pat_neither_revokes_the_users_tokens_nor_leaves_an_org(api: Api, world: dict[str, Any]) -> None:
    token, full = world["pats"]["read_only"]["token"], world["pats"]["full"]
    assert api("DELETE", f"/v1/auth/tokens/{full['id']}", headers=bearer(token))[0] == 403
    assert api("GET", "/v1/me", headers=bearer(full["token"]))[0] == 200
    org = world["mine"]["slug"]
    assert api("DELETE", f"/v1/orgs/{org}/members/{world['user_id']}", headers=bearer(token))[0] == 403
    assert api("GET", f"/v1/orgs/{org}", user=world["owner"])[2]["role"] == "owner"
    # and it still reads
    assert (
        api("GET", f"/v1/orgs/{org}/projects/web/environments/staging/secrets/DB_URL", headers=bearer(token))[0] == 200
    )


# --------------------------------------------------------------------------- org-narrowed


@pytest.mark.parametrize("route_key", ORG_ROUTE_KEYS)
def test_an_org_narrowed_pat_acts_on_nothing_outside_its_orgs(
    api: Api, stack: LocalStack, world: dict[str, Any], route_key: str
) -> None:
    # The user owns the other org too: only the token's narrowing keeps it out.
    token = world["pats"]["org_narrowed"]["token"]
    before = _heads(stack, *_scopes(world))
    method = route_key.split(" ", 1)[0]
    status, _, body = api(
        method, _path(route_key, world, world["other"]), headers=bearer(token), json=BODIES.get(route_key)
    )
    assert (status, body["error"]["code"]) == (404, "not_found"), (route_key, body)
    assert _heads(stack, *_scopes(world)) == before


# What a narrowed (org-narrowed or read-only) PAT gets on each route outside an org, in one of its orgs.
NARROWED_ON_ACCOUNT_ROUTES = {
    "GET /v1/me": 200,
    "GET /v1/me/permissions": 200,
    "GET /v1/me/keys": 200,  # the user's own key pairs (their private keys sealed under a passphrase)
    "PUT /v1/me/keys": 403,
    "GET /v1/orgs": 200,
    "GET /v1/permissions": 200,
    "PATCH /v1/me": 403,
    "POST /v1/orgs": 403,
    "POST /v1/invitations/{token}/accept": 403,
    "GET /v1/auth/tokens": 403,
    "POST /v1/auth/tokens": 403,
    "DELETE /v1/auth/tokens/{id}": 403,
    "POST /v1/auth/device/approve": 403,
    "POST /v1/auth/logout": 403,  # a session's own
    "POST /v1/auth/change-password": 403,
    "POST /v1/auth/send-verification": 403,  # manages the account (a mail to its address)
    "POST /v1/me/2fa/setup": 403,  # the second factor: a user signed in directly
    "POST /v1/me/2fa/enable": 403,
    "DELETE /v1/me/2fa": 403,
    # platform admin (issue #18): users with unnarrowed credentials only, and only the admins
    "GET /v1/admin/stats": 403,
    "GET /v1/admin/orgs": 403,
    "GET /v1/admin/orgs/{org}": 403,
    "PATCH /v1/admin/orgs/{org}": 403,
    "GET /v1/admin/plans": 403,
    "PUT /v1/admin/plans/{plan}": 403,
    "GET /v1/admin/metrics/summary": 403,
}


def test_every_account_route_has_an_expectation() -> None:
    assert sorted(NARROWED_ON_ACCOUNT_ROUTES) == sorted(ACCOUNT_ROUTE_KEYS)


@pytest.mark.parametrize("credential", ["org_narrowed", "read_only"])
@pytest.mark.parametrize("route_key", ACCOUNT_ROUTE_KEYS)
def test_a_narrowed_pat_only_reads_the_account(
    api: Api, stack: LocalStack, world: dict[str, Any], route_key: str, credential: str
) -> None:
    token = world["pats"][credential]["token"]
    before = _heads(stack, *_scopes(world))
    method = route_key.split(" ", 1)[0]
    status, _, body = api(
        method, _path(route_key, world, world["mine"]), headers=bearer(token), json=BODIES.get(route_key)
    )
    assert status == NARROWED_ON_ACCOUNT_ROUTES[route_key], (route_key, body)
    if status == 403:
        assert body["error"]["code"] in {"narrowed_token", "read_only_token", "signed_in_user_required"}
    assert _heads(stack, *_scopes(world)) == before


def test_an_org_narrowed_pat_sees_only_its_orgs(api: Api, world: dict[str, Any]) -> None:
    token = world["pats"]["org_narrowed"]["token"]
    mine, other = world["mine"], world["other"]
    listed = api("GET", "/v1/orgs", headers=bearer(token))[2]["data"]
    assert [o["id"] for o in listed] == [mine["id"]]
    assert api("GET", f"/v1/me/permissions?org={mine['slug']}", headers=bearer(token))[2]["role"] == "owner"
    assert api("GET", f"/v1/me/permissions?org={other['slug']}", headers=bearer(token))[0] == 404
    # inside its org it acts as its user
    assert (
        api("PATCH", f"/v1/orgs/{mine['slug']}/projects/api", headers=bearer(token), json={"description": "d"})[0]
        == 200
    )
    # the invitation it could not accept is still there for the user's full credential
    accepted = api(
        "POST", f"/v1/invitations/{world['invitation_token']}/accept", headers=bearer(world["pats"]["full"]["token"])
    )
    assert accepted[0] == 200, accepted


# --------------------------------------------------------------------------- service tokens

# Routes a write token of web/staging uses successfully in its own scope (the rest: 403/404).
IN_SCOPE = {
    "GET /v1/permissions",
    "GET /v1/orgs/{org}/approval-policies",  # who approves what, of the projects it sees (its own)
    "GET /v1/orgs/{org}",
    "GET /v1/orgs/{org}/projects",
    "GET /v1/orgs/{org}/projects/{project}",
    "GET /v1/orgs/{org}/projects/{project}/environments",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}",
    "GET /v1/orgs/{org}/projects/{project}/template",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/export",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/secrets",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/versions",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/validate",
    "PUT /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}",
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}/secrets",
    "DELETE /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}",
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rollback",
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/import",
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/restore",
    "GET /v1/orgs/{org}/projects/{project}/environments/{env}/folders",
    "POST /v1/orgs/{org}/projects/{project}/environments/{env}/folders",
    "GET /runtime/v1",
    "GET /runtime/v1/secrets",
    "GET /runtime/v1/secrets/{key}",
}


# A token's own grant of a client-encrypted environment: its staging is server-managed.
CLIENT_ENCRYPTED_ONLY = {"GET /runtime/v1/key", "GET /v1/orgs/{org}/projects/{project}/environments/{env}/key"}


@pytest.mark.parametrize("route_key", ROUTES)
def test_a_service_token_answers_within_its_scope_and_cleanly_elsewhere(
    api: Api, world: dict[str, Any], route_key: str
) -> None:
    token = world["mine"]["writer"]["token"]
    secret = f"/v1/orgs/{world['mine']['slug']}/projects/web/environments/staging/secrets/DB_URL"
    assert api("PUT", secret, user=world["owner"], json={"value": "postgres://db"})[0] == 200  # a DELETE ran before?
    method = route_key.split(" ", 1)[0]
    path = _path(route_key, world, world["mine"])
    status, _, body = api(method, path, headers=bearer(token), json=BODIES.get(route_key))
    assert status < 500, (route_key, body)
    if route_key in IN_SCOPE:
        assert 200 <= status < 300, (route_key, body)
    elif route_key == "POST /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/restore":
        assert (status, body["error"]["code"]) == (409, "not_deleted")  # allowed, but DB_URL is not in the trash
    elif route_key in CLIENT_ENCRYPTED_ONLY:  # allowed, but staging is server-managed: it has no grants
        assert (status, body["error"]["code"]) == (422, "not_client_encrypted")
    else:
        assert status in {403, 404}, (route_key, body)
    # Another org, another project, another environment: as missing.
    if not route_key.split(" ", 1)[1].startswith(ORG_ROUTES):
        return
    elsewhere = [_path(route_key, world, world["other"])]
    if "{project}" in route_key:
        elsewhere.append(_path(route_key, world, world["mine"], project="api"))
    if "{env}" in route_key:
        elsewhere.append(_path(route_key, world, world["mine"], env="production"))
    for other_path in elsewhere:
        status, _, body = api(method, other_path, headers=bearer(token), json=BODIES.get(route_key))
        assert (status, body["error"]["code"]) == (404, "not_found"), (route_key, other_path, body)


def test_a_service_token_lists_exactly_its_scope(api: Api, world: dict[str, Any]) -> None:
    token, mine = world["mine"]["writer"]["token"], world["mine"]
    base = f"/v1/orgs/{mine['slug']}"
    listed = api("GET", f"{base}/projects", headers=bearer(token))[2]["data"]
    assert [p["slug"] for p in listed] == ["web"]
    assert [e["slug"] for e in listed[0]["environments"]] == ["staging"]
    assert [e["slug"] for e in api("GET", f"{base}/projects/web", headers=bearer(token))[2]["environments"]] == [
        "staging"
    ]
    assert [e["slug"] for e in api("GET", f"{base}/projects/web/environments", headers=bearer(token))[2]["data"]] == [
        "staging"
    ]
    assert api("GET", f"{base}/projects/api", headers=bearer(token))[0] == 404
    assert api("GET", f"{base}/projects/web/environments/production", headers=bearer(token))[0] == 404
    status, _, org = api("GET", base, headers=bearer(token))
    assert (status, org["id"], org["role"]) == (200, mine["id"], "service_token")
    status, _, body = api("GET", f"/v1/me/permissions?org={mine['slug']}", headers=bearer(token))
    assert (status, body["error"]["code"]) == (403, "user_required")
