"""The `strongroom` CLI as a user runs it: a real process, against the local server over HTTP,
with its own HOME (credentials, cache) in a temporary directory."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import secrets
import select
import socket
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cli.conftest import CliRun
from strongroom import aws
from strongroom.data import db
from strongroom_local import LocalStack
from support import Api, seal, table_name

pytestmark = pytest.mark.http
CLI = str(Path(sys.executable).parent / "strongroom")


def _slug(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def test_a_user_manages_secrets_from_the_cli(cli: CliRun, home: Path) -> None:
    email, org = f"cli-{secrets.token_hex(3)}@example.com", _slug("cli")
    cli("login", "--dev-user", email)
    credentials = home / "home" / ".config" / "strongroom" / "credentials.json"
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    assert json.loads(cli("--json", "whoami").stdout)["email"] == email
    assert json.loads(cli("--json", "orgs", "create", "CLI", "--slug", org).stdout)["slug"] == org
    cli("--org", org, "projects", "create", "Web")
    cli("setup", "--org", org, "--project", "web", "--env", "staging")
    assert (home / "work" / ".strongroom.toml").is_file()

    cli("secrets", "set", "DB_URL", "postgres://db/app")
    cli("secrets", "set", "DB_URL", "postgres://db2/app", "--comment", "move")
    cli("secrets", "set", "MULTI", "--stdin", stdin="line 1\nline 2")
    assert cli("secrets", "get", "DB_URL").stdout == "postgres://db2/app\n"
    listed = json.loads(cli("--json", "secrets", "list", "--values").stdout)
    assert {r["key"]: r["value"] for r in listed} == {"DB_URL": "postgres://db2/app", "MULTI": "line 1\nline 2"}
    versions = json.loads(cli("--json", "secrets", "versions", "DB_URL").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    cli("secrets", "rollback", "DB_URL", "1")
    assert cli("secrets", "get", "DB_URL").stdout == "postgres://db/app\n"

    # export → import elsewhere gives the same values
    exported = cli("secrets", "export", "--format", "dotenv").stdout
    (home / "work" / "staging.env").write_text(exported, encoding="utf-8")
    counts = json.loads(cli("--json", "--env", "development", "secrets", "import", "staging.env").stdout)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    dev = json.loads(cli("--json", "--env", "development", "secrets", "list", "--values").stdout)
    assert {r["key"]: r["value"] for r in dev} == {"DB_URL": "postgres://db/app", "MULTI": "line 1\nline 2"}
    # a large file is one atomic change: one request, one `secrets.imported` event
    many = "".join(f"K{i:04d}=value-{i}\n" for i in range(1500))
    (home / "work" / "many.env").write_text(many, encoding="utf-8")
    counts = json.loads(cli("--json", "--env", "development", "secrets", "import", "many.env").stdout)
    assert counts == {"created": 1500, "updated": 0, "unchanged": 0}
    imported = json.loads(cli("--json", "audit", "export", "--action", "secrets.imported").stdout)
    assert [e["metadata"]["count"] for e in imported] == [2, 1500]

    # diff and promote (a dry run first, then applied)
    cli("secrets", "set", "ONLY_STAGING", "x")
    diff = json.loads(cli("--json", "diff", "staging", "production").stdout)
    assert {d["key"]: d["action"] for d in diff} == {"DB_URL": "add", "MULTI": "add", "ONLY_STAGING": "add"}
    cli("promote", "staging", "production", "--keys", "DB_URL", "--yes")
    prod = json.loads(cli("--json", "--env", "production", "secrets", "list", "--values").stdout)
    assert {r["key"]: r["value"] for r in prod} == {"DB_URL": "postgres://db/app"}

    # errors are one line on stderr and a non-zero status, never a trace
    missing = cli("secrets", "get", "NOPE", check=False)
    assert (missing.returncode, "Traceback" in missing.stderr) == (1, False)
    assert "not_found" in missing.stderr
    cli("secrets", "delete", "ONLY_STAGING", "--yes")
    cli("logout")
    assert cli("whoami", check=False).returncode == 2


def _service_token(api: Api, environment: str = "staging") -> tuple[str, str, str]:
    owner, org = f"run-{secrets.token_hex(3)}@example.com", _slug("run")
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Run", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "P"})[0] == 201
    base = f"/v1/orgs/{org}/projects/p/environments/{environment}/secrets"
    assert api("PUT", f"{base}/DB_URL", user=owner, json={"value": "postgres://staging/app"})[0] == 200
    body = {"name": "ci", "project": "p", "environment": environment}
    _, _, created = api("POST", f"/v1/orgs/{org}/tokens", user=owner, json=body)
    return created["token"], owner, org


class Forwarder:
    """A TCP forwarder to the local server that can be switched off: "the server is down"."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()


