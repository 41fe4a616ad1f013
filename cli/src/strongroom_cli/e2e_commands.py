"""The CLI's end-to-end encryption: `keys init|show|change-passphrase`, `envs create
--client-encrypted`, `grant`, `grants list|revoke`, `rekey`, and the transparent encryption and
decryption of `secrets set|get|list` in a client-encrypted environment (e2e.py holds the byte
formats). The passphrase comes from STRONGROOM_PASSPHRASE, else a hidden prompt; a new one (keys
init, change-passphrase) from STRONGROOM_NEW_PASSPHRASE, else a prompt asked twice."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from strongroom_cli import formats
from strongroom_cli.commands import State, cli, emit, fail, resource_commands

if TYPE_CHECKING:
    from strongroom_cli import e2e
else:

    class _Lazy:
        """strongroom_cli.e2e on first use: `cryptography` costs every other command ~20 ms to import."""

        def __getattr__(self, name: str) -> Any:
            from strongroom_cli import e2e as module  # noqa: PLC0415

            return getattr(module, name)

    e2e = _Lazy()

SUITES = ("xwing", "x25519")
DEFAULT_SUITE = "xwing"  # e2e.DEFAULT_SUITE, named here without importing it


def _passphrase(*, new: bool = False) -> str:
    name = "STRONGROOM_NEW_PASSPHRASE" if new else "STRONGROOM_PASSPHRASE"
    given = os.environ.get(name)
    if given:
        return given
    label = "new passphrase for your private key" if new else "passphrase of your private key"
    return str(click.prompt(label, hide_input=True, confirmation_prompt=new, err=True))


def _my_keys(state: State) -> dict[str, dict[str, Any]]:
    return {k["suite"]: k for k in state.call("GET", "/v1/me/keys")["data"]}


def _put_keys(state: State, keys: dict[str, dict[str, Any]]) -> Any:
    body = [{f: k[f] for f in ("suite", "public_key", "encrypted_private_key")} for k in keys.values()]
    return state.call("PUT", "/v1/me/keys", body={"keys": body})


def unlock(state: State, suite: str | None = None) -> e2e.KeyPair:
    """The caller's key pair of `suite` (the default suite's, else any), opened with the passphrase."""
    keys = _my_keys(state)
    found = keys.get(suite) if suite else (keys.get(e2e.DEFAULT_SUITE) or next(iter(keys.values()), None))
    if found is None:
        fail("you have no key pair for this: run `strongroom keys init`", 2)
    try:
        return e2e.open_private_key(
            found["suite"], e2e.unb64(found["public_key"]), found["encrypted_private_key"], _passphrase()
        )
    except e2e.WrongPassphrase as exc:
        fail(str(exc))


# --------------------------------------------------------------------------- keys


@cli.group()
def keys() -> None:
    """Your end-to-end key pairs (for client-encrypted environments)."""


@keys.command("init")
@click.option("--suite", type=click.Choice(SUITES), default=DEFAULT_SUITE, show_default=True)
@click.option("--force", is_flag=True, help="Replace a key pair of this suite (its grants stop opening)")
@click.pass_obj
def keys_init(state: State, suite: str, force: bool) -> None:
    """Make a key pair; publish its public key and its private key sealed under your passphrase."""
    state.user_only()
    keys_ = _my_keys(state)
    if suite in keys_ and not force:
        fail(f"you have a {suite} key pair already (--force replaces it, and its grants stop opening)", 2)
    pair = e2e.keypair(suite)  # type: ignore[arg-type]
    sealed = e2e.seal_private_key(pair, _passphrase(new=True))
    keys_[suite] = {"suite": suite, "public_key": e2e.b64(pair.public_bytes), "encrypted_private_key": sealed}
    _put_keys(state, keys_)
    emit(state, {"suite": suite, "fingerprint": _fingerprint(keys_[suite]["public_key"])}, ["suite", "fingerprint"])


def _fingerprint(public_key: str) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


@keys.command("show")
@click.pass_obj
def keys_show(state: State) -> None:
    state.user_only()
    rows = [
        {"suite": k["suite"], "fingerprint": _fingerprint(k["public_key"]), "created_at": k["created_at"]}
        for k in _my_keys(state).values()
    ]
    emit(state, rows, ["suite", "fingerprint", "created_at"])


@keys.command("change-passphrase")
@click.pass_obj
def keys_change_passphrase(state: State) -> None:
    """Seal your private keys under a new passphrase (the key pairs, and so your grants, stay)."""
    state.user_only()
    keys_ = _my_keys(state)
    if not keys_:
        fail("you have no key pair: run `strongroom keys init`", 2)
    old = _passphrase()
    pairs = []
    for k in keys_.values():
        try:
            pairs.append(e2e.open_private_key(k["suite"], e2e.unb64(k["public_key"]), k["encrypted_private_key"], old))
        except e2e.WrongPassphrase as exc:
            fail(str(exc))
    new = _passphrase(new=True)
    for pair in pairs:
        keys_[pair.suite]["encrypted_private_key"] = e2e.seal_private_key(pair, new)
    _put_keys(state, keys_)
    emit(state, [{"suite": p.suite, "resealed": True} for p in pairs], ["suite", "resealed"])


# --------------------------------------------------------------------------- a client environment


def create_client_environment(state: State, path: str, body: dict[str, Any]) -> Any:
    """POST …/environments for a client-encrypted environment: its ID and data key made here,
    the creator's grant sealed to their own public key (no passphrase needed)."""
    keys_ = _my_keys(state)
    mine = keys_.get(e2e.DEFAULT_SUITE) or next(iter(keys_.values()), None)
    if mine is None:
        fail("a client-encrypted environment needs your key pair: run `strongroom keys init`", 2)
    env_id, data_key = e2e.new_id("env"), e2e.new_data_key()
    wrapped = e2e.seal_grant(mine["suite"], e2e.unb64(mine["public_key"]), data_key, env_id=env_id, key_version=1)
    body = {**body, "encryption": "client", "id": env_id, "grant": {"suite": mine["suite"], "wrapped_key": wrapped}}
    return state.call("POST", path, body=body)


