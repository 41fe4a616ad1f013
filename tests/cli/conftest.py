"""What the CLI tests share: the CLI as a real process with its own HOME and no stack, and a
listener that records what it is sent (see listener.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.listener import Capture

CLI = str(Path(sys.executable).parent / "strongroom")
Run = Callable[..., subprocess.CompletedProcess[str]]
CliRun = Run
# This checkout's CLI, whichever checkout the shared virtualenv's editable install names.
THIS_CHECKOUT = os.pathsep.join(str(Path(__file__).resolve().parents[2] / d / "src") for d in ("cli", "sdk"))


@pytest.fixture
def capture() -> Iterator[Capture]:
    listener = Capture()
    yield listener
    listener.close()


@pytest.fixture
def offline_home(tmp_path: Path) -> Path:
    for folder in ("home", "work"):
        (tmp_path / folder).mkdir()
    return tmp_path


@pytest.fixture
def offline_cli(offline_home: Path) -> Run:
    """The CLI as a process with its own HOME and no stack: `run_cli(*args, env=..., cwd=...)`."""

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        environ = {
            "PATH": os.environ["PATH"],
            "HOME": str(offline_home / "home"),
            "XDG_CONFIG_HOME": str(offline_home / "home" / ".config"),
            "XDG_CACHE_HOME": str(offline_home / "home" / ".cache"),
            "STRONGROOM_NO_KEYRING": "1",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": THIS_CHECKOUT,
            **(env or {}),
        }
        return subprocess.run(
            [CLI, *args],
            check=False,
            capture_output=True,
            text=True,
            env=environ,
            cwd=cwd or offline_home / "work",
            input=stdin,
            timeout=60,
        )

    return run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path


@pytest.fixture
def cli_env(local_stack: str, home: Path) -> dict[str, str]:
    """The environment of a CLI process: its own HOME, the local server, no keyring."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home / "home"),
        "XDG_CONFIG_HOME": str(home / "home" / ".config"),
        "XDG_CACHE_HOME": str(home / "home" / ".cache"),
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_NO_KEYRING": "1",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": THIS_CHECKOUT,
    }


@pytest.fixture
def cli(cli_env: dict[str, str], home: Path) -> CliRun:
    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        environ = {**cli_env, **(env or {})}
        done = subprocess.run(
            [CLI, *args],
            check=False,
            capture_output=True,
            text=True,
            env=environ,
            cwd=cwd or home / "work",
            input=stdin if stdin is not None else "",  # never the terminal pytest may have
            timeout=60,
        )
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    return run
