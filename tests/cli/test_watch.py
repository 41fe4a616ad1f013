"""`strongroom run --watch` as a real supervisor process against the local server: restarts on a
real change only, once per burst, forwards SIGTERM, and exits with the command's status."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.conftest import CLI, CliRun
from support import Api

pytestmark = pytest.mark.http

# The watched command: one line per start (its A and B), "term" when SIGTERM reaches it, exit 7 then.
CHILD = """
import os, signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
log.write(f"start {os.environ.get('A')} {os.environ.get('B')}\\n")
def term(*_):
    log.write("term\\n")
    sys.exit(7)
signal.signal(signal.SIGTERM, term)
while True:
    time.sleep(0.05)
"""


def environment(api: Api, values: dict[str, str]) -> tuple[str, str, str]:
    """(org, owner, a read token) of a new org whose project `web`'s staging holds `values`."""
    owner, org = f"watch-{secrets.token_hex(3)}@example.com", f"watch-{secrets.token_hex(3)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Watch", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "Web"})[0] == 201
    patch(api, org, owner, values)
    body = {"name": "watch", "project": "web", "environment": "staging"}
    status, _, created = api("POST", f"/v1/orgs/{org}/tokens", user=owner, json=body)
    assert status == 201, created
    return org, owner, created["token"]


def patch(api: Api, org: str, owner: str, values: dict[str, str]) -> None:
    status, _, body = api(
        "PATCH", f"/v1/orgs/{org}/projects/web/environments/staging/secrets", user=owner, json={"set": values}
    )
    assert status == 200, body


def watched(
    cli_env: dict[str, str], token: str, home: Path, flags: list[str], *, child: Path, log: Path
) -> subprocess.Popen[str]:
    """`strongroom run FLAGS -- python CHILD LOG` as the token, a supervisor process."""
    return subprocess.Popen(
        [CLI, "run", *flags, "--", sys.executable, str(child), str(log)],
        env={**cli_env, "STRONGROOM_TOKEN": token},
        cwd=home / "work",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_watch_restarts_once_per_real_change_and_passes_sigterm_on(
    api: Api, cli: CliRun, cli_env: dict[str, str], home: Path
) -> None:
    org, owner, token = environment(api, {"A": "1"})
    cli("login", "--dev-user", owner)  # the writer of the two-key change below
    log, child = home / "child.log", home / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    proc = watched(cli_env, token, home, ["--watch", "--interval", "1"], child=child, log=log)
    try:
        assert wait_for(lambda: lines(log) == ["start 1 None"], 20), lines(log)

        # Given a change, the command restarts once, with the new value, within 3 s.
        patch(api, org, owner, {"A": "2"})
        assert wait_for(lambda: lines(log)[-1:] == ["start 2 None"], 3.0), lines(log)
        assert lines(log) == ["start 1 None", "term", "start 2 None"]

        # The same value again restarts nothing (a few polls later).
        patch(api, org, owner, {"A": "2"})
        time.sleep(2.5)
        assert lines(log) == ["start 1 None", "term", "start 2 None"]

        # Two keys in one change (`secrets set A=3 B=4`): one restart.
        cli("--org", org, "--project", "web", "--env", "staging", "secrets", "set", "A=3", "B=4")
        assert wait_for(lambda: lines(log)[-1:] == ["start 3 4"], 3.0), lines(log)
        time.sleep(1.5)
        assert lines(log).count("term") == 2
        assert lines(log)[-1] == "start 3 4"

        # SIGTERM reaches the command, and its status is the CLI's.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
        assert lines(log)[-1] == "term"
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert token not in stderr
    assert "restarting" in stderr


def test_watch_with_require_valid_applies_only_a_valid_change(api: Api, cli_env: dict[str, str], home: Path) -> None:
    org, owner, token = environment(api, {"A": "https://1"})
    rule = {"key": "A", "pattern": "https://.*"}
    assert api("POST", f"/v1/orgs/{org}/projects/web/template", user=owner, json=rule)[0] in {200, 201}
    log, child = home / "valid.log", home / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    proc = watched(cli_env, token, home, ["--watch", "--require-valid", "--interval", "1"], child=child, log=log)
    try:
        assert wait_for(lambda: lines(log) == ["start https://1 None"], 20), lines(log)
        # A change that fails the template is not applied: the command keeps running as it was.
        patch(api, org, owner, {"A": "ftp://2"})
        time.sleep(3.0)
        assert lines(log) == ["start https://1 None"]
        # A valid one is.
        patch(api, org, owner, {"A": "https://3"})
        assert wait_for(lambda: lines(log)[-1:] == ["start https://3 None"], 4.0), lines(log)
        assert "ftp://2" not in "".join(lines(log))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "not applied: the environment fails its template" in stderr
    assert "ftp://2" not in stderr
