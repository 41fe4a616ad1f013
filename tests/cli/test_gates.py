"""The CLI's CI gates against the local server: `run --require-valid` does not run the command when
the environment fails its template, and `diff --exit-code` (also `--from-file`) exits 0, 1 or 2
exactly when it should."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

from cli.conftest import CliRun
from support import Api

pytestmark = pytest.mark.http


def test_require_valid_and_diff_exit_codes(api: Api, cli: CliRun, home: Path) -> None:
    owner, org = f"gate-{secrets.token_hex(3)}@example.com", f"gate-{secrets.token_hex(3)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Gate", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "Web"})[0] == 201
    staging = f"/v1/orgs/{org}/projects/web/environments/staging"
    assert (
        api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"DB_URL": "postgres://db", "API_KEY": "k"}})[0]
        == 200
    )
    for rule in ({"key": "DB_URL", "pattern": "postgres://.*"}, {"key": "REDIS_URL"}):
        assert api("POST", f"/v1/orgs/{org}/projects/web/template", user=owner, json=rule)[0] in {200, 201}
    status, _, token = api(
        "POST", f"/v1/orgs/{org}/tokens", user=owner, json={"name": "ci", "project": "web", "environment": "staging"}
    )
    assert status == 201, token
    as_token = {"STRONGROOM_TOKEN": token["token"]}
    mark = home / "ran"
    touch = [sys.executable, "-c", f"open({str(mark)!r}, 'w').close()"]

    # Given an environment that lacks a template key: the command does not run.
    refused = cli("run", "--require-valid", "--", *touch, env=as_token, check=False)
    assert refused.returncode == 1, refused.stderr
    assert "REDIS_URL" in refused.stderr
    assert not mark.exists()
    # Once it has it, the command runs.
    assert api("PUT", f"{staging}/secrets/REDIS_URL", user=owner, json={"value": "redis://r"})[0] == 200
    cli("run", "--require-valid", "--", *touch, env=as_token)
    assert mark.exists()
    # A value that does not match its pattern fails it too.
    assert api("PUT", f"{staging}/secrets/DB_URL", user=owner, json={"value": "mysql://db"})[0] == 200
    mark.unlink()
    refused = cli("run", "--require-valid", "--", *touch, env=as_token, check=False)
    assert (refused.returncode, "DB_URL" in refused.stderr, mark.exists()) == (1, True, False)

    # diff --from-file FILE ENV: 0 when the keys are the same, 1 when not (only with --exit-code), 2 for a bad file.
    cli("login", "--dev-user", owner)
    work = home / "work"
    (work / ".env.example").write_text("# documented\nDB_URL=\nexport API_KEY='x'\nREDIS_URL=\"multi\nline\"\n")
    same = cli(
        "--org", org, "--project", "web", "diff", "--from-file", ".env.example", "staging", "--exit-code", "--json"
    )
    assert {c["action"] for c in json.loads(same.stdout)} == {"present"}
    (work / ".env.example").write_text("DB_URL=\nAPI_KEY=\nREDIS_URL=\nNEW_KEY=\n")
    args = ("--org", org, "--project", "web", "diff", "--from-file", ".env.example", "staging")
    differs = cli(*args, "--exit-code", "--json", check=False)
    assert differs.returncode == 1, differs.stderr
    assert {c["key"]: c["action"] for c in json.loads(differs.stdout)}["NEW_KEY"] == "missing"
    assert cli(*args, "--json").returncode == 0  # a difference without --exit-code
    (work / ".env.example").write_text("not a dotenv line\n")
    bad = cli(*args, "--exit-code", check=False)
    assert (bad.returncode, "line 1" in bad.stderr, "Traceback" in bad.stderr) == (2, True, False)
    missing = cli("--org", org, "--project", "web", "diff", "--from-file", "absent.env", "staging", check=False)
    assert missing.returncode == 2
    # diff SOURCE TARGET --exit-code: 1 when promoting would change something (production is empty).
    assert (
        cli("--org", org, "--project", "web", "diff", "staging", "production", "--exit-code", check=False).returncode
        == 1
    )
