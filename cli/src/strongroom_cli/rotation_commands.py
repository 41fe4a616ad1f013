"""The CLI's rotation: `rotation show|set|remove|rotate KEY` in the environment (--org, --project,
--env; --path for a secret in a folder). A postgres rotator's master password is read from
STRONGROOM_ROTATION_MASTER_PASSWORD or a hidden prompt, never from the command line; a webhook
rotator's signing secret is printed once."""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import quote

import click

from strongroom_cli.commands import State, cli, confirm, emit, fail, folder_option

_POLICY = [
    *("key", "path", "status", "step", "interval_days"),
    *("next_rotation_at", "last_rotated_at", "version", "last_error"),
]
MASTER_PASSWORD_ENV = "STRONGROOM_ROTATION_MASTER_PASSWORD"  # noqa: S105 - a variable's name


def _path(state: State, key: str, what: str = "rotation") -> str:
    state.user_only()
    folder = state.settings.folder_query().lstrip("&")
    return f"{state.env_path()}/secrets/{quote(key, safe='')}/{what}{'?' + folder if folder else ''}"


def _row(policy: dict[str, Any]) -> dict[str, Any]:
    return {**policy, "rotator": policy.get("rotator", {}).get("type")}


@cli.group()
def rotation() -> None:
    """Rotation policies of the environment's secrets."""


@rotation.command("show")
@click.argument("key")
@folder_option()
@click.pass_obj
def rotation_show(state: State, key: str) -> None:
    """KEY's policy and how its last rotation went."""
    policy = state.call("GET", _path(state, key))
    emit(state, policy if state.as_json else _row(policy), [*_POLICY, "rotator"])


def _master_password() -> str:
    found = os.environ.get(MASTER_PASSWORD_ENV)
    if found:
        return found
    if not sys.stdin.isatty():
        fail(f"a postgres rotator needs the master password: set {MASTER_PASSWORD_ENV}", 2)
    return str(click.prompt("Master password", hide_input=True, err=True))


def _rotator(kind: str, opts: dict[str, Any]) -> dict[str, Any]:
    if kind == "random":
        return {"type": "random", **{k: opts[k] for k in ("length", "alphabet") if opts[k] is not None}}
    if kind == "postgres":
        if len(opts["db_user"]) != 2 or not opts["master_username"]:
            fail("a postgres rotator takes --db-user twice (the two login roles) and --master-username", 2)
        return {
            "type": "postgres",
            "users": list(opts["db_user"]),
            "master_username": opts["master_username"],
            "master_password": _master_password(),
        }
    if kind == "aws_iam_access_key":
        if not opts["iam_user"]:
            fail("an aws_iam_access_key rotator takes --iam-user", 2)
        rotator: dict[str, Any] = {"type": kind, "user_name": opts["iam_user"]}
        if opts["grace_period_hours"] is not None:
            rotator["grace_period_hours"] = opts["grace_period_hours"]
        return rotator
    if not opts["url"]:
        fail("a webhook rotator takes --url", 2)
    return {"type": "webhook", "url": opts["url"]}


@rotation.command("set")
@click.argument("key")
@click.option("--interval-days", type=int, required=True, help="Days between rotations")
@click.option(
    "--rotator", "kind", type=click.Choice(["random", "postgres", "aws_iam_access_key", "webhook"]), default="random"
)
@click.option("--length", type=int, help="random: the value's length (default 32)")
@click.option("--alphabet", help="random: the characters to draw from (default letters and digits)")
@click.option("--db-user", multiple=True, help="postgres: a login role the URL alternates between (twice)")
@click.option("--master-username", help=f"postgres: the role that sets passwords (its password: {MASTER_PASSWORD_ENV})")
@click.option("--iam-user", help="aws_iam_access_key: the IAM user whose access key rotates")
@click.option("--grace-period-hours", type=int, help="aws_iam_access_key: hours the old key keeps working (default 24)")
@click.option("--url", help="webhook: the endpoint that sets the new value")
@folder_option()
@click.pass_obj
def rotation_set(state: State, /, key: str, interval_days: int, kind: str, **opts: Any) -> None:
    """Create or replace KEY's rotation policy."""
    body = {"interval_days": interval_days, "rotator": _rotator(kind, opts)}
    policy = state.call("PUT", _path(state, key), body=body)
    if state.as_json:
        emit(state, policy)
        return
    emit(state, _row(policy), [*_POLICY, "rotator"])
    if policy.get("signing_secret"):
        click.echo(f"signing secret (shown once; the endpoint verifies each call with it): {policy['signing_secret']}")


@rotation.command("remove")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask")
@folder_option()
@click.pass_obj
def rotation_remove(state: State, key: str, yes: bool) -> None:
    """Remove KEY's policy (the secret keeps its value)."""
    path = _path(state, key)
    confirm(yes, "rotation remove", f"Remove the rotation policy of {key}?")
    state.call("DELETE", path)
    emit(state, {"key": key, "removed": True}, ["key", "removed"])


@rotation.command("rotate")
@click.argument("key")
@folder_option()
@click.pass_obj
def rotation_rotate(state: State, key: str) -> None:
    """Rotate KEY now; exits 1 when the rotation failed (the secret keeps its value)."""
    policy = state.call("POST", _path(state, key, "rotate"))
    emit(state, policy if state.as_json else _row(policy), [*_POLICY, "rotator"])
    if policy.get("status") == "failed":
        sys.exit(1)