class Opened:
    """A client-encrypted environment's data key, as this caller's grant opens it."""

    def __init__(self, state: State) -> None:
        self.state = state
        if state.settings.is_service_token:
            who = state.call("GET", "/runtime/v1")
            self.org_id, self.env_id = who["org_id"], who["environment_id"]
            grant = state.call("GET", "/runtime/v1/key")
            pair = e2e.token_keypair(state.settings.token, grant["suite"])
        else:
            path = state.env_path()
            env = state.call("GET", path)
            self.org_id = state.call("GET", f"/v1/orgs/{state.settings.org}")["id"]
            self.env_id = env["id"]
            grant = state.call("GET", f"{path}/key")
            pair = unlock(state, grant["suite"])
        self.key_version = int(grant["key_version"])
        self.data_key = e2e.open_grant(pair, grant["wrapped_key"], env_id=self.env_id, key_version=self.key_version)

    def encrypt(self, name: str, value: str) -> str:
        return e2e.encrypt_value(
            self.data_key, value, org_id=self.org_id, env_id=self.env_id, key=name, key_version=self.key_version
        )

    def decrypt(self, name: str, value: str) -> str:
        return e2e.decrypt_value(
            self.data_key, value, org_id=self.org_id, env_id=self.env_id, key=name, key_version=self.key_version
        )


def opened_if_client(state: State) -> Opened | None:
    """The data key when the environment these settings name is client-encrypted, else None: for
    a user, the environment says so (one request); for a service token, whether it holds a grant."""
    if state.settings.is_service_token:
        try:
            probe = state.client.get("/runtime/v1/key")
        except Exception:  # noqa: BLE001 - unreachable: the command's own request says so
            return None
        return Opened(state) if probe.status_code == 200 else None
    return Opened(state) if state.call("GET", state.env_path()).get("encryption") == "client" else None


