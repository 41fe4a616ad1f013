"""The CLI's org-wide shared secrets: `shared list|get|set|delete|versions` (the org from
--org or the profile). Environments reference them as `${shared.KEY}`; `run` and `export` get
them resolved from the server, like any reference."""

from __future__ import annotations

from urllib.parse import quote

import click

from strongroom_cli.commands import SECRET_KEY, State, _org, _value_of, cli, confirm, emit, fail


def _path(state: State, key: str | None = None) -> str:
    base = f"/v1/orgs/{_org(state)}/shared-secrets"
    if key is None:
        return base
    if not SECRET_KEY.match(key):
        fail(f"{key!r} is not a secret name", 2)
    return f"{base}/{quote(key, safe='')}"


@cli.group()
def shared() -> None:
    """The org's shared secrets (`${shared.KEY}` in any environment)."""


@shared.command("list")
@click.option("--prefix", default="", help="Only keys starting with this")
@click.pass_obj
def shared_list(state: State, prefix: str) -> None:
    """Keys, versions and authors (never values)."""
    state.user_only()
    rows = state.pages(_path(state) + (f"?prefix={quote(prefix)}" if prefix else ""))
    emit(state, rows, ["key", "version", "updated_at", "updated_by"])


@shared.command("get")
@click.argument("key")
@click.option("--version", type=int, help="A past version (as written)")
@click.option("--raw", is_flag=True, help="References unexpanded")
@click.pass_obj
def shared_get(state: State, key: str, version: int | None, raw: bool) -> None:
    """KEY's value (verbatim; --json: with its version)."""
    state.user_only()
    query = "&".join(q for q in (f"version={version}" if version else "", "resolve=false" if raw else "") if q)
    got = state.call("GET", _path(state, key) + (f"?{query}" if query else ""))
    if state.output:
        emit(state, got, ["key", "value", "version"])
    else:
        click.echo(got["value"])


@shared.command("set")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input (default off a terminal)")
@click.option("--comment", default="")
@click.pass_obj
def shared_set(state: State, key: str, value: str | None, from_stdin: bool, comment: str) -> None:
    """Create or change KEY (admins). Without VALUE (which lands in shell history) the value is
    asked for with hidden input on a terminal, read from standard input otherwise."""
    state.user_only()
    body = {"value": _value_of(key, value, from_stdin=from_stdin), "comment": comment}
    written = state.call("PUT", _path(state, key), body=body)
    emit(state, written, ["key", "version", "updated_at"])


@shared.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@click.pass_obj
def shared_delete(state: State, key: str, yes: bool) -> None:
    """Delete KEY (its history stays; references to it then stay as written)."""
    state.user_only()
    path = _path(state, key)
    confirm(yes, "delete removes a shared secret", f"delete shared secret {key}?")
    state.call("DELETE", path)
    emit(state, {"key": key, "deleted": True}, ["key", "deleted"])


@shared.command("versions")
@click.argument("key")
@click.pass_obj
def shared_versions(state: State, key: str) -> None:
    state.user_only()
    data = state.call("GET", f"{_path(state, key)}/versions")["data"]
    emit(state, data, ["version", "action", "comment", "created_at", "created_by"])
