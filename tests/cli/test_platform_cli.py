"""The platform's commands as a real process against the local server (issue #18): an owner's
`usage`; a platform admin's `admin stats|orgs|org|set-limit|set-plan|plans|requests`; anyone
else's `admin` is refused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.test_identities_cli import CLI, PYTHONPATH, _runner
from support import Api, unique_email

pytestmark = pytest.mark.http

ADMIN = "admin@example.com"  # the local stack's platform admin


def test_usage_and_admin_from_the_cli(api: Api, local_stack: str, tmp_path: Path) -> None:
    owner = unique_email("cli-usage")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Cli usage"})
    assert status == 201, org
    assert api("POST", f"/v1/orgs/{org['id']}/projects", user=owner, json={"name": "Web"})[0] == 201
    me, admin = _runner(local_stack, tmp_path / "owner"), _runner(local_stack, tmp_path / "admin")
    me("login", "--dev-user", owner)
    admin("login", "--dev-user", ADMIN)

    used = json.loads(me("--org", org["slug"], "--json", "usage").stdout)
    assert (used["plan"], used["usage"]["projects"], used["usage"]["environments"]) == ("enterprise", 1, 3)
    assert "plan: enterprise" in me("--org", org["slug"], "-o", "table", "usage").stdout

    limited = json.loads(admin("--json", "admin", "set-limit", org["slug"], "projects=1", "webhooks=unlimited").stdout)
    assert limited["limit_overrides"] == {"projects": 1, "webhooks": -1}
    assert json.loads(admin("--json", "admin", "set-plan", org["id"], "team").stdout)["plan"] == "team"
    shown = json.loads(admin("--json", "admin", "org", org["slug"]).stdout)
    assert (shown["plan"], shown["limits"]["projects"], shown["usage"]["projects"]) == ("team", 1, 1)
    dropped = json.loads(admin("--json", "admin", "set-limit", org["slug"], "projects=default").stdout)
    assert dropped["limit_overrides"] == {"webhooks": -1}
    found = json.loads(admin("--json", "admin", "orgs", "--search", org["slug"]).stdout)
    assert [o["id"] for o in found] == [org["id"]]
    stats = json.loads(admin("--json", "admin", "stats").stdout)
    assert stats["orgs"] >= 1
    assert stats["usage"]["projects"] >= 1
    assert "secrets" in stats["usage"]
    assert set(stats["webhook_deliveries"]) == {"pending", "retrying", "succeeded", "failed"}
    plans = json.loads(admin("--json", "admin", "plans").stdout)
    assert [p["name"] for p in plans] == ["free", "team", "enterprise"]
    assert "team" in admin("-o", "tsv", "admin", "plans").stdout
    billed = json.loads(me("--org", org["slug"], "--json", "billing", "status").stdout)
    assert (billed["plan"], billed["customer"]) == ("team", False)
    hours = json.loads(admin("--json", "admin", "requests", "--hours", "2").stdout)
    assert hours["hours"] == 2
    assert hours["requests"] >= 1

    home = tmp_path / "owner"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_NO_KEYRING": "1",
        "PYTHONPATH": PYTHONPATH,
    }
    refused = subprocess.run(
        [CLI, "--json", "admin", "stats"], check=False, capture_output=True, text=True, timeout=60, input="", env=env
    )
    assert refused.returncode == 1
    assert "platform_admin_required" in refused.stderr
