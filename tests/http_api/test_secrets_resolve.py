"""Inheritance (a child environment sees its parents' keys unless it sets them) and `${…}`
references (expanded on read, server-side), over HTTP."""

from __future__ import annotations

import json
import secrets as pysecrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from strongroom import aws
from strongroom.domain import resolve
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


# --------------------------------------------------------------------------- bounds and reads (#9 item 3)


class Reads:
    """The DynamoDB calls this process's request handlers make (the pipeline's workers left out)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not threading.current_thread().name.startswith("strongroom-worker-"):
            self.calls.append((model.name, params))

    def reads(self) -> list[tuple[str, dict[str, Any]]]:
        return [(op, p) for op, p in self.calls if op in {"GetItem", "BatchGetItem", "Query", "Scan"}]

    def naming(self, sort_key: str) -> list[str]:
        """The read calls that ask for an item whose SK starts with `sort_key`."""
        return [op for op, p in self.reads() if sort_key in json.dumps(p)]


@contextmanager
def counting() -> Iterator[Reads]:
    rec = Reads()
    aws.dynamodb().meta.events.register("provide-client-params.dynamodb.*", rec)
    try:
        yield rec
    finally:
        aws.dynamodb().meta.events.unregister("provide-client-params.dynamodb.*", rec)


def test_a_value_expanding_past_64_kib_is_422_naming_the_chain(api: Api, org: dict[str, Any]) -> None:
    """1 KB of stored references multiplied to megabytes on main (each level multiplies)."""
    put_all(api, org, "staging", {"K3": "x" * 1000, "K2": "${K3}" * 60, "K1": "${K2}" * 60, "K0": "[${K1}]"})
    staging = env_path(org, "staging")
    status, _, body = api("GET", f"{staging}/secrets/K0", user=org["owner"])
    assert (status, body["error"]["code"]) == (422, "reference_too_large"), str(body)[:300]
    assert body["error"]["details"] == {"chain": ["K0", "K1"], "limit": "value", "max_bytes": 65536}
    # 60,000 bytes is a value like any other, and the raw value is still readable
    assert api("GET", f"{staging}/secrets/K2", user=org["owner"])[2]["value"] == "x" * 60_000
    assert api("GET", f"{staging}/secrets/K1?resolve=false", user=org["owner"])[2]["value"] == "${K2}" * 60


def test_the_values_of_one_request_expand_to_at_most_2_mb(api: Api, org: dict[str, Any]) -> None:
    values = {"K3": "x" * 1000, "K2": "${K3}" * 60} | {f"R{i:02}": "${K2}" for i in range(40)}
    put_all(api, org, "staging", values)
    staging = env_path(org, "staging")
    for path in ("/secrets?limit=500", "/export?format=json"):
        status, _, body = api("GET", staging + path, user=org["owner"])
        assert (status, body["error"]["code"]) == (422, "reference_too_large"), path
        assert body["error"]["details"]["limit"] == "request"
        assert body["error"]["details"]["max_bytes"] == 2_000_000
    # one at a time, each is fine
    assert len(api("GET", f"{staging}/secrets/R07", user=org["owner"])[2]["value"]) == 60_000


def test_unknown_references_cost_a_bounded_number_of_reads(api: Api, org: dict[str, Any]) -> None:
    """300 names of projects that do not exist: one listing of the org's projects, not 300 reads."""
    unknown = "".join(f"${{nope{i}.staging.K}}" for i in range(300))
    put_all(api, org, "staging", {"PLAIN": "p", "UNKNOWN": unknown, "REPEATED": "${production.K}" * 500})
    put_all(api, org, "production", {"K": "k"})
    staging = env_path(org, "staging")
    api("GET", f"{staging}/secrets/PLAIN", user=org["owner"])  # warm
    with counting() as plain:
        assert api("GET", f"{staging}/secrets/PLAIN", user=org["owner"])[0] == 200
    with counting() as many:
        status, _, body = api("GET", f"{staging}/secrets/UNKNOWN", user=org["owner"])
    assert (status, body["value"]) == (200, unknown)  # names that name nothing stay as written
    assert len(many.reads()) - len(plain.reads()) <= 2, [op for op, _ in many.reads()]
    with counting() as repeated:
        status, _, body = api("GET", f"{staging}/secrets/REPEATED", user=org["owner"])
    assert (status, body["value"]) == (200, "k" * 500)
    assert len(repeated.reads()) - len(plain.reads()) <= 2, [op for op, _ in repeated.reads()]


