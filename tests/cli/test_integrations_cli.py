"""Integrations from the CLI, as a real process against the local server: an admin creates an AWS
Secrets Manager integration and a GitHub one (the token read from stdin, never an argument, never
printed back), lists them, shows a status, forces a sync (202, the status as it was) and deletes
one (refused without a terminal unless --yes)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from cli.test_identities_cli import CLI, _runner
from support import Api, org_with_members

pytestmark = pytest.mark.http


def test_integrations_from_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    slug, emails, _ = org_with_members(api, {})
    assert api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})[0] == 201
    owner = _runner(local_stack, tmp_path / "owner")
    owner("login", "--dev-user", emails["owner"])
    scope = ("--org", slug, "--project", "web", "--env", "staging")
    aws = (
        *("--role-arn", "arn:aws:iam::111122223333:role/strongroom-sync", "--external-id", "ext-cli"),
        *("--region", "eu-west-1", "--mode", "per_key", "--name", "web/staging/"),
    )
    made = json.loads(owner(*scope, "--json", "integrations", "create", "secrets-manager", *aws).stdout)
    assert (made["type"], made["status"], made["config"]["mode"]) == ("aws_secrets_manager", "pending", "per_key")

    # A GitHub token comes on stdin; it is in no output
    token = f"ghp_{secrets.token_hex(16)}"
    github = subprocess.run(
        [CLI, *scope, "--json", "integrations", "create", "github", "--repository", "acme/web", "--token-stdin"],
        check=False, capture_output=True, text=True, input=f"{token}\n", timeout=60,
        env=owner.env,  # type: ignore[attr-defined]
        cwd=tmp_path / "owner" / "work",
    )  # fmt: skip
    assert github.returncode == 0, github.stderr
    gh = json.loads(github.stdout)
    assert gh["config"] == {"repository": "acme/web", "api_url": "https://api.github.com"}
    listed = owner("--org", slug, "--json", "integrations", "list").stdout
    assert sorted(i["id"] for i in json.loads(listed)) == sorted([made["id"], gh["id"]])
    assert token not in listed + github.stdout + github.stderr

    status = json.loads(owner("--org", slug, "--json", "integrations", "status", made["id"]).stdout)
    assert set(status) == {"status", "last_synced_revision", "last_error", "last_synced_at"}
    assert json.loads(owner("--org", slug, "--json", "integrations", "sync", made["id"]).stdout)["status"] in {
        "pending",
        "synced",
        "failing",
    }
    # delete: --yes without a terminal
    refused = subprocess.run(
        [CLI, "--org", slug, "integrations", "delete", gh["id"]], check=False, capture_output=True, text=True,
        env=owner.env, cwd=tmp_path / "owner" / "work", input="", timeout=60,  # type: ignore[attr-defined]
    )  # fmt: skip
    assert refused.returncode == 2
    owner("--org", slug, "integrations", "delete", gh["id"], "--yes")
    assert [i["id"] for i in json.loads(owner("--org", slug, "--json", "integrations", "list").stdout)] == [made["id"]]
