"""`run --mount` and `render` as real processes against a server that gives one fixed answer: the
mount file is 0600 in a 0700 directory, holds the values, and is gone after the command's exit and
after SIGTERM; `render` with a key the environment lacks names it and writes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.conftest import CLI, THIS_CHECKOUT, Run
from cli.listener import Capture, json_answer

VALUES = {"DB_URL": "postgres://db/app", "API_KEY": "k-123"}


@pytest.fixture
def server() -> Iterator[Capture]:
    listener = Capture(answer=json_answer(json.dumps({"secrets": VALUES, "version": "v1"}).encode()))
    yield listener
    listener.close()


def token_env(server: Capture) -> dict[str, str]:
    return {"STRONGROOM_TOKEN": "sr_svc_test", "STRONGROOM_API_URL": server.url}


REPORT = """
import json, os, stat, sys
path = os.environ["STRONGROOM_SECRETS_PATH"]
print(json.dumps({"path": path, "text": open(path).read(), "mode": stat.S_IMODE(os.stat(path).st_mode),
                  "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)}))
"""


def test_the_mount_is_private_holds_the_values_and_is_gone_after_exit(
    offline_cli: Run, server: Capture, tmp_path: Path
) -> None:
    done = offline_cli(
        "run", "--mount", f"{tmp_path}/secrets.json", "--", sys.executable, "-c", REPORT, env=token_env(server)
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["mode"], seen["dir_mode"]) == (0o600, 0o700)
    assert json.loads(seen["text"]) == VALUES
    assert Path(seen["path"]).name == "secrets.json"
    assert Path(seen["path"]).parent.parent == tmp_path
    assert not Path(seen["path"]).parent.exists()


def test_the_mount_is_gone_after_sigterm_and_the_status_is_the_commands(
    offline_home: Path, server: Capture, tmp_path: Path
) -> None:
    marker = tmp_path / "path.txt"
    child = f"import os, time; open({str(marker)!r}, 'w').write(os.environ['STRONGROOM_SECRETS_PATH']); time.sleep(60)"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(offline_home / "home"),
        "XDG_CACHE_HOME": str(offline_home / "home" / ".cache"),
        "STRONGROOM_NO_KEYRING": "1",
        "PYTHONPATH": THIS_CHECKOUT,
        **token_env(server),
    }
    proc = subprocess.Popen(
        [CLI, "run", "--mount", f"{tmp_path}/app.env", "--", sys.executable, "-c", child],
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        mounted = Path(marker.read_text())
        assert "DB_URL='postgres://db/app'" in mounted.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM  # the command died of it, and so does run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not mounted.exists()
    assert not mounted.parent.exists()


def test_render_fills_and_a_missing_key_names_it_and_writes_nothing(
    offline_cli: Run, server: Capture, offline_home: Path
) -> None:
    work = offline_home / "work"
    (work / "app.tmpl").write_text("url={{ DB_URL }} key=${env.API_KEY}\n", encoding="utf-8")
    done = offline_cli("render", "-i", "app.tmpl", "-o", "app.conf", env=token_env(server))
    assert done.returncode == 0, done.stderr
    assert (work / "app.conf").read_text() == "url=postgres://db/app key=k-123\n"
    assert (work / "app.conf").stat().st_mode & 0o777 == 0o600

    (work / "bad.tmpl").write_text("{{ DB_URL }} {{ NOPE }} ${env.ALSO_MISSING}\n", encoding="utf-8")
    done = offline_cli("render", "-i", "bad.tmpl", "-o", "bad.conf", env=token_env(server))
    assert done.returncode == 1
    assert "ALSO_MISSING, NOPE" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (work / "bad.conf").exists()
    assert sorted(p.name for p in work.iterdir()) == ["app.conf", "app.tmpl", "bad.tmpl"]


def test_run_template_renders_before_the_command_and_refuses_a_missing_key(
    offline_cli: Run, server: Capture, offline_home: Path
) -> None:
    work = offline_home / "work"
    (work / "in.tmpl").write_text("db={{ DB_URL }}\n", encoding="utf-8")
    done = offline_cli("run", "--template", "in.tmpl:out.conf", "--", "cat", "out.conf", env=token_env(server))
    assert (done.returncode, done.stdout) == (0, "db=postgres://db/app\n"), done.stderr
    assert (work / "out.conf").stat().st_mode & 0o777 == 0o600
    (work / "bad.tmpl").write_text("{{ NOPE }}\n", encoding="utf-8")
    refused = offline_cli("run", "--template", "bad.tmpl:bad.conf", "--", "true", env=token_env(server))
    assert (refused.returncode, "NOPE" in refused.stderr) == (1, True)
    assert not (work / "bad.conf").exists()
    assert offline_cli("run", "--template", "no-colon", "--", "true", env=token_env(server)).returncode == 2
