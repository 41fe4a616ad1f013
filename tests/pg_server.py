"""A real PostgreSQL server for the postgres rotator's tests: Debian's `postgresql` package
(installed by `make test-http` through the Makefile's APT_PACKAGES when missing), a fresh cluster in
a temporary directory on a free port, password (SCRAM) logins over TCP on 127.0.0.1 only.

As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root). It is never
skipped: without the binaries the fixture fails, naming the package."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `make chromium` installs the Makefile's APT_PACKAGES (postgresql)"
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    master_password: str = field(default_factory=lambda: secrets.token_hex(12))
    passwords: dict[str, str] = field(default_factory=dict)
    port: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="strongroom-pg-")))

    def _run(self, *cmd: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=60)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> PgServer:
        bins = _bin_dir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self.port = _free_port()
        pwfile = self.root / "pw"
        pwfile.write_text(self.master_password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(bins / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",  # a throwaway cluster: nothing to make durable
        )
        self._ctl("start")
        for user in ("app_a", "app_b"):
            self.passwords[user] = secrets.token_hex(12)
        sql = "; ".join(
            [f"CREATE ROLE {u} LOGIN PASSWORD '{p}'" for u, p in self.passwords.items()] + ["CREATE DATABASE app"]
        )
        for statement in sql.split("; "):
            self._run(str(bins / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-c", statement)
        return self

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        log = str(self.root / "log")
        mode = ["-m", "fast"] if action == "stop" else []
        self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", *mode, action)

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("start")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def reset_passwords(self) -> None:
        """Both application users back to their first passwords (a test's rotations changed them)."""
        import pg8000.native

        conn = pg8000.native.Connection(
            "postgres", host="127.0.0.1", port=self.port, database="app", password=self.master_password, timeout=5
        )
        try:
            for user, password in self.passwords.items():
                conn.run(f"ALTER ROLE {user} WITH PASSWORD '{password}'")
        finally:
            conn.close()

    def url(self, user: str, password: str | None = None) -> str:
        return f"postgresql://{user}:{password or self.passwords[user]}@127.0.0.1:{self.port}/app"