# --------------------------------------------------------------------------- grants


class Directory:
    """Who may receive a grant, and the public key each published: the org's members (by email and
    ID) and its client-made tokens (by ID), read once."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._found: dict[str, tuple[dict[str, str], str, str] | None] | None = None

    def _load(self) -> dict[str, tuple[dict[str, str], str, str] | None]:
        org, found = self.state.settings.org, {}
        cursor = None
        while True:
            page = self.state.call("GET", f"/v1/orgs/{org}/members?limit=500{f'&cursor={cursor}' if cursor else ''}")
            for m in page["data"]:
                published = {k["suite"]: k["public_key"] for k in m.get("public_keys", [])}
                suite = e2e.DEFAULT_SUITE if e2e.DEFAULT_SUITE in published else next(iter(published), None)
                entry = ({"type": "user", "id": m["user_id"]}, suite, published[suite]) if suite else None
                found[m["user_id"]] = found[m["email"]] = entry
            cursor = page.get("next_cursor")
            if not cursor:
                break
        for t in self.state.call("GET", f"/v1/orgs/{org}/tokens?limit=500")["data"]:
            if t.get("public_key"):
                found[t["id"]] = ({"type": "token", "id": t["id"]}, t["suite"], t["public_key"])
        return found

    def of(self, who: str) -> tuple[dict[str, str], str, str]:
        """(principal, suite, public key) of a member (email or ID) or a client-made token (ID)."""
        if self._found is None:
            self._found = self._load()
        if who not in self._found:
            fail(f"{who} is neither a member nor a client-made token of this org", 2)
        entry = self._found[who]
        if entry is None:
            fail(f"{who} has published no public key (they run `strongroom keys init`)", 2)
        return entry


def seal_for(directory: Directory, who: str, data_key: bytes, *, env_id: str, key_version: int) -> dict[str, Any]:
    principal, suite, public_key = directory.of(who)
    wrapped = e2e.seal_grant(suite, e2e.unb64(public_key), data_key, env_id=env_id, key_version=key_version)  # type: ignore[arg-type]
    return {"principal": principal, "suite": suite, "wrapped_key": wrapped}


@cli.command()
@click.argument("who")
@click.pass_obj
def grant(state: State, who: str) -> None:
    """Give WHO (a member's email or ID, or a client-made token's ID) the environment's key,
    sealed here to the public key they published."""
    state.user_only()
    opened = Opened(state)
    sealed = seal_for(Directory(state), who, opened.data_key, env_id=opened.env_id, key_version=opened.key_version)
    made = state.call("POST", f"{state.env_path()}/grants", body={**sealed, "key_version": opened.key_version})
    row = {"id": made["id"], "type": made["principal"]["type"], "principal": made["principal"]["id"]}
    emit(state, {**row, "suite": made["suite"]}, ["id", "type", "principal", "suite"])


@cli.group()
def grants() -> None:
    """The grants of a client-encrypted environment."""


def _grant_row(g: dict[str, Any]) -> dict[str, Any]:
    principal = g["principal"]
    return {"id": g["id"], "type": principal["type"], "principal": principal["id"], "suite": g["suite"],
            "key_version": g["key_version"]}  # fmt: skip


_GRANT = ["id", "type", "principal", "suite", "key_version"]
resource_commands(grants, lambda state: f"{state.env_path()}/grants", _GRANT, noun="grant", show=False,
                  remove="revoke", paginated=False, row=_grant_row,
                  remove_help="then `strongroom rekey`, so that what it opened opens nothing new")  # fmt: skip


@cli.command()
@click.pass_obj
def rekey(state: State) -> None:
    """A new key for the environment: every value re-encrypted here, every remaining grant sealed
    again, in one change (after a member leaves or a grant is revoked)."""
    state.user_only()
    opened = Opened(state)
    path = state.env_path()
    plain = {name: opened.decrypt(name, value) for name, value in secret_values(state, path).items()}
    new_key, version = e2e.new_data_key(), opened.key_version + 1
    directory = Directory(state)
    sealed = [
        seal_for(directory, g["principal"]["id"], new_key, env_id=opened.env_id, key_version=version)
        for g in state.call("GET", f"{path}/grants")["data"]
    ]
    values = {
        name: e2e.encrypt_value(
            new_key, text, org_id=opened.org_id, env_id=opened.env_id, key=name, key_version=version
        )
        for name, text in plain.items()
    }
    done = state.call("POST", f"{path}/rekey", body={"key_version": version, "grants": sealed, "values": values})
    emit(state, done, ["key_version", "revision", "grants", "values"])


def secret_values(state: State, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    cursor = None
    while True:
        page = state.call("GET", f"{path}/secrets?limit=500{f'&cursor={cursor}' if cursor else ''}")
        out.update({i["key"]: i["value"] for i in page["data"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return out


# --------------------------------------------------------------------------- client-made tokens


def client_token(state: State, env: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A service token for the client-encrypted environment `env`, made here: the server gets its
    ID, its SHA-256 and its public key (derived from the token, so the token alone opens its
    grant, which is given to it here). The token is shown this once."""
    path = state.env_path()
    key = Opened(state)
    token_id = e2e.new_id("tok")
    token = e2e.service_token(token_id)
    pair = e2e.token_keypair(token)
    body = {
        **body,
        "environment": env["id"],
        "token_id": token_id,
        "token_hash": e2e.token_hash(token),
        "public_key": e2e.b64(pair.public_bytes),
        "suite": pair.suite,
    }
    made = state.call("POST", f"/v1/orgs/{state.settings.org}/tokens", body=body)
    wrapped = e2e.seal_grant(
        pair.suite, pair.public_bytes, key.data_key, env_id=key.env_id, key_version=key.key_version
    )
    grant_body = {"principal": {"type": "token", "id": token_id}, "suite": pair.suite, "wrapped_key": wrapped}
    state.call("POST", f"{path}/grants", body={**grant_body, "key_version": key.key_version})
    return {**made, "token": token}


