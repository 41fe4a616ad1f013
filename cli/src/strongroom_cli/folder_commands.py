"""The CLI's folders of an environment: `folders list|create|move|delete` (--org, --project,
--env as for secrets; `--json` everywhere). `secrets … --path /FOLDER` and `run --path` read and
write the secrets of one folder."""

from __future__ import annotations

from urllib.parse import quote

import click

from strongroom_cli.commands import FOLDER, State, cli, confirm, emit, fail

_FOLDER = ["path", "id", "secrets", "source", "inherited", "created_at"]
_CHANGE = ["path", "key", "action"]


def _check(path: str) -> str:
    if len(path) > 255 or not FOLDER.match(path) or path == "/":
        fail(f"{path!r} is not a folder path (/seg/seg…, no . or .., no trailing /)", 2)
    return path


def _folder_id(state: State, path: str) -> str:
    """The ID of the environment's own folder at PATH (one listing of its parent)."""
    parent = path.rsplit("/", 1)[0] or "/"
    listed = state.pages(f"{state.env_path()}/folders?path={quote(parent, safe='/')}")
    found = next((f for f in listed if f["path"] == path and not f["inherited"]), None)
    if found is None:
        fail(f"no folder {path} in {state.settings.env} (an inherited one changes in its own environment)")
    return str(found["id"])


@cli.group()
def folders() -> None:
    """Folders of the environment (`/backend/db`): its secrets are named by folder and key."""


@folders.command("list")
@click.option("--path", "path", default="/", metavar="/FOLDER", help="Folders in this one (default: the root)")
@click.option("--recursive", is_flag=True, help="Every folder below it")
@click.pass_obj
def folders_list(state: State, path: str, recursive: bool) -> None:
    if path != "/":
        _check(path)
    query = f"?path={quote(path, safe='/')}{'&recursive=true' if recursive else ''}"
    emit(state, state.pages(f"{state.env_path()}/folders{query}"), _FOLDER)


@folders.command("create")
@click.argument("path")
@click.pass_obj
def folders_create(state: State, path: str) -> None:
    """Create PATH (and its parent folders)."""
    emit(state, state.call("POST", f"{state.env_path()}/folders", body={"path": _check(path)}), _FOLDER)


def _changed(state: State, written: dict[str, object]) -> None:
    if "change_request" in written:  # a protected environment: held for approval
        emit(state, written["change_request"], ["id", "status"], title="change request opened")
    elif state.output:
        emit(state, written)
    else:
        emit(state, written["changes"], _CHANGE, title=f"{written['path']} (revision {written['revision']})")


@folders.command("move")
@click.argument("path")
@click.argument("destination")
@click.pass_obj
def folders_move(state: State, path: str, destination: str) -> None:
    """Rename or move PATH (with its subfolders and secrets) to DESTINATION, as one change."""
    folder = _folder_id(state, _check(path))
    written = state.call(
        "PATCH", f"{state.env_path()}/folders/{folder}", body={"path": _check(destination)}, ok=(200, 202)
    )
    _changed(state, written)


@folders.command("delete")
@click.argument("path")
@click.option("--recursive", is_flag=True, help="With its secrets (to the trash) and subfolders")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@click.pass_obj
def folders_delete(state: State, path: str, recursive: bool, yes: bool) -> None:
    """Delete PATH: refused while it holds something, unless --recursive (asks first on a terminal)."""
    folder = _folder_id(state, _check(path))
    if recursive:
        what = "--recursive deletes the folder's secrets too"
        confirm(yes, what, f"delete {path} and everything in it from {state.settings.env}?")
    query = "?recursive=true" if recursive else ""
    _changed(state, state.call("DELETE", f"{state.env_path()}/folders/{folder}{query}", ok=(200, 202)))
