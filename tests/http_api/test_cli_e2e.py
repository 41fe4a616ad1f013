"""The CLI's end-to-end commands, in process (click's runner, this checkout's `strongroom_cli`)
against the local server: `keys init`, `envs create --client-encrypted`, `secrets set|get|list`
encrypting and decrypting locally (the raw API shows only ciphertext), `grant` to a member who
then reads the value, `grants list|revoke`, `rekey`, `keys change-passphrase`, and a client-made
token's `run` and `run --watch` (the change decrypted by the token's own key pair)."""

from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from strongroom_cli import e2e
from strongroom_cli.commands import cli
from support import Api, unique_email

pytestmark = pytest.mark.http


def _environ(env: dict[str, str]) -> dict[str, str]:
    """A CLI process's environment: its own HOME (from `env`), this checkout's CLI, no keyring."""
    return {
        "PATH": os.environ["PATH"],
        "XDG_CONFIG_HOME": f"{env['HOME']}/.config",
        "XDG_CACHE_HOME": f"{env['HOME']}/.cache",
        "STRONGROOM_NO_KEYRING": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "cli" / "src"),
        **env,
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`strongroom …` as a process (`run` replaces itself with the command), this checkout's CLI."""
    command = [sys.executable, "-m", "strongroom_cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=_environ(env), timeout=60, check=False)


def watch(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`strongroom …` as a long-running process (`run --watch` stays the command's parent)."""
    command = [sys.executable, "-m", "strongroom_cli.main", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environ(env))


def until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Cli:
    def __init__(self, home: Path, url: str, email: str, passphrase: str) -> None:
        self.env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "STRONGROOM_NO_KEYRING": "1",
            "STRONGROOM_API_URL": url,
            "STRONGROOM_PASSPHRASE": passphrase,
            "STRONGROOM_NEW_PASSPHRASE": passphrase,
        }
        home.mkdir()
        assert self("login", "--dev-user", email).exit_code == 0

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={**self.env, **(env or {})}, catch_exceptions=False)

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        result = self(*args, "--json", env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def test_the_cli_encrypts_grants_and_rekeys(
    api: Api, local_stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Argon2id's cost travels with each sealed key: sealed cheaply here, every unlock is cheap (the
    # default, RFC 9106's 64 MiB / 3 passes / 4 lanes, costs about 0.5 s an unlock)
    monkeypatch.setattr(e2e, "ARGON2_DEFAULTS", {"m": 1024, "t": 1, "p": 1})
    alice, bob, slug = unique_email("alice"), unique_email("bob"), f"cli-e2e-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=alice, json={"name": "CLI E2E", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=alice, json={"name": "Web"})[0] == 201
    _, _, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=alice, json={"email": bob, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=bob)[0] == 200
    a = Cli(tmp_path / "alice", local_stack, alice, "alice passphrase")
    b = Cli(tmp_path / "bob", local_stack, bob, "bob passphrase")
    where = ["--org", slug, "--project", "web"]
    canary = f"canary-{pysecrets.token_hex(12)}"

    assert a.json("keys", "init")["suite"] == "xwing"
    assert b.json("keys", "init", "--suite", "x25519")["suite"] == "x25519"
    assert a("keys", "init").exit_code == 2  # one per suite, unless --force
    env = a.json(*where, "envs", "create", "Vault", "--client-encrypted")
    assert env["encryption"] == "client"
    here = [*where, "--env", env["id"]]
    assert a.json(*here, "secrets", "set", "DB_URL", canary)["version"] == 1
    assert a(*here, "secrets", "get", "DB_URL").stdout.strip() == canary
    # the server holds only ciphertext
    _, _, raw = api("GET", f"/v1/orgs/{slug}/projects/web/environments/{env['id']}/secrets/DB_URL", user=alice)
    assert canary not in json.dumps(raw)
    # import and export: parsed, encrypted, decrypted and rendered here
    dotenv = tmp_path / "in.env"
    dotenv.write_text('API_TOKEN="it\'s ${none}"\nPLAIN=p\n')
    assert a.json(*here, "secrets", "import", str(dotenv)) == {"created": 2, "updated": 0, "unchanged": 0}
    exported = a(*here, "secrets", "export", "--format", "json").stdout
    assert json.loads(exported) == {"API_TOKEN": "it's ${none}", "DB_URL": canary, "PLAIN": "p"}
    assert "PLAIN='p'" in a(*here, "secrets", "export").stdout
    as_yaml = yaml.safe_load(a(*here, "secrets", "export", "--format", "yaml").stdout)
    assert as_yaml == {"API_TOKEN": "it's ${none}", "DB_URL": canary, "PLAIN": "p"}
    manifest = yaml.safe_load(a(*here, "secrets", "export", "--format", "k8s").stdout)
    assert manifest["kind"] == "Secret"
    assert base64.b64decode(manifest["data"]["DB_URL"]).decode() == canary
    _, _, listed = api("GET", f"/v1/orgs/{slug}/projects/web/environments/{env['id']}/secrets", user=alice)
    assert not {"p", "it's ${none}", canary} & {i["value"] for i in listed["data"]}

    # a wrong passphrase opens nothing
    wrong = a(*here, "secrets", "get", "DB_URL", env={"STRONGROOM_PASSPHRASE": "nope"})
    assert wrong.exit_code != 0
    assert canary not in wrong.output

    # Bob, granted with the key he published, reads it; revoked and after a rekey, he cannot
    assert b(*here, "secrets", "get", "DB_URL").exit_code != 0
    granted = a.json(*here, "grant", bob)
    assert b(*here, "secrets", "get", "DB_URL").stdout.strip() == canary
    assert {g["principal"] for g in a.json(*here, "grants", "list")} >= {granted["principal"]}
    assert a.json(*here, "grants", "revoke", granted["id"], "--yes")["revoked"] is True
    done = a.json(*here, "rekey")
    assert (done["key_version"], done["values"]) == (2, 3)
    assert {i["key"]: i["value"] for i in a.json(*here, "secrets", "list", "--values")}["DB_URL"] == canary
    assert b(*here, "secrets", "get", "DB_URL").exit_code != 0

    # `run` injects the plaintext: a user's (the passphrase opens the grant), and a client-made
    # token's alone, in a fresh HOME (its key pair derives from the token), cached ciphertext and all
    show = [sys.executable, "-c", "import os; print(os.environ['DB_URL'])"]
    assert run(a.env, *here, "run", "--", *show).stdout.strip() == canary
    token = a.json(*here, "tokens", "create", "ci")["token"]
    ci = {"HOME": str(tmp_path / "ci"), "STRONGROOM_API_URL": local_stack, "STRONGROOM_TOKEN": token}
    (tmp_path / "ci").mkdir()
    done = run(ci, "run", "--", *show)
    assert done.stdout.strip() == canary, done.stderr
    assert run(ci, "run", "--", *show).stdout.strip() == canary  # 304: from the cache
    cached = b"".join(p.read_bytes() for p in (tmp_path / "ci").rglob("*") if p.is_file())
    assert canary.encode() not in cached
    assert CliRunner().invoke(cli, ["secrets", "get", "DB_URL"], env=ci).stdout.strip() == canary
    # and under --watch, a change (encrypted by Alice's CLI) reaches the command decrypted
    log = tmp_path / "watched.log"
    record = [
        sys.executable,
        "-c",
        f"import os, time; open({str(log)!r}, 'a').write(os.environ['DB_URL'] + '\\n'); time.sleep(60)",
    ]
    watched = watch(ci, "run", "--watch", "--interval", "1", "--", *record)
    try:
        assert until(lambda: log.exists() and log.read_text().split() == [canary]), watched.stderr
        changed = f"changed-{pysecrets.token_hex(8)}"
        assert a.json(*here, "secrets", "set", "DB_URL", changed)["version"] >= 2
        assert until(lambda: log.read_text().split() == [canary, changed]), log.read_text()
    finally:
        watched.terminate()
        _, stderr = watched.communicate(timeout=15)
    assert changed not in stderr
    assert canary not in stderr

    # a new passphrase keeps the key pair (and so the grant)
    assert a.json("keys", "change-passphrase", env={"STRONGROOM_NEW_PASSPHRASE": "second one"})[0]["resealed"]
    assert a(*here, "secrets", "get", "DB_URL", env={"STRONGROOM_PASSPHRASE": "second one"}).stdout.strip() == changed
