"""The CLI's everyday shortcuts as a user runs them: several keys set and one deleted in one
change, several keys read at once, and `run`'s --only / --preserve-env / --no-inherit-env."""

from __future__ import annotations

import json
import os
import secrets
import sys

import pytest

from cli.conftest import CliRun, Run
from cli.listener import Capture, json_answer
from support import Api

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.mark.http
def test_set_many_and_delete_is_one_change_and_get_reads_many(api: Api, cli: CliRun) -> None:
    owner, org = f"ergo-{secrets.token_hex(3)}@example.com", f"ergo-{secrets.token_hex(3)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Ergo", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "Web"})[0] == 201
    cli("login", "--dev-user", owner)
    env = {"STRONGROOM_ORG": org, "STRONGROOM_PROJECT": "web", "STRONGROOM_ENV": "staging"}
    cli("secrets", "set", "A=1", "B=2", "OLD=x", env=env)
    changed = json.loads(cli("secrets", "set", "A=1", "B=3", "--delete", "OLD", "--json", env=env).stdout)
    assert {c["key"]: c["action"] for c in changed} == {"A": "unchanged", "B": "updated", "OLD": "deleted"}
    listed = json.loads(cli("secrets", "list", "--values", "--json", env=env).stdout)
    assert {r["key"]: r["value"] for r in listed} == {"A": "1", "B": "3"}
    status, _, events = api("GET", f"/v1/orgs/{org}/audit?action=secrets.batch_changed", user=owner)
    assert status == 200
    assert len(events["data"]) == 2  # one event per command: each was one change

    assert cli("secrets", "get", "A", "B", env=env).stdout == "A\t1\nB\t3\n"
    got = json.loads(cli("secrets", "get", "A", "B", "--json", env=env).stdout)
    assert [(g["key"], g["value"]) for g in got] == [("A", "1"), ("B", "3")]


def test_run_only_preserve_and_no_inherit(offline_cli: Run) -> None:
    server = Capture(answer=json_answer(b'{"secrets": {"A": "server", "B": "2", "C": "3"}, "version": "v1"}'))
    try:
        base = {"STRONGROOM_TOKEN": "sr_svc_test", "STRONGROOM_API_URL": server.url, "A": "mine", "OTHER": "o"}
        seen = json.loads(offline_cli("run", "--only", "A,B", "--", sys.executable, "-c", PRINT_ENV, env=base).stdout)
        assert (seen["A"], seen["B"], "C" in seen, seen["OTHER"]) == ("server", "2", False, "o")
        done = offline_cli(
            "run", "--no-inherit-env", "--preserve-env", "A,PATH", "--", sys.executable, "-c", PRINT_ENV, env=base
        )
        seen = json.loads(done.stdout)
        assert seen.pop("PATH") == os.environ["PATH"]
        seen.pop("LC_CTYPE", None)  # Python's own locale coercion in the child
        assert seen == {"A": "mine", "B": "2", "C": "3"}
        missing = offline_cli("run", "--only", "A,NOPE", "--", "true", env=base)
        assert missing.returncode == 1
        assert "NOPE" in missing.stderr
    finally:
        server.close()


def test_no_color_and_no_telemetry_show_in_configure_debug(offline_cli: Run) -> None:
    done = offline_cli("configure", "debug", "--json", env={"NO_COLOR": "1"})
    rows = {r["setting"]: r["value"] for r in json.loads(done.stdout)}
    assert rows["color"] == "off"
    assert rows["telemetry"].startswith("none")
