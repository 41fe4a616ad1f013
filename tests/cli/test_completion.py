"""`strongroom completion SHELL` prints click's completion script, which the shell accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cli.conftest import Run


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_accepts_the_completion_script(offline_cli: Run) -> None:
    script = offline_cli("completion", "bash")
    assert script.returncode == 0, script.stderr
    done = subprocess.run(
        ["bash", "-c", 'source /dev/stdin <<<"$SCRIPT"; complete -p strongroom'],
        env={"SCRIPT": script.stdout, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "strongroom" in done.stdout
    assert offline_cli("completion", "tcsh").returncode == 2
