"""Offline and freshness controls as real processes: `--offline` opens no socket (the server is
gone and its port refuses, yet it runs), `--cache-max-age` refuses a cache too old (its age set
by the file's time, not by sleeping), and `logout` and `cache clear` remove cached values."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from cli.conftest import Run
from cli.listener import Capture, json_answer

PRINT_A = "import os; print(os.environ['A'])"


def cache_files(home: Path) -> list[Path]:
    folder = home / "home" / ".cache" / "strongroom"
    return sorted(folder.glob("*.bin")) if folder.exists() else []


def test_offline_opens_no_socket_and_max_age_refuses_an_old_cache(offline_cli: Run, offline_home: Path) -> None:
    server = Capture(answer=json_answer(b'{"secrets": {"A": "cached"}, "version": "v1"}'))
    env = {"STRONGROOM_TOKEN": "sr_svc_test", "STRONGROOM_API_URL": server.url}
    assert offline_cli("run", "--", "true", env=env).returncode == 0  # fills the cache
    server.close()  # from now on the port refuses connections

    refused = offline_cli("run", "--", sys.executable, "-c", PRINT_A, env=env)
    assert refused.returncode == 1
    assert "cannot reach" in refused.stderr
    for args, extra in (
        (["run", "--offline"], {}),
        (["run"], {"STRONGROOM_OFFLINE": "1"}),
        (["--offline", "run"], {}),
    ):
        done = offline_cli(*args, "--", sys.executable, "-c", PRINT_A, env={**env, **extra})
        assert (done.returncode, done.stdout) == (0, "cached\n"), (args, done.stderr)

    # The cache was last confirmed 2 s ago: 1 s is too old, 10 s is not.
    (file,) = cache_files(offline_home)
    then = time.time() - 2
    os.utime(file, (then, then))
    old = offline_cli("run", "--offline", "--cache-max-age", "1s", "--", sys.executable, "-c", PRINT_A, env=env)
    assert old.returncode == 1
    assert "--cache-max-age" in old.stderr
    assert old.stdout == ""
    fresh = offline_cli("run", "--offline", "--cache-max-age", "10s", "--", sys.executable, "-c", PRINT_A, env=env)
    assert fresh.stdout == "cached\n", fresh.stderr
    # --fallback does not fall back on a cache older than --cache-max-age either
    stale = offline_cli("run", "--fallback", "--cache-max-age", "1s", "--", "true", env=env)
    assert stale.returncode == 1

    # Commands that need the server say so, offline.
    needs = offline_cli("--offline", "secrets", "list", env=env)
    assert needs.returncode == 2
    assert "--offline" in needs.stderr
    assert "Traceback" not in needs.stderr


def test_logout_removes_that_credentials_cache_and_cache_clear_the_rest(offline_cli: Run, offline_home: Path) -> None:
    server = Capture(answer=json_answer(b'{"A": "1"}'))
    try:
        url = {"STRONGROOM_API_URL": server.url}
        assert offline_cli("login", "--token", "sr_pat_mine", env=url).returncode == 0
        assert offline_cli("run", "--org", "o", "--project", "p", "--env", "e", "--", "true", env=url).returncode == 0
        mine = cache_files(offline_home)
        assert len(mine) == 1
        other = {**url, "STRONGROOM_TOKEN": "sr_svc_other"}
        offline_cli("run", "--", "true", env=other)  # answered {"A": "1"}: not the runtime shape, so not cached
        server.answer = json_answer(b'{"secrets": {"A": "1"}, "version": "v1"}')
        assert offline_cli("run", "--", "true", env=other).returncode == 0
        assert len(cache_files(offline_home)) == 2

        assert offline_cli("logout", env=url).returncode == 0
        left = cache_files(offline_home)
        assert len(left) == 1
        assert left[0] not in mine

        then = time.time() - 3600
        os.utime(left[0], (then, then))
        kept = json.loads(offline_cli("cache", "clear", "--older-than", "2h", "--json").stdout)
        assert kept["removed"] == 0
        assert json.loads(offline_cli("cache", "clear", "--older-than", "30m", "--json").stdout)["removed"] == 1
        assert cache_files(offline_home) == []
        assert offline_cli("cache", "clear", "--older-than", "soon").returncode == 2
    finally:
        server.close()