def test_the_environments_a_level_of_references_reaches_are_read_together(api: Api, org: dict[str, Any]) -> None:
    owner, admin = org["owner"], member(api, org, "admin")
    for n in range(5):
        new_env(api, org, f"e{n}", parent="development")
        put_all(api, org, f"e{n}", {"K": f"v{n}"})
    value = "".join(f"${{e{n}.K}}" for n in range(5)) + "${billing.production.DB}"
    put_all(api, org, "production", {"DB": "db"}, project="billing")
    assert api("PUT", f"{env_path(org, 'staging')}/secrets/ALL", user=admin, json={"value": value})[0] == 200
    with counting() as rec:
        status, _, body = api("GET", f"{env_path(org, 'staging')}/secrets/ALL", user=owner)
    assert (status, body["value"]) == (200, "v0v1v2v3v4db")
    # staging's own snapshot, then the six referenced environments (and development) in one request
    assert rec.naming('"SNAPSHOT"') == ["GetItem", "BatchGetItem"]
    # the writer's current role, once
    # the reader's membership (in the request's read-ahead, data/readahead.py), then the writer's
    assert rec.naming("MEMBER#") == ["BatchGetItem", "BatchGetItem"]


def test_references_reach_a_bounded_number_of_environments_and_projects(
    api: Api, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_all(api, org, "production", {"K": "web"})
    put_all(api, org, "production", {"K": "billing"}, project="billing")
    put_all(api, org, "staging", {"TWO": "${production.K}${billing.production.K}"})
    assert api("GET", f"{env_path(org, 'staging')}/secrets/TWO", user=org["owner"])[2]["value"] == "webbilling"
    monkeypatch.setattr(resolve, "MAX_ENVIRONMENTS", 2)
    status, _, body = api("GET", f"{env_path(org, 'staging')}/secrets/TWO", user=org["owner"])
    assert (status, body["error"]["code"]) == (422, "too_many_references")
    assert body["error"]["details"] == {"max_environments": 2, "reference": "billing.production.K"}
    monkeypatch.setattr(resolve, "MAX_ENVIRONMENTS", 30)
    monkeypatch.setattr(resolve, "MAX_PROJECTS", 0)
    status, _, body = api("GET", f"{env_path(org, 'staging')}/secrets/TWO", user=org["owner"])
    assert (status, body["error"]["details"]) == (422, {"max_projects": 0, "reference": "billing.production.K"})


# --------------------------------------------------------------------------- the writer's rights (#9 item 5)


def member(api: Api, org: dict[str, Any], role: str) -> str:
    email = unique_email(role)
    body = {"email": email, "role": role}
    _, _, inv = api("POST", f"/v1/orgs/{org['slug']}/invitations", user=org["owner"], json=body)
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
    return email


def user_id(api: Api, org: dict[str, Any], email: str) -> str:
    _, _, members = api("GET", f"/v1/orgs/{org['slug']}/members?limit=500", user=org["owner"])
    return next(m["user_id"] for m in members["data"] if m["email"] == email)


def test_a_member_cannot_write_a_reference_to_what_they_cannot_read(api: Api, org: dict[str, Any]) -> None:
    """The confused deputy: a developer's `${production.DB_PASSWORD}` in staging, expanded by an
    admin's read, exported the production password to staging."""
    dev = member(api, org, "developer")
    put_all(api, org, "production", {"DB_PASSWORD": "prod-canary-77a1"})
    put_all(api, org, "staging", {"SAFE": "s"}, project="billing")
    staging = env_path(org, "staging")
    refused = [
        ("PUT", f"{staging}/secrets/LOG_LEVEL", {"value": "${production.DB_PASSWORD}"}),
        ("PATCH", f"{staging}/secrets", {"set": {"OK": "1", "LOG_LEVEL": "x${production.DB_PASSWORD}"}}),
        ("POST", f"{staging}/import", {"format": "dotenv", "content": "LOG_LEVEL=${production.DB_PASSWORD}\n"}),
        ("PUT", f"{staging}/secrets/LOG_LEVEL", {"value": "${billing.production.ANY}"}),  # other projects too
        ("PUT", f"{staging}/secrets/LOG_LEVEL", {"value": "${production.NOT_YET}"}),  # a key it may hold later
    ]
    for method, path, body in refused:
        status, _, error = api(method, path, user=dev, json=body)
        assert (status, error["error"]["code"]) == (403, "reference_forbidden"), (method, path, error)
        assert error["error"]["details"]["key"] == "LOG_LEVEL"
    assert "LOG_LEVEL" not in listing(api, org["owner"], staging)
    # what they can read they may refer to
    body = {"value": "${KEY} ${development.X} ${billing.staging.SAFE} $${production.DB_PASSWORD}"}
    assert api("PUT", f"{staging}/secrets/FINE", user=dev, json=body)[0] == 200


def test_a_reference_expands_only_while_its_writer_can_read_it(api: Api, org: dict[str, Any]) -> None:
    owner, admin, leaver = org["owner"], member(api, org, "admin"), member(api, org, "admin")
    put_all(api, org, "production", {"DB_PASSWORD": "prod-canary-3c9e"})
    staging = env_path(org, "staging")
    body = {"value": "${production.DB_PASSWORD}"}
    assert api("PUT", f"{staging}/secrets/BY_ADMIN", user=admin, json=body)[0] == 200
    assert api("PUT", f"{staging}/secrets/BY_LEAVER", user=leaver, json=body)[0] == 200
    assert api("GET", f"{staging}/secrets/BY_ADMIN", user=owner)[2]["value"] == "prod-canary-3c9e"

    # the writer is demoted: their reference no longer expands, whoever reads it
    admin_id = user_id(api, org, admin)
    path = f"/v1/orgs/{org['slug']}/members/{admin_id}"
    assert api("PATCH", path, user=owner, json={"role": "developer"})[0] == 200
    for read in ("/secrets/BY_ADMIN", "/secrets", "/export?format=dotenv"):
        status, _, error = api("GET", staging + read, user=owner)
        assert (status, error["error"]["code"]) == (403, "reference_writer_forbidden"), read
        assert error["error"]["details"] == {
            "key": "BY_ADMIN",
            "reference": "production.DB_PASSWORD",
            "written_by": admin_id,
        }
        assert "prod-canary-3c9e" not in json.dumps(error)
    assert api("GET", f"{staging}/secrets/BY_ADMIN?resolve=false", user=owner)[2]["value"] == body["value"]
    # someone who can read it writes it again: it is theirs now
    assert api("PUT", f"{staging}/secrets/BY_ADMIN", user=owner, json=body)[0] == 200
    assert api("GET", f"{staging}/secrets/BY_ADMIN", user=owner)[2]["value"] == "prod-canary-3c9e"

    # a writer who left the org reads nothing
    assert api("GET", f"{staging}/secrets/BY_LEAVER", user=owner)[2]["value"] == "prod-canary-3c9e"
    assert api("DELETE", f"/v1/orgs/{org['slug']}/members/{user_id(api, org, leaver)}", user=owner)[0] == 204
    status, _, error = api("GET", f"{staging}/secrets/BY_LEAVER", user=owner)
    assert (status, error["error"]["code"]) == (403, "reference_writer_forbidden")


def test_promote_rollback_and_restore_make_the_caller_the_writer(api: Api, org: dict[str, Any]) -> None:
    owner, admin, dev = org["owner"], member(api, org, "admin"), member(api, org, "developer")
    put_all(api, org, "production", {"DB_PASSWORD": "prod-canary-5b20"})
    development, staging = env_path(org, "development"), env_path(org, "staging")
    steal = {"value": "${production.DB_PASSWORD}"}
    assert api("PUT", f"{development}/secrets/X", user=admin, json=steal)[0] == 200
    # promoting it, the developer would write it into staging under their own name
    body = {"from": "development", "to": "staging", "keys": ["X"]}
    status, _, error = api("POST", f"{org['web']}/promote", user=dev, json=body)
    assert (status, error["error"]["code"]) == (403, "reference_forbidden")
    assert (
        api("POST", f"{org['web']}/promote", user=dev, json={**body, "dry_run": True})[0] == 200
    )  # a diff writes nothing
    # rolling back to an admin's version, or restoring the environment to when it held one
    _, _, v1 = api("PUT", f"{staging}/secrets/Y", user=admin, json=steal)
    assert api("PUT", f"{staging}/secrets/Y", user=admin, json={"value": "plain"})[0] == 200
    status, _, error = api("POST", f"{staging}/secrets/Y/rollback", user=dev, json={"version": 1})
    assert (status, error["error"]["code"]) == (403, "reference_forbidden")
    status, _, error = api("POST", f"{staging}/restore", user=dev, json={"at": v1["updated_at"]})
    assert (status, error["error"]["code"]) == (403, "reference_forbidden")
    assert api("GET", f"{staging}/secrets/Y", user=owner)[2]["value"] == "plain"
    # the admin may, and is then the writer
    assert api("POST", f"{staging}/secrets/Y/rollback", user=admin, json={"version": 1})[0] == 200
    assert api("GET", f"{staging}/secrets/Y", user=owner)[2]["value"] == "prod-canary-5b20"


def test_a_write_token_writes_references_within_its_environment_only(api: Api, org: dict[str, Any]) -> None:
    owner = org["owner"]
    put_all(api, org, "production", {"DB_PASSWORD": "prod-canary-0d4f"})
    put_all(api, org, "staging", {"HOST": "db"})
    body = {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read", "write"]}
    _, _, created = api("POST", f"/v1/orgs/{org['slug']}/tokens", user=owner, json=body)
    bearer = {"Authorization": f"Bearer {created['token']}"}
    staging = env_path(org, "staging")
    for value in ("${production.DB_PASSWORD}", "${development.HOST}"):
        status, _, error = api("PUT", f"{staging}/secrets/T", headers=bearer, json={"value": value})
        assert (status, error["error"]["code"]) == (403, "reference_forbidden"), value
    assert api("PUT", f"{staging}/secrets/T", headers=bearer, json={"value": "${HOST}:${staging.HOST}"})[0] == 200
    assert api("GET", f"{staging}/secrets/T", user=owner)[2]["value"] == "db:db"
