"""Shared secrets from the CLI, as a real process against the local server: an admin sets one
twice, lists it (no value), reads it, sees two versions; `run` gives a process the environment's
`${shared.KEY}` resolved; delete (with --yes) empties the list."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

from cli.test_identities_cli import _runner
from support import Api, org_with_members

pytestmark = pytest.mark.http


def test_shared_secrets_from_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    slug, emails, _ = org_with_members(api, {"admin": "admin"})
    assert api("POST", f"/v1/orgs/{slug}/projects", user=emails["owner"], json={"name": "Web"})[0] == 201
    admin = _runner(local_stack, tmp_path / "admin")
    admin("login", "--dev-user", emails["admin"])
    first, second = f"dsn-{secrets.token_hex(4)}", f"dsn-{secrets.token_hex(4)}"

    written = json.loads(admin("--org", slug, "--json", "shared", "set", "SENTRY_DSN", first).stdout)
    assert (written["key"], written["version"]) == ("SENTRY_DSN", 1)
    again = json.loads(admin("--org", slug, "--json", "shared", "set", "SENTRY_DSN", second).stdout)
    assert again["version"] == 2
    listed = json.loads(admin("--org", slug, "--json", "shared", "list").stdout)
    assert [(r["key"], r["version"]) for r in listed] == [("SENTRY_DSN", 2)]
    assert first not in json.dumps(listed)
    assert second not in json.dumps(listed)
    assert admin("--org", slug, "shared", "get", "SENTRY_DSN").stdout == f"{second}\n"
    assert admin("--org", slug, "shared", "get", "SENTRY_DSN", "--version", "1").stdout == f"{first}\n"
    versions = json.loads(admin("--org", slug, "--json", "shared", "versions", "SENTRY_DSN").stdout)
    assert [(v["version"], v["action"]) for v in versions] == [(2, "set"), (1, "set")]

    scope = ("--org", slug, "--project", "web", "--env", "staging")
    admin(*scope, "secrets", "set", "SENTRY=${shared.SENTRY_DSN}")
    code = "import os; print(os.environ['SENTRY'])"
    assert admin(*scope, "run", "--", sys.executable, "-c", code).stdout.strip() == second

    deleted = json.loads(admin("--org", slug, "--json", "shared", "delete", "SENTRY_DSN", "--yes").stdout)
    assert deleted == {"key": "SENTRY_DSN", "deleted": True}
    assert json.loads(admin("--org", slug, "--json", "shared", "list").stdout) == []
