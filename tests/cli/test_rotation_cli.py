"""Rotation from the CLI, as a real process against the local server: `rotation set` (random, and a
postgres rotator whose master password comes from the environment, never echoed), `show`,
`rotate` (a new version, the value changed), `remove`, all with --json."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from cli.test_identities_cli import _runner
from support import Api, org_with_members

pytestmark = pytest.mark.http


def test_rotation_from_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    slug, emails, _ = org_with_members(api, {})
    assert api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})[0] == 201
    cli = _runner(local_stack, tmp_path / "owner")
    cli("login", "--dev-user", emails["owner"])
    scope = ("--org", slug, "--project", "web", "--env", "staging")
    cli(*scope, "secrets", "set", "API_KEY", "before")

    made = json.loads(
        cli(*scope, "--json", "rotation", "set", "API_KEY", "--interval-days", "7", "--length", "20").stdout
    )
    assert (made["status"], made["interval_days"], made["rotator"]["length"]) == ("scheduled", 7, 20)
    shown = json.loads(cli(*scope, "--json", "rotation", "show", "API_KEY").stdout)
    assert shown["next_rotation_at"] == made["next_rotation_at"]

    rotated = json.loads(cli(*scope, "--json", "rotation", "rotate", "API_KEY").stdout)
    assert (rotated["status"], rotated["version"]) == ("succeeded", 2)
    value = cli(*scope, "secrets", "get", "API_KEY").stdout.strip()
    assert value != "before"
    assert len(value) == 20

    # a secret in a folder: --path, apart from the root key of its name
    cli(*scope, "secrets", "set", "API_KEY", "folder-before", "--path", "/backend")
    cli(*scope, "rotation", "set", "API_KEY", "--interval-days", "3", "--length", "12", "--path", "/backend")
    moved = json.loads(cli(*scope, "--json", "rotation", "rotate", "API_KEY", "--path", "/backend").stdout)
    assert (moved["key"], moved["path"], moved["status"]) == ("API_KEY", "/backend", "succeeded")
    assert len(cli(*scope, "secrets", "get", "API_KEY", "--path", "/backend").stdout.strip()) == 12
    assert cli(*scope, "secrets", "get", "API_KEY").stdout.strip() == value  # the root's is as it was

    master = "pw-" + secrets.token_hex(8)
    pg = cli(
        *scope, "--json", "rotation", "set", "DB_URL", "--interval-days", "30", "--rotator", "postgres",
        "--db-user", "app_a", "--db-user", "app_b", "--master-username", "admin",
        env={"STRONGROOM_ROTATION_MASTER_PASSWORD": master},
    )  # fmt: skip
    assert json.loads(pg.stdout)["rotator"] == {
        "type": "postgres",
        "users": ["app_a", "app_b"],
        "master_username": "admin",
    }
    assert master not in pg.stdout + pg.stderr

    removed = json.loads(cli(*scope, "--json", "rotation", "remove", "API_KEY", "--yes").stdout)
    assert removed == {"key": "API_KEY", "removed": True}
    assert (
        api("GET", f"/v1/orgs/{slug}/projects/web/environments/staging/secrets/API_KEY/rotation", user=emails["owner"])[
            0
        ]
        == 404
    )
