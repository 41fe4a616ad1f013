"""`access.admit`, the credential gate every authenticated request passes, against the route table
of record (route_table.json, generated from template.yaml). No store: it decides from the
credential and the route alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strongroom.context import Principal
from strongroom.errors import Forbidden
from strongroom.http.app import PUBLIC_ROUTES
from strongroom.security import access

TABLE = Path(access.__file__).resolve().parents[1] / "route_table.json"
ROUTES = [r for r in json.loads(TABLE.read_text(encoding="utf-8"))["routes"] if r not in PUBLIC_ROUTES]
ACCOUNT = [
    r for r in ROUTES if not r.split(" ", 1)[1].startswith(("/v1/orgs/{org}", "/runtime/", "/scim/v2/", "/v1/agents/"))
]
AGENT_ROUTES = [r for r in ROUTES if r.split(" ", 1)[1].startswith("/v1/agents/")]

SIGNED_IN = Principal(type="user", id="usr_1", email="a@example.com", via="oidc")
FULL_PAT = Principal(type="user", id="usr_1", email="a@example.com", via="pat")
READ_ONLY_PAT = Principal(type="user", id="usr_1", email="a@example.com", via="pat", read_only=True)
ORG_PAT = Principal(type="user", id="usr_1", email="a@example.com", via="pat", org_ids=frozenset({"org_1"}))
SERVICE_TOKEN = Principal(
    type="service_token",
    id="tok_1",
    via="service_token",
    org_ids=frozenset({"org_1"}),
    project_id="prj_1",
    environment_id="env_1",
    permissions=frozenset({"secrets.read", "secrets.write"}),
)

SCIM_TOKEN = Principal(type="scim_token", id="sct_1", via="scim_token", org_ids=frozenset({"org_1"}))
AGENT = Principal(type="agent", id="agt_1", via="agent", org_ids=frozenset({"org_1"}))


def _admitted(who: Principal, route: str) -> bool:
    try:
        access.admit(who, route.split(" ", 1)[0], route)
    except Forbidden:
        return False
    return True


def test_every_account_route_is_classified_and_none_is_stale() -> None:
    assert sorted(access.ACCOUNT_ROUTES) == sorted(ACCOUNT)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.split(" ", 1)[0] in {"POST", "PUT", "PATCH", "DELETE"}])
def test_a_read_only_credential_is_refused_every_mutation(route: str) -> None:
    with pytest.raises(Forbidden) as refused:
        access.admit(READ_ONLY_PAT, route.split(" ", 1)[0], route)
    assert refused.value.code == "read_only_token"


# Written out from the rule (docs/decisions.md (2026-12-02)), not from the table under test:
# route -> (signed in, unnarrowed PAT, org-narrowed PAT, read-only PAT, service token)
EXPECTED = {
    "GET /v1/me": (True, True, True, True, False),
    "GET /v1/me/permissions": (True, True, True, True, False),
    "GET /v1/me/keys": (True, True, True, True, False),
    "PUT /v1/me/keys": (True, True, False, False, False),
    "GET /v1/orgs": (True, True, True, True, False),
    "GET /v1/permissions": (True, True, True, True, True),
    "PATCH /v1/me": (True, True, False, False, False),
    "POST /v1/orgs": (True, True, False, False, False),
    "POST /v1/invitations/{token}/accept": (True, True, False, False, False),
    "GET /v1/auth/tokens": (True, True, False, False, False),
    "DELETE /v1/auth/tokens/{id}": (True, True, False, False, False),
    "POST /v1/auth/tokens": (True, False, False, False, False),
    "POST /v1/auth/device/approve": (True, False, False, False, False),
    "POST /v1/auth/logout": (True, False, False, False, False),
    "POST /v1/auth/change-password": (True, False, False, False, False),
    "POST /v1/auth/send-verification": (True, True, False, False, False),
    "POST /v1/me/2fa/setup": (True, False, False, False, False),
    "POST /v1/me/2fa/enable": (True, False, False, False, False),
    "DELETE /v1/me/2fa": (True, False, False, False, False),
    # platform admin: a@example.com is none (the admins' case below)
    "GET /v1/admin/stats": (False, False, False, False, False),
    "GET /v1/admin/orgs": (False, False, False, False, False),
    "GET /v1/admin/orgs/{org}": (False, False, False, False, False),
    "PATCH /v1/admin/orgs/{org}": (False, False, False, False, False),
    "GET /v1/admin/plans": (False, False, False, False, False),
    "PUT /v1/admin/plans/{plan}": (False, False, False, False, False),
    "GET /v1/admin/metrics/summary": (False, False, False, False, False),
}
ADMIN_ROUTES = [r for r in EXPECTED if r.split(" ", 1)[1].startswith("/v1/admin/")]


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_a_platform_admin_calls_admin_routes_with_an_unnarrowed_credential_and_a_proven_email(
    route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a@example.com named by PLATFORM_ADMINS
    monkeypatch.setenv("PLATFORM_ADMINS", "root@example.com, A@example.com")
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-cursor-signing-key")
    proven = Principal(type="user", id="usr_1", email="a@example.com", via="oidc", email_verified=True)
    proven_pat = Principal(type="user", id="usr_1", email="a@example.com", via="pat", email_verified=True)
    narrowed = Principal(
        type="user", id="usr_1", email="a@example.com", via="pat", email_verified=True, org_ids=frozenset({"org_1"})
    )
    # Then signed in, or by an unnarrowed PAT, with the email proven: admitted; else refused
    assert [_admitted(who, route) for who in (proven, proven_pat, narrowed, SIGNED_IN)] == [True, True, False, False]


@pytest.mark.parametrize("route", ACCOUNT)
def test_who_may_call_each_account_route(route: str) -> None:
    got = tuple(_admitted(who, route) for who in (SIGNED_IN, FULL_PAT, ORG_PAT, READ_ONLY_PAT, SERVICE_TOKEN))
    assert got == EXPECTED[route]


def test_org_and_runtime_routes_are_left_to_org_access_and_the_runtime() -> None:
    # Reads pass the gate for every credential; which org they reach is org_access's (404 outside).
    for route in ("GET /v1/orgs/{org}", "GET /v1/orgs/{org}/projects", "GET /runtime/v1/secrets"):
        assert all(_admitted(who, route) for who in (ORG_PAT, READ_ONLY_PAT, SERVICE_TOKEN))
    assert _admitted(ORG_PAT, "DELETE /v1/orgs/{org}")  # in its own orgs it acts as its user


def test_a_route_missing_from_the_table_is_for_unnarrowed_credentials_only() -> None:
    assert _admitted(SIGNED_IN, "GET /v1/new-thing")
    assert not _admitted(ORG_PAT, "GET /v1/new-thing")
    assert not _admitted(SERVICE_TOKEN, "GET /v1/new-thing")


def test_a_scim_token_is_admitted_on_scim_only_and_nothing_else_is() -> None:
    scim = "ANY /scim/v2/{proxy+}"
    assert scim in ROUTES
    assert _admitted(SCIM_TOKEN, scim)
    for who in (SIGNED_IN, FULL_PAT, ORG_PAT, READ_ONLY_PAT, SERVICE_TOKEN):
        assert not _admitted(who, scim)
    assert not any(_admitted(SCIM_TOKEN, route) for route in ROUTES if route != scim)


def test_an_agent_is_admitted_on_its_routes_only_and_nothing_else_is() -> None:
    assert len(AGENT_ROUTES) == 7
    for route in AGENT_ROUTES:
        assert _admitted(AGENT, route), route
        for who in (SIGNED_IN, FULL_PAT, ORG_PAT, READ_ONLY_PAT, SERVICE_TOKEN, SCIM_TOKEN):
            assert not _admitted(who, route), (who.via, route)
    assert not any(_admitted(AGENT, route) for route in ROUTES if route not in AGENT_ROUTES)
