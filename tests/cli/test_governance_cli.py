"""Governance from the CLI, as a real process against the local server: a developer's `secrets set`
into a protected environment prints its change request; an admin sees its diff and approves it;
the author applies it. An access request, approved from the CLI."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from cli.test_identities_cli import _runner
from support import Api, org_with_members

pytestmark = pytest.mark.http


def test_change_and_access_requests_from_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    slug, emails, _ = org_with_members(api, {"admin": "admin", "dev": "developer"})
    assert api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})[0] == 201
    policy = {"name": "G", "project": "web", "approvers": ["admin"]}
    for env, kind in (("staging", "changes"), ("production", "access_requests")):
        body = {**policy, "environments": [env], "applies_to": [kind]}
        assert api("POST", f"/v1/orgs/{slug}/approval-policies", user=emails["owner"], json=body)[0] == 201
    dev, admin = _runner(local_stack, tmp_path / "dev"), _runner(local_stack, tmp_path / "admin")
    dev("login", "--dev-user", emails["dev"])
    admin("login", "--dev-user", emails["admin"])
    scope = ("--org", slug, "--project", "web", "--env", "staging")
    value = f"v-{secrets.token_hex(4)}"

    held = json.loads(dev(*scope, "--json", "secrets", "set", "API_KEY", value).stdout)
    assert (held["status"], held["id"][:4]) == ("open", "chr_")
    shown = json.loads(admin("--org", slug, "--json", "changes", "show", held["id"]).stdout)
    assert [(c["key"], c["action"]) for c in shown["changes"]] == [("API_KEY", "create")]
    assert value not in admin("--org", slug, "changes", "show", held["id"]).stdout
    assert [c["id"] for c in json.loads(admin("--org", slug, "--json", "changes", "list").stdout)] == [held["id"]]
    assert json.loads(admin("--org", slug, "--json", "changes", "approve", held["id"]).stdout)["status"] == "approved"
    assert json.loads(dev("--org", slug, "--json", "changes", "apply", held["id"]).stdout)["status"] == "applied"
    assert value in dev(*scope, "secrets", "get", "API_KEY").stdout

    prod = ("--org", slug, "--project", "web", "--env", "production")
    asked = json.loads(dev(*prod, "--json", "request", "access", "--duration", "60", "--reason", "incident").stdout)
    assert asked["status"] == "pending"
    listed = json.loads(admin("--org", slug, "--json", "requests", "list", "--status", "pending").stdout)
    assert [r["id"] for r in listed] == [asked["id"]]
    approved = json.loads(admin("--org", slug, "--json", "requests", "approve", asked["id"]).stdout)
    assert approved["status"] == "approved"
    assert json.loads(dev("--org", slug, "--json", "requests", "cancel", asked["id"]).stdout)["status"] == "cancelled"
