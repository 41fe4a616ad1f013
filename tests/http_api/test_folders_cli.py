"""The CLI's folders against the local server, in process (click's runner, this checkout's
`strongroom_cli`): `folders create|list|move|delete`, `secrets set|get|list|export --path`, and
`run --path` (a process: `run` replaces itself with the command)."""

from __future__ import annotations

import json
import secrets as pysecrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from http_api.test_cli_e2e import run
from strongroom_cli.commands import cli
from support import Api, unique_email

pytestmark = pytest.mark.http


def test_folders_and_secrets_by_path_through_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    owner, slug = unique_email("cli-folders"), f"clif-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "CLI folders", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "STRONGROOM_NO_KEYRING": "1",
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_ORG": slug,
        "STRONGROOM_PROJECT": "web",
        "STRONGROOM_ENV": "staging",
    }

    def sr(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    def js(*args: str) -> Any:
        result = sr(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert sr("login", "--dev-user", owner).exit_code == 0
    assert js("secrets", "set", "DB_URL=root")
    assert js("secrets", "set", "DB_URL=pg://folder", "PORT=5432", "--path", "/backend/db")
    assert sr("secrets", "get", "DB_URL", "--path", "/backend/db").output == "pg://folder\n"
    assert sr("secrets", "get", "DB_URL").output == "root\n"
    listed = js("secrets", "list", "--recursive")
    assert [(r["path"], r["key"]) for r in listed] == [
        ("/backend/db", "DB_URL"),
        ("/backend/db", "PORT"),
        ("/", "DB_URL"),
    ]
    assert js("secrets", "export", "--format", "json", "--path", "/backend/db") == {
        "DB_URL": "pg://folder",
        "PORT": "5432",
    }
    bad = sr("secrets", "list", "--path", "/a/../b")
    assert bad.exit_code == 2
    assert "not a folder path" in bad.output

    assert js("folders", "create", "/empty")["path"] == "/empty"
    assert [f["path"] for f in js("folders", "list", "--recursive")] == ["/backend", "/backend/db", "/empty"]
    moved = js("folders", "move", "/backend", "/api")
    assert sorted((c["path"], c["action"]) for c in moved["changes"])[0] == ("/api/db", "created")
    assert sr("secrets", "get", "PORT", "--path", "/api/db").output == "5432\n"
    refused = sr("folders", "delete", "/api")
    assert refused.exit_code != 0
    assert "folder_not_empty" in refused.output
    assert js("folders", "delete", "/empty")["path"] == "/empty"
    assert [f["path"] for f in js("folders", "list", "--recursive")] == ["/api", "/api/db"]

    # promote one folder (the rest of staging stays behind)
    promoted = js("promote", "staging", "production", "--path", "/api/db", "--yes")
    assert sorted((c["path"], c["key"]) for c in promoted) == [("/api/db", "DB_URL"), ("/api/db", "PORT")]
    production = api("GET", f"/v1/orgs/{slug}/projects/web/environments/production/secrets?recursive=true", user=owner)
    assert [(i["path"], i["key"]) for i in production[2]["data"]] == [("/api/db", "DB_URL"), ("/api/db", "PORT")]

    # run --path: the folder's keys as the command's environment
    done = run(env, "run", "--path", "/api/db", "--", "sh", "-c", 'printf "%s %s" "$DB_URL" "$PORT"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pg://folder 5432"
    assert run(env, "run", "--path", "/a//b", "--", "true").returncode == 2
