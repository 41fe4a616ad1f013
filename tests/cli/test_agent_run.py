"""The reference agent end to end: `strongroom agent run`, a real process against the local stack,
discovers a directory holding two `.env` files (refs and fingerprints reach the inventory, never
values), answers a read job with a sealed box the requester opens with `strongroom wraps fetch`,
fails a job naming nothing it holds (or a path outside its directories), and stops cleanly on
SIGTERM. The CLI's agents, jobs and discovered commands drive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cli.conftest import CLI
from cli.test_identities_cli import _runner
from support import Api, unique_email

pytestmark = pytest.mark.http

DEADLINE_SECONDS = 30.0


def _until_done(api: Api, owner: str, org: str, job_id: str) -> dict[str, Any]:
    """The job once the agent completed it (polled over HTTP; as it stands after DEADLINE_SECONDS)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = api("GET", f"/v1/orgs/{org}/jobs/{job_id}", user=owner)[2]
        if job["status"] in {"succeeded", "failed"} or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.1)


def test_the_reference_agent_discovers_and_answers_a_read_job(api: Api, local_stack: str, tmp_path: Path) -> None:
    # Given an org, an agent minted from the CLI, and a directory with two .env files
    owner, slug = unique_email("owner"), f"ref-agent-{os.urandom(3).hex()}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Ref", "slug": slug})[0] == 201
    admin = _runner(local_stack, tmp_path / "admin")
    admin("login", "--dev-user", owner)
    minted = json.loads(admin("--org", slug, "--json", "agents", "create", "laptop").stdout)
    watched = tmp_path / "watched"
    (watched / "web").mkdir(parents=True)
    (watched / "worker").mkdir()
    db_url = f"postgres://app:pw-{os.urandom(6).hex()}@db/app"
    (watched / "web" / ".env").write_text(f'DB_URL="{db_url}"\nAPI_KEY=k-{os.urandom(6).hex()}\n')
    (watched / "worker" / ".env.production").write_text("QUEUE_TOKEN=q-token-value\n")
    (watched / "README.md").write_text("not a secret file\n")
    (tmp_path / "outside.env").write_text("STOLEN=never\n")

    # When the agent runs
    log = tmp_path / "agent.log"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "agent-home"),
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_NO_KEYRING": "1",
        "STRONGROOM_AGENT_SECRET": minted["agent_secret"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "LC_ALL": "C.UTF-8",
    }
    from cli.test_identities_cli import PYTHONPATH

    env["PYTHONPATH"] = PYTHONPATH
    args = ["agent", "run", "--agent-id", minted["id"], "--dir", str(watched), "--cluster", "laptop"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [CLI, *args, "--interval", "0.2", "--heartbeat", "1", "--max-backoff", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Then a discover job reports the three keys of the two .env files, with no value
        job = json.loads(
            admin("--org", slug, "--json", "jobs", "create", "--agent", minted["id"], "--type", "discover").stdout
        )
        done = _until_done(api, owner, slug, job["id"])
        assert done["status"] == "succeeded", (done, log.read_text())
        listed = admin("--org", slug, "--json", "discovered", "list", "--label", "format:dotenv").stdout
        found = json.loads(listed)
        assert sorted(s["ref"] for s in found) == [
            "web/.env#API_KEY",
            "web/.env#DB_URL",
            "worker/.env.production#QUEUE_TOKEN",
        ]
        assert {(s["provider"], s["cluster_name"]) for s in found} == {("file", "laptop")}
        assert db_url not in listed
        assert "q-token-value" not in listed
        shown = api("GET", f"/v1/orgs/{slug}/agents/{minted['id']}", user=owner)[2]
        assert shown["status"] == "online"
        assert shown["public_key"] is not None

        # and a read job is answered sealed to the requester's key, opened once by the requester
        key = json.loads(admin("--json", "wraps", "keygen", "--out", str(tmp_path / "reader.key")).stdout)
        read = json.loads(
            admin(
                "--org", slug, "--json", "jobs", "create", "--agent", minted["id"], "--type", "read",
                "--ref", "web/.env#DB_URL", "--recipient-public-key", key["public_key"],
            ).stdout
        )  # fmt: skip
        answered = _until_done(api, owner, slug, read["id"])
        assert answered["status"] == "succeeded", (answered, log.read_text())
        opened = admin("--org", slug, "wraps", "fetch", answered["wrap_id"], "--key", str(tmp_path / "reader.key"))
        assert opened.stdout.strip() == db_url
        again = subprocess.run(
            [CLI, "--org", slug, "wraps", "fetch", answered["wrap_id"], "--key", str(tmp_path / "reader.key")],
            env={**env, "HOME": str(tmp_path / "admin"), "XDG_CONFIG_HOME": str(tmp_path / "admin" / ".config")},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert again.returncode != 0
        assert "410" in again.stderr

        # a ref it does not hold, or one outside its directory, fails the job (no value anywhere)
        for ref in ("web/.env#MISSING", "../outside.env#STOLEN"):
            params = {"ref": ref, "recipient_public_key": key["public_key"]}
            body = {"agent": minted["id"], "type": "read", "params": params}
            status, _, bad = api("POST", f"/v1/orgs/{slug}/jobs", user=owner, json=body)
            assert status == 201, bad
            failed = _until_done(api, owner, slug, bad["id"])
            assert (failed["status"], failed["error"]) == ("failed", "no such ref here"), ref
    finally:
        # SIGTERM stops it cleanly
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    output = log.read_text()
    assert code == 0, output
    assert output.rstrip().endswith("agent: stopped")
    assert db_url not in output
    assert "q-token-value" not in output
    assert minted["agent_secret"] not in output