def test_run_injects_the_secrets_passes_the_exit_code_and_falls_back(cli: CliRun, api: Api, local_stack: str) -> None:
    token, owner, org = _service_token(api)
    forwarder = Forwarder(local_stack)
    env = {"STRONGROOM_TOKEN": token, "STRONGROOM_DEBUG": "1", "STRONGROOM_API_URL": forwarder.url}
    printed = cli("run", "--", sys.executable, "-c", "import os; print(os.environ['DB_URL'])", env=env)
    assert printed.stdout == "postgres://staging/app\n"
    assert "200: fresh values" in printed.stderr
    # the second run of an unchanged environment is a 304
    again = cli("run", "--", sys.executable, "-c", "import os; print(os.environ['DB_URL'])", env=env)
    assert (again.stdout, "304" in again.stderr) == ("postgres://staging/app\n", True)
    # the child's exit status is the CLI's
    assert cli("run", "--", "sh", "-c", "exit 7", env=env, check=False).returncode == 7
    # a change is seen at once
    base = f"/v1/orgs/{org}/projects/p/environments/staging/secrets"
    assert api("PUT", f"{base}/DB_URL", user=owner, json={"value": "postgres://new/app"})[0] == 200
    fresh = cli("run", "--", sys.executable, "-c", "import os; print(os.environ['DB_URL'])", env=env)
    assert fresh.stdout == "postgres://new/app\n"

    # with the server unreachable: an error, unless --fallback (the cache)
    forwarder.stop()
    down = env
    failed = cli("run", "--", "true", env=down, check=False)
    assert failed.returncode == 1
    assert "--fallback uses the last values" in failed.stderr
    offline = cli(
        "run", "--fallback", "--", sys.executable, "-c", "import os; print(os.environ['DB_URL'])", env={**down}
    )
    assert offline.stdout == "postgres://new/app\n"


def test_run_with_a_login_uses_the_directorys_environment(cli: CliRun, api: Api, home: Path) -> None:
    _token, owner, org = _service_token(api)
    cli("login", "--dev-user", owner)
    (home / "work" / ".strongroom.toml").write_text(
        f'[strongroom]\norg = "{org}"\nproject = "p"\nenv = "staging"\n', encoding="utf-8"
    )
    out = cli("run", "--", sys.executable, "-c", "import os; print(os.environ['DB_URL'])")
    assert out.stdout == "postgres://staging/app\n"
    # flags win over the file
    assert cli("run", "--env", "production", "--", "sh", "-c", 'test -z "$DB_URL"').returncode == 0
    # the cache holds no plaintext
    cached = list((home / "home" / ".cache" / "strongroom").glob("*.bin"))
    assert cached
    assert all(b"postgres://" not in p.read_bytes() for p in cached)


