"""Inheritance (a child environment sees its parents' keys unless it sets them) and `${…}`
references (expanded on read, server-side), over HTTP."""

from __future__ import annotations

import json
import secrets as pysecrets
from typing import Any

import pytest

from support import Api, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"res-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Resolve", "slug": slug})[0] == 201
    for name in ("Web", "Billing"):
        assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": name})[0] == 201
    return {"owner": owner, "slug": slug, "web": f"/v1/orgs/{slug}/projects/web"}


def env_path(org: dict[str, Any], env: str, project: str = "web") -> str:
    return f"/v1/orgs/{org['slug']}/projects/{project}/environments/{env}"


def put_all(api: Api, org: dict[str, Any], env: str, values: dict[str, str], project: str = "web") -> None:
    status, _, body = api("PATCH", f"{env_path(org, env, project)}/secrets", user=org["owner"], json={"set": values})
    assert status == 200, body


def listing(api: Api, user: str, path: str, query: str = "") -> dict[str, tuple[str, str, bool]]:
    status, _, body = api("GET", f"{path}/secrets?limit=500{query}", user=user)
    assert status == 200, body
    return {i["key"]: (i["value"], i["source"], i["inherited"]) for i in body["data"]}


def new_env(api: Api, org: dict[str, Any], slug: str, parent: str) -> None:
    body = {"name": slug.title(), "slug": slug, "parent": parent}
    status, _, created = api("POST", f"{org['web']}/environments", user=org["owner"], json=body)
    assert status == 201, created


# --------------------------------------------------------------------------- inheritance


def test_a_child_sees_its_ancestors_keys_unless_it_sets_them(api: Api, org: dict[str, Any]) -> None:
    owner = org["owner"]
    new_env(api, org, "qa", parent="staging")
    new_env(api, org, "qa-eu", parent="qa")
    put_all(api, org, "staging", {"A": "staging-a", "B": "staging-b", "C": "staging-c"})
    put_all(api, org, "qa", {"B": "qa-b"})
    put_all(api, org, "qa-eu", {"C": "eu-c", "D": "eu-d"})

    assert listing(api, owner, env_path(org, "qa-eu")) == {
        "A": ("staging-a", "staging", True),
        "B": ("qa-b", "qa", True),
        "C": ("eu-c", "qa-eu", False),
        "D": ("eu-d", "qa-eu", False),
    }
    status, _, one = api("GET", f"{env_path(org, 'qa-eu')}/secrets/A", user=owner)
    assert (status, one["value"], one["source"], one["inherited"]) == (200, "staging-a", "staging", True)
    _, _, exported = api("GET", f"{env_path(org, 'qa-eu')}/export?format=json", user=owner)
    assert exported == {"A": "staging-a", "B": "qa-b", "C": "eu-c", "D": "eu-d"}
    # an inherited key is not the child's to delete; the parent's deletion shows through
    assert api("DELETE", f"{env_path(org, 'qa-eu')}/secrets/A", user=owner)[0] == 404
    assert api("DELETE", f"{env_path(org, 'staging')}/secrets/A", user=owner)[0] == 204
    assert "A" not in listing(api, owner, env_path(org, "qa-eu"))
    # the parent's own view is unchanged by its children
    assert listing(api, owner, env_path(org, "staging")) == {
        "B": ("staging-b", "staging", False),
        "C": ("staging-c", "staging", False),
    }