# --------------------------------------------------------------------------- import / export, here


def export_here(key: Opened, state: State, fmt: str) -> str:
    """Every export format (formats.VALUE_FORMATS), rendered here from the decrypted values."""
    if state.settings.is_service_token:  # a client-made token: its ciphertexts from the runtime API
        stored = state.call("GET", "/runtime/v1/secrets?format=json")["secrets"]
    else:
        stored = secret_values(state, state.env_path())
    name = "-".join(p for p in (state.settings.project, state.settings.env) if p) or "strongroom"
    values = {k: key.decrypt(k, value) for k, value in stored.items()}
    try:
        return formats.values_text(values, fmt, name=name.lower())
    except formats.Unrepresentable as exc:
        fail(str(exc), 2)


def import_here(key: Opened, state: State, content: str, fmt: str, *, overwrite: bool) -> dict[str, int]:
    """Parse here, encrypt here, one atomic PATCH: the server never sees the document."""
    import json  # noqa: PLC0415

    if fmt == "json":
        parsed = json.loads(content)
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            fail("a JSON import is an object of strings", 2)
        incoming = {str(k): v for k, v in parsed.items()}
    else:
        import io  # noqa: PLC0415

        from dotenv import dotenv_values  # noqa: PLC0415

        incoming = {k: v or "" for k, v in dotenv_values(stream=io.StringIO(content), interpolate=False).items()}
    current = {name: key.decrypt(name, value) for name, value in secret_values(state, state.env_path()).items()}
    changed = {k: v for k, v in incoming.items() if k not in current or (overwrite and current[k] != v)}
    if changed:
        body = {"set": {k: key.encrypt(k, v) for k, v in changed.items()}}
        state.call("PATCH", f"{state.env_path()}/secrets", body=body)
    created = sum(1 for k in changed if k not in current)
    return {"created": created, "updated": len(changed) - created, "unchanged": len(incoming) - len(changed)}