def test_device_login_end_to_end(cli: CliRun, cli_env: dict[str, str], api: Api, local_stack: str, home: Path) -> None:
    email = f"device-{secrets.token_hex(3)}@example.com"
    assert api("GET", "/v1/me", user=email)[0] == 200
    login = subprocess.Popen(
        [CLI, "login", "--poll-timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env
    )
    assert login.stdout is not None
    line = login.stdout.readline()
    assert line.startswith("CODE ")
    code = line.split()[1]
    approved: list[int] = []
    threading.Thread(
        target=lambda: approved.append(api("POST", "/v1/auth/device/approve", user=email, json={"user_code": code})[0])
    ).start()
    assert login.wait(timeout=60) == 0, login.stderr.read() if login.stderr else ""
    assert approved == [204]
    assert json.loads(cli("--json", "whoami").stdout)["email"] == email
    stored = json.loads((home / "home" / ".config" / "strongroom" / "credentials.json").read_text())
    assert stored[local_stack]["token"].startswith("sr_pat_")
    # the code is spent
    time.sleep(0.1)
    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": code})[0] == 404


def test_bad_usage_is_a_clear_error(cli: CliRun) -> None:
    no_command = cli("run", env={"STRONGROOM_TOKEN": "sr_svc_x"}, check=False)
    assert (no_command.returncode, "no command" in no_command.stderr) == (2, True)
    not_logged_in = cli("run", "--", "true", check=False)
    assert (not_logged_in.returncode, "not logged in" in not_logged_in.stderr) == (2, True)
    bad_token = cli("run", "--", "true", env={"STRONGROOM_TOKEN": "sr_svc_nope"}, check=False)
    assert bad_token.returncode == 1
    assert "401" in bad_token.stderr


def test_login_with_a_token_for_ci(cli: CliRun, api: Api) -> None:
    token, _owner, _org = _service_token(api)
    cli("login", "--token", token)
    assert json.loads(cli("--json", "whoami").stdout)["environment"] == "staging"


def test_audit_export_follows_the_cursors(cli: CliRun) -> None:
    email, org = f"aud-{secrets.token_hex(3)}@example.com", _slug("aud")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "Audit", "--slug", org)
    cli("--org", org, "projects", "create", "Web")
    events = json.loads(cli("--org", org, "audit", "export").stdout)
    assert [e["action"] for e in events] == ["org.created", "project.created"]
    lines = cli("--org", org, "audit", "export", "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("leaf_index,id,created_at,action")
    assert len(lines) == 3


def _sealed_org(cli: CliRun, stack: LocalStack) -> tuple[str, str]:
    email, org = f"ver-{secrets.token_hex(3)}@example.com", _slug("ver")
    cli("login", "--dev-user", email)
    org_id = json.loads(cli("orgs", "create", "Verify", "--slug", org, "--json").stdout)["id"]
    for name in ("Web", "Api", "Jobs"):
        cli("--org", org, "projects", "create", name)
    seal(stack, org_id)
    return org, org_id


def _verify(cli: CliRun, org: str, *args: str) -> tuple[int, dict[str, Any]]:
    done = cli("--org", org, "audit", "verify", *args, "--json", check=False)
    return done.returncode, json.loads(done.stdout)


def test_audit_verify_checks_the_log_here_and_catches_a_rewrite(cli: CliRun, stack: LocalStack) -> None:
    org, org_id = _sealed_org(cli, stack)
    code, verdict = _verify(cli, org)
    assert (code, verdict["ok"], verdict["tree_size"], verdict["checked"]) == (0, True, 4, 4)
    # one event's inclusion proof
    event = json.loads(cli("--org", org, "audit", "export").stdout)[1]
    code, verdict = _verify(cli, org, "--event", event["id"])
    assert (code, verdict["ok"]) == (0, True)
    # an insider edits a sealed event in the table: the leaf no longer proves
    table, client = table_name(stack), aws.dynamodb()
    key = {"PK": {"S": f"AUDIT#{org_id}"}, "SK": {"S": f"EVT#{event['id']}"}}
    item = client.get_item(TableName=table, Key=key)["Item"]
    client.put_item(TableName=table, Item={**item, "ip": {"S": "10.9.9.9"}})
    code, verdict = _verify(cli, org)
    assert (code, verdict["ok"]) == (1, False)
    assert verdict["reason"].startswith(f"leaf {event['leaf_index']}"), verdict


def test_audit_verify_rejects_a_head_signed_by_another_key(cli: CliRun, stack: LocalStack) -> None:
    import base64

    import rfc8785
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    org, org_id = _sealed_org(cli, stack)
    table, client = table_name(stack), aws.dynamodb()
    key = {"PK": {"S": f"AUDIT#{org_id}"}, "SK": {"S": "TREE"}}
    signed = db.deserialize(client.get_item(TableName=table, Key=key)["Item"])["signed"]
    # someone with table write but not the KMS key signs the head with a key of their own
    fields = {k: signed[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")}
    forged_sig = ec.generate_private_key(ec.SECP256R1()).sign(rfc8785.dumps(fields), ec.ECDSA(hashes.SHA256()))
    forged = {**signed, "signature": base64.b64encode(forged_sig).decode()}
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET signed = :s",
        ExpressionAttributeValues={":s": db.serialize({"s": forged})["s"]},
    )
    code, verdict = _verify(cli, org)
    assert (code, verdict["ok"]) == (1, False)
    assert verdict["reason"].startswith("signature"), verdict


def test_every_read_command_works_with_a_service_token(cli: CliRun, api: Api, home: Path) -> None:
    token, owner, org = _service_token(api)
    env = {"STRONGROOM_TOKEN": token}
    base = f"/v1/orgs/{org}/projects/p/environments/staging"
    assert api("PUT", f"{base}/secrets/API_KEY", user=owner, json={"value": "k-1"})[0] == 200

    assert cli("secrets", "list", env=env).stdout == "API_KEY\nDB_URL\n"
    listed = json.loads(cli("secrets", "list", "--values", "--prefix", "DB", "--json", env=env).stdout)
    assert listed == [{"key": "DB_URL", "value": "postgres://staging/app"}]
    assert cli("secrets", "get", "DB_URL", env=env).stdout == "postgres://staging/app\n"
    assert json.loads(cli("secrets", "get", "API_KEY", "--json", env=env).stdout)["value"] == "k-1"
    for fmt in ("dotenv", "shell"):
        _, _, expected = api("GET", f"{base}/export?format={fmt}", user=owner)
        assert cli("secrets", "export", "--format", fmt, env=env).stdout == expected
    exported = json.loads(cli("secrets", "export", "--format", "json", env=env).stdout)
    assert exported == {"API_KEY": "k-1", "DB_URL": "postgres://staging/app"}
    assert json.loads(cli("whoami", "--json", env=env).stdout)["environment"] == "staging"
    # the token's environment, whatever a .strongroom.toml here names (as with `run`)
    (home / "work" / ".strongroom.toml").write_text('[strongroom]\nenv = "production"\n', encoding="utf-8")
    assert cli("secrets", "get", "DB_URL", env=env).stdout == "postgres://staging/app\n"

    missing = cli("secrets", "get", "NOPE", env=env, check=False)
    assert (missing.returncode, "not_found" in missing.stderr) == (1, True)
    assert "no such route" not in missing.stderr
    # what the runtime API cannot serve is a clear refusal, not a 404
    (home / "work" / ".strongroom.toml").unlink()
    for args in (
        ("secrets", "versions", "DB_URL"),
        ("secrets", "get", "DB_URL", "--version", "1"),
        ("secrets", "export", "--format", "yaml"),
    ):
        refused = cli(*args, env=env, check=False)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "runtime API" in refused.stderr
        assert "no such route" not in refused.stderr
    for args in (("orgs", "list"), ("--org", org, "projects", "list"), ("--org", org, "audit", "verify")):
        refused = cli(*args, env=env, check=False)
        assert (refused.returncode, "needs a user login" in refused.stderr) == (2, True), (args, refused.stderr)


def test_output_options_are_accepted_anywhere(cli: CliRun, home: Path) -> None:
    email, org = f"json-{secrets.token_hex(3)}@example.com", _slug("json")
    cli("login", "--dev-user", email)
    assert json.loads(cli("whoami", "--json").stdout)["email"] == email
    assert json.loads(cli("orgs", "create", "J", "--slug", org, "--json").stdout)["slug"] == org
    cli("--org", org, "projects", "create", "Web")
    cli("setup", "--org", org, "--project", "web", "--env", "staging")
    cli("secrets", "set", "A", "1")
    for args in (
        ("--json", "secrets", "list"),
        ("secrets", "--json", "list"),
        ("secrets", "list", "--json"),
        ("secrets", "list", "--values", "--json"),
        ("secrets", "list", "--json", "--values"),
    ):
        assert [r["key"] for r in json.loads(cli(*args).stdout)] == ["A"], args
    assert json.loads(cli("orgs", "list", "--json").stdout)[0]["slug"] == org
    assert json.loads(cli("envs", "list", "--json").stdout)[0]["slug"] in {"development", "staging", "production"}
    assert json.loads(cli("secrets", "set", "B", "2", "--json").stdout)["version"] == 1


def test_secrets_set_reads_the_value_from_stdin_off_a_terminal(cli: CliRun) -> None:
    email, org = f"stdin-{secrets.token_hex(3)}@example.com", _slug("stdin")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "S", "--slug", org)
    cli("--org", org, "projects", "create", "Web")
    cli("setup", "--org", org, "--project", "web", "--env", "staging")
    cli("secrets", "set", "PIPED", stdin="from a pipe\n")
    assert cli("secrets", "get", "PIPED").stdout == "from a pipe\n\n"  # verbatim: the newline is the value's
    both = cli("secrets", "set", "PIPED", "v", "--stdin", stdin="x", check=False)
    assert both.returncode == 2


def test_secrets_delete_needs_yes_without_a_terminal(cli: CliRun) -> None:
    email, org = f"del-{secrets.token_hex(3)}@example.com", _slug("del")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "D", "--slug", org)
    cli("--org", org, "projects", "create", "Web")
    cli("setup", "--org", org, "--project", "web", "--env", "staging")
    cli("secrets", "set", "DOOMED", "x")
    refused = cli("secrets", "delete", "DOOMED", check=False)
    assert (refused.returncode, "--yes" in refused.stderr) == (2, True)
    assert cli("secrets", "get", "DOOMED").stdout == "x\n"
    cli("secrets", "delete", "DOOMED", "--yes")
    assert cli("secrets", "get", "DOOMED", check=False).returncode == 1


