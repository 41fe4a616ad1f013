"""The CLI's governance: `request access`, `requests list|approve|reject|cancel`, `changes
list|show|approve|apply` (a write into a protected environment answers with its change request:
commands.py prints its ID)."""

from __future__ import annotations

import click

from strongroom_cli.commands import State, _org, cli, emit

_REQUEST = ["id", "status", "permission", "environment_id", "requester_id", "grant_expires_at"]
_CHANGE = ["id", "status", "action", "environment_id", "author_id", "expires_at"]


@cli.group()
def request() -> None:
    """Ask for something that needs approval."""


@request.command("access")
@click.option("--permission", type=click.Choice(["secrets.read", "secrets.write"]), default="secrets.read")
@click.option("--duration", "duration_seconds", type=int, required=True, help="Seconds (at most the policy's maximum)")
@click.option("--reason", required=True)
@click.pass_obj
def request_access(state: State, permission: str, duration_seconds: int, reason: str) -> None:
    """Ask for PERMISSION on the environment (--project, --env) for --duration seconds."""
    state.user_only()
    state.settings.require_environment()
    s = state.settings
    body = {
        "project": s.project,
        "environment": s.env,
        "permission": permission,
        "duration_seconds": duration_seconds,
        "reason": reason,
    }
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/access-requests", body=body), columns=_REQUEST)


@cli.group()
def requests() -> None:
    """Access requests of the org."""


@requests.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "cancelled", "expired"]))
@click.pass_obj
def requests_list(state: State, status: str | None) -> None:
    state.user_only()
    query = f"?status={status}" if status else ""
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/access-requests{query}")["data"], columns=_REQUEST)


def _decide(
    state: State, kind: str, request_id: str, verb: str, body: dict[str, str] | None, *, columns: list[str]
) -> None:
    state.user_only()
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/{kind}/{request_id}/{verb}", body=body), columns)


@requests.command("approve")
@click.argument("request_id")
@click.option("--comment", default="")
@click.pass_obj
def requests_approve(state: State, request_id: str, comment: str) -> None:
    _decide(state, "access-requests", request_id, "approve", {"comment": comment}, columns=_REQUEST)


@requests.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True)
@click.pass_obj
def requests_reject(state: State, request_id: str, reason: str) -> None:
    _decide(state, "access-requests", request_id, "reject", {"reason": reason}, columns=_REQUEST)


@requests.command("cancel")
@click.argument("request_id")
@click.pass_obj
def requests_cancel(state: State, request_id: str) -> None:
    """Your own request only."""
    _decide(state, "access-requests", request_id, "cancel", None, columns=_REQUEST)


@cli.group()
def changes() -> None:
    """Change requests: writes into protected environments, held for approval."""


@changes.command("list")
@click.option("--status", type=click.Choice(["open", "approved", "rejected", "applied", "expired"]))
@click.pass_obj
def changes_list(state: State, status: str | None) -> None:
    state.user_only()
    query = f"?status={status}" if status else ""
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/change-requests{query}")["data"], columns=_CHANGE)


@changes.command("show")
@click.argument("change_id")
@click.pass_obj
def changes_show(state: State, change_id: str) -> None:
    """The diff: keys, actions, versions before and after (never values)."""
    state.user_only()
    shown = state.call("GET", f"/v1/orgs/{_org(state)}/change-requests/{change_id}")
    if state.as_json:
        emit(state, shown)
        return
    emit(
        state,
        shown["changes"],
        ["key", "action", "old_version", "new_version"],
        title=f"{shown['id']} ({shown['status']})",
    )


@changes.command("approve")
@click.argument("change_id")
@click.option("--comment", default="")
@click.pass_obj
def changes_approve(state: State, change_id: str, comment: str) -> None:
    _decide(state, "change-requests", change_id, "approve", {"comment": comment}, columns=_CHANGE)


@changes.command("apply")
@click.argument("change_id")
@click.pass_obj
def changes_apply(state: State, change_id: str) -> None:
    """Your own approved change request: applied as one change, or refused when stale."""
    _decide(state, "change-requests", change_id, "apply", None, columns=[*_CHANGE, "applied_revision"])