def test_reading_a_child_needs_read_on_its_ancestors(api: Api, org: dict[str, Any]) -> None:
    owner, viewer = org["owner"], unique_email("viewer")
    _, _, inv = api("POST", f"/v1/orgs/{org['slug']}/invitations", user=owner, json={"email": viewer, "role": "viewer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=viewer)[0] == 200
    put_all(api, org, "staging", {"STAGING_ONLY": "not for viewers"})
    put_all(api, org, "development", {"DEV": "fine"})
    assert listing(api, viewer, env_path(org, "development")) == {"DEV": ("fine", "development", False)}
    status, _, body = api("PATCH", env_path(org, "development"), user=owner, json={"parent": "staging"})
    assert status == 200, body
    status, _, refused = api("GET", f"{env_path(org, 'development')}/secrets", user=viewer)
    assert (status, refused["error"]["code"], refused["error"]["details"]) == (
        403,
        "inherits_unreadable",
        {"environment": "staging"},
    )
    assert "not for viewers" not in json.dumps(refused)


# --------------------------------------------------------------------------- references


def test_references_expand_on_read_and_resolve_false_returns_them_raw(api: Api, org: dict[str, Any]) -> None:
    owner = org["owner"]
    put_all(api, org, "production", {"DB_HOST": "prod-db"}, project="billing")
    put_all(api, org, "production", {"DB_HOST": "web-prod-db"})
    put_all(
        api,
        org,
        "staging",
        {
            "HOST": "db.internal",
            "PORT": "5432",
            "URL": "postgres://${HOST}:${PORT}/app",
            "PROD": "${production.DB_HOST}",
            "BILLING": "${billing.production.DB_HOST}",
            "LITERAL": "$${HOST} stays",
            "UNKNOWN": "${NOT_A_KEY} stays",
            "NESTED": "[${URL}]",
        },
    )
    staging = env_path(org, "staging")
    values = {k: v for k, (v, _, _) in listing(api, owner, staging).items()}
    assert values == {
        "HOST": "db.internal",
        "PORT": "5432",
        "URL": "postgres://db.internal:5432/app",
        "PROD": "web-prod-db",
        "BILLING": "prod-db",
        "LITERAL": "${HOST} stays",
        "UNKNOWN": "${NOT_A_KEY} stays",
        "NESTED": "[postgres://db.internal:5432/app]",
    }
    raw = {k: v for k, (v, _, _) in listing(api, owner, staging, "&resolve=false").items()}
    assert raw["URL"] == "postgres://${HOST}:${PORT}/app"
    assert raw["LITERAL"] == "$${HOST} stays"
    assert api("GET", f"{staging}/secrets/NESTED", user=owner)[2]["value"] == "[postgres://db.internal:5432/app]"
    assert api("GET", f"{staging}/secrets/NESTED?resolve=false", user=owner)[2]["value"] == "[${URL}]"
    _, _, exported = api("GET", f"{staging}/export?format=json", user=owner)
    assert exported["BILLING"] == "prod-db"
    # a child resolves `${KEY}` in an inherited value against its own view
    new_env(api, org, "qa", parent="staging")
    put_all(api, org, "qa", {"HOST": "qa-db"})
    assert api("GET", f"{env_path(org, 'qa')}/secrets/URL", user=owner)[2]["value"] == "postgres://qa-db:5432/app"


def test_a_cycle_is_422_naming_the_chain(api: Api, org: dict[str, Any]) -> None:
    put_all(api, org, "staging", {"A": "${B}", "B": "x${production.C}"})
    put_all(api, org, "production", {"C": "${staging.A}"})
    status, _, body = api("GET", f"{env_path(org, 'staging')}/secrets/A", user=org["owner"])
    assert (status, body["error"]["code"]) == (422, "reference_cycle")
    assert body["error"]["details"]["chain"] == ["A", "B", "production.C", "A"]
    # raw reads still work
    assert api("GET", f"{env_path(org, 'staging')}/secrets/A?resolve=false", user=org["owner"])[0] == 200


def test_references_deeper_than_ten_are_422(api: Api, org: dict[str, Any]) -> None:
    chain = {f"K{i}": f"${{K{i + 1}}}" for i in range(11)} | {"K11": "end"}
    put_all(api, org, "staging", chain)
    status, _, body = api("GET", f"{env_path(org, 'staging')}/secrets/K0", user=org["owner"])
    assert (status, body["error"]["code"]) == (422, "reference_too_deep")
    assert body["error"]["details"]["chain"][:3] == ["K0", "K1", "K2"]
    # ten levels are fine
    assert api("GET", f"{env_path(org, 'staging')}/secrets/K1", user=org["owner"])[2]["value"] == "end"


def test_a_reference_the_caller_cannot_read_is_403_naming_it_never_its_value(api: Api, org: dict[str, Any]) -> None:
    owner, dev = org["owner"], unique_email("dev")
    _, _, inv = api("POST", f"/v1/orgs/{org['slug']}/invitations", user=owner, json={"email": dev, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    put_all(api, org, "production", {"DB_PASSWORD": "prod-canary-6f1d"})
    put_all(api, org, "staging", {"STEAL": "${production.DB_PASSWORD}", "FINE": "ok"})
    for path in ("/secrets", "/secrets/STEAL", "/export?format=dotenv"):
        status, _, body = api("GET", env_path(org, "staging") + path, user=dev)
        assert (status, body["error"]["code"]) == (403, "reference_forbidden"), path
        assert body["error"]["details"] == {"reference": "production.DB_PASSWORD"}
        assert "prod-canary-6f1d" not in json.dumps(body)
    # the raw value is theirs to read; the owner gets it resolved
    assert api("GET", f"{env_path(org, 'staging')}/secrets/STEAL?resolve=false", user=dev)[2]["value"] == (
        "${production.DB_PASSWORD}"
    )
    assert api("GET", f"{env_path(org, 'staging')}/secrets/STEAL", user=owner)[2]["value"] == "prod-canary-6f1d"