class Terminal:
    """The CLI on a real pseudo-terminal: what it prints, what the terminal echoes, and keys typed."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [CLI, *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.output = b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += data
        return bool(data)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"never printed {text!r}; printed {self.output!r}")

    def wait_for_echo_off(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, "the terminal still echoes what is typed"
            self._read(0.05)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < deadline:
            pass
        code = self.process.wait(timeout=10)
        os.close(self.master)
        return code


def _environment_on_terminal(cli: CliRun, prefix: str) -> None:
    email, org = f"{prefix}-{secrets.token_hex(3)}@example.com", _slug(prefix)
    cli("login", "--dev-user", email)
    cli("orgs", "create", "T", "--slug", org)
    cli("--org", org, "projects", "create", "Web")
    cli("setup", "--org", org, "--project", "web", "--env", "staging")


def test_secrets_set_on_a_terminal_asks_for_the_value_without_echoing_it(
    cli: CliRun, cli_env: dict[str, str], home: Path
) -> None:
    _environment_on_terminal(cli, "tty")
    value = f"hunter2-{secrets.token_hex(8)}"
    terminal = Terminal(["secrets", "set", "TYPED"], cli_env, home / "work")
    terminal.wait_for("value for TYPED")
    terminal.wait_for_echo_off()
    terminal.type(value + "\n")
    assert terminal.finish() == 0, terminal.output
    assert value.encode() not in terminal.output  # neither echoed nor printed
    assert cli("secrets", "get", "TYPED").stdout == value + "\n"


def test_secrets_delete_on_a_terminal_asks_first(cli: CliRun, cli_env: dict[str, str], home: Path) -> None:
    _environment_on_terminal(cli, "ask")
    cli("secrets", "set", "KEPT", "x")
    declined = Terminal(["secrets", "delete", "KEPT"], cli_env, home / "work")
    declined.wait_for("delete KEPT from staging? [y/N]")
    declined.type("n\n")
    assert declined.finish() == 1, declined.output  # aborted
    assert cli("secrets", "get", "KEPT").stdout == "x\n"
    confirmed = Terminal(["secrets", "delete", "KEPT"], cli_env, home / "work")
    confirmed.wait_for("delete KEPT from staging? [y/N]")
    confirmed.type("y\n")
    assert confirmed.finish() == 0, confirmed.output
    assert cli("secrets", "get", "KEPT", check=False).returncode == 1


def test_register_and_login_with_a_password(cli: CliRun) -> None:
    email, password = f"cli-{secrets.token_hex(3)}@example.com", "plover-quartz-umbrella-9\n"
    registered = json.loads(cli("--json", "register", "--email", email, "--password-stdin", stdin=password).stdout)
    assert registered["user"]["email"] == email
    logged_in = json.loads(cli("--json", "login", "--email", email, "--password-stdin", stdin=password).stdout)
    assert logged_in["user"]["email"] == email
    assert "token" not in logged_in
    assert json.loads(cli("--json", "whoami").stdout)["email"] == email
    refused = cli("login", "--email", email, "--password-stdin", stdin="wrong-password-xyz-1\n", check=False)
    assert refused.returncode != 0
    assert "invalid_credentials" in refused.stderr


def test_a_password_account_from_the_cli_2fa_and_reset_included(cli: CliRun, api: Api) -> None:
    import re

    import pyotp

    email, password = f"acct-{secrets.token_hex(4)}@example.com", "correct horse battery staple 42"
    cli("register", "--email", email, "--password-stdin", stdin=password + "\n")
    cli("login", "--email", email, "--password-stdin", stdin=password + "\n")
    assert json.loads(cli("whoami", "--json").stdout)["email"] == email

    # email verification through the local mailbox
    cli("send-verification")
    [mail] = api("GET", f"/_local/mailbox?to={email}")[2]["data"]
    token = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", mail["text"]).group(1)  # type: ignore[union-attr]
    assert json.loads(cli("verify-email", token, "--json").stdout)["email_verified"] is True
    assert cli("verify-email", token, check=False).returncode == 1  # once

    # 2FA: setup, enable with a code, then a login needs one
    setup = json.loads(cli("2fa", "setup", "--json").stdout)
    totp = pyotp.TOTP(setup["secret"])
    codes = json.loads(cli("2fa", "enable", totp.now(), "--json").stdout)["recovery_codes"]
    assert len(codes) == 10
    cli("logout")
    refused = cli("login", "--email", email, "--password-stdin", stdin=password + "\n", check=False)
    assert (refused.returncode, "totp_required" in refused.stderr) == (1, True)
    cli("login", "--email", email, "--password-stdin", "--totp", codes[0], stdin=password + "\n")
    assert json.loads(cli("whoami", "--json").stdout)["email"] == email

    # forgot → reset through the mailed token; the old password no longer works
    cli("forgot-password", "--email", email)
    reset_mail = [m for m in api("GET", f"/_local/mailbox?to={email}")[2]["data"] if "reset-password" in m["text"]]
    reset = re.search(r"reset-password\?token=([A-Za-z0-9_-]+)", reset_mail[0]["text"]).group(1)  # type: ignore[union-attr]
    new_password = "another horse battery staple 43"
    cli("reset-password", reset, "--password-stdin", stdin=new_password + "\n")
    old = cli("login", "--email", email, "--password-stdin", "--totp", codes[1], stdin=password + "\n", check=False)
    assert old.returncode == 1
    cli("login", "--email", email, "--password-stdin", "--totp", codes[2], stdin=new_password + "\n")
    assert password not in json.dumps(api("GET", "/_local/mailbox?to=" + email)[2])


def test_roles_and_members_from_the_cli(cli: CliRun, api: Api) -> None:
    email, org = f"rm-{secrets.token_hex(3)}@example.com", _slug("rm")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "Roles", "--slug", org)
    created = json.loads(
        cli(
            "--org", org, "roles", "create", "Auditor", "--slug", "auditor",
            "--permission", "audit.read=all", "--permission", "secrets.read=non_production", "--json",
        ).stdout
    )  # fmt: skip
    assert created["permissions"] == {"audit.read": "all", "secrets.read": "non_production"}
    assert [r["slug"] for r in json.loads(cli("--org", org, "roles", "list", "--json").stdout)] == ["auditor"]
    bad = cli("--org", org, "roles", "create", "Bad", "--permission", "audit.read", check=False)
    assert bad.returncode == 2
    # a member invited to it, accepted, moved to viewer, removed
    member = f"rm-m-{secrets.token_hex(3)}@example.com"
    invited = json.loads(cli("--org", org, "members", "invite", member, "--role", "auditor", "--json").stdout)
    assert invited["role"] == "auditor"
    assert invited["token"].startswith("sr_inv_")
    assert api("POST", f"/v1/invitations/{invited['token']}/accept", user=member)[0] == 200
    listed = json.loads(cli("--org", org, "members", "list", "--json").stdout)
    user_id = next(m["user_id"] for m in listed if m["email"] == member)
    assert {m["email"]: m["role"] for m in listed}[member] == "auditor"
    assert cli("--org", org, "roles", "delete", "auditor", "--yes", check=False).returncode != 0  # in use: 409
    changed = json.loads(cli("--org", org, "members", "set-role", user_id, "viewer", "--json").stdout)
    assert changed["role"] == "viewer"
    assert json.loads(cli("--org", org, "roles", "delete", "auditor", "--yes", "--json").stdout)["deleted"] is True
    assert json.loads(cli("--org", org, "members", "remove", user_id, "--yes", "--json").stdout)["removed"] is True
    assert [m["email"] for m in json.loads(cli("--org", org, "members", "list", "--json").stdout)] == [email]


def test_single_sign_on_from_the_cli(cli: CliRun, api: Api) -> None:
    email, org = f"sso-{secrets.token_hex(3)}@example.com", _slug("sso")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "SSO", "--slug", org)
    domain = f"{org}.test"
    args = ["--org", org, "sso", "oidc", "set", "--issuer", "https://idp.example.test", "--client-id", "cli"]
    done = cli(*args, "--domain", domain, "--default-role", "developer", "--client-secret-stdin", "--json",
               stdin="cli-secret-value\n")  # fmt: skip
    created = json.loads(done.stdout)
    assert created["domains"] == [domain]
    assert created["redirect_uri"].endswith("/v1/sso/oidc/callback")
    shown = cli("--org", org, "sso", "oidc", "show", "--json")
    assert json.loads(shown.stdout)["client_secret_set"] is True
    assert "cli-secret-value" not in done.stdout + done.stderr + shown.stdout
    assert api("GET", f"/v1/sso/by-domain?domain={domain}")[0] == 200
    refused = cli(
        *args, "--domain", domain, "--default-role", "owner", "--client-secret-stdin", stdin="x\n", check=False
    )
    assert refused.returncode != 0
    assert "default_role" in refused.stderr
    assert json.loads(cli("--org", org, "sso", "oidc", "delete", "--json").stdout)["deleted"] is True
    assert cli("--org", org, "sso", "oidc", "show", check=False).returncode != 0


def test_scim_tokens_from_the_cli(cli: CliRun, api: Api) -> None:
    email, org = f"scim-{secrets.token_hex(3)}@example.com", _slug("scim")
    cli("login", "--dev-user", email)
    cli("orgs", "create", "SCIM", "--slug", org)
    created = json.loads(cli("--org", org, "scim", "tokens", "create", "okta", "--json").stdout)
    assert created["token"].startswith("sr_scim_")
    assert created["name"] == "okta"
    listed = cli("--org", org, "scim", "tokens", "list", "--json").stdout
    assert [t["id"] for t in json.loads(listed)] == [created["id"]]
    assert created["token"] not in listed
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert api("GET", "/scim/v2/Users", headers=headers)[0] == 200
    revoked = json.loads(cli("--org", org, "scim", "tokens", "revoke", created["id"], "--yes", "--json").stdout)
    assert revoked == {"id": created["id"], "revoked": True}
    assert api("GET", "/scim/v2/Users", headers=headers)[0] == 401
    assert json.loads(cli("--org", org, "scim", "tokens", "list", "--json").stdout) == []
