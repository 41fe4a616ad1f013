"""Folders inside an environment: create, list, move (rename) and delete.

A folder is an entry of the environment's snapshot (`folders`: path -> {id, created_at,
created_by}), next to the secrets it holds, which are named by path and key (domain/paths.py).
So reading an environment with all its folders is still one snapshot read, and every folder
change is a change of the environment like any other (domain/secrets.py's commit path): one new
revision, one transaction, exactly one audit event (`folder.created`, `folder.moved`,
`folder.deleted`, naming the path and the keys it moved or deleted).

- Creating a folder creates its parent folders with it; writing a value into a folder that does
  not exist creates it too (secrets.with_folders).
- Moving a folder moves its subfolders and its live secrets: each key is written at the new path
  (a new version there) and deleted at the old one (to the trash, where its history stays), as one
  change. The destination must not exist (409 `folder_exists`), nor lie inside the folder (422).
- Deleting a folder that holds secrets or subfolders is refused (409 `folder_not_empty`) unless
  `recursive`: then its secrets go to the trash (restorable; a restore recreates the folder) and
  its subfolders go with it, as one change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strongroom import clock, ids
from strongroom.data import db
from strongroom.domain import paths, secrets
from strongroom.domain.resolve import Resolver
from strongroom.errors import Conflict, NotFound, Unprocessable
from strongroom.models import Folder, FolderChanged
from strongroom.security.access import EnvironmentAccess


def _check_server_managed(access: EnvironmentAccess) -> None:
    if access.environment.encryption != "server":
        raise Unprocessable(
            "folders are for server-managed environments: a client-encrypted one keeps its keys at the root",
            code="client_encrypted",
        )


def list_folders(
    access: EnvironmentAccess, *, path: str, recursive: bool, limit: int, cursor: str | None
) -> tuple[list[Folder], str | None]:
    """The folders directly in `path` (all below it when `recursive`), own and inherited, by path,
    each with the number of live secrets directly in it."""
    env = access.environment
    view = Resolver(access).view(env)
    paths.check_folder(view, path)
    counts: dict[str, int] = {}
    for name in view:
        counts[paths.path_of(name)] = counts.get(paths.path_of(name), 0) + 1
    listing = f"folders|{env.id}|{path}|{int(recursive)}"
    after = db.deserialize(db.decode_cursor(listing, cursor))["after"] if cursor else ""

    def wanted(folder: str) -> bool:
        if folder == path or not paths.within(folder, path):
            return False
        return recursive or paths.split(folder)[0] == path

    found = sorted(p for p in view.folders if p > after and wanted(p))
    page, more = found[:limit], len(found) > limit
    items = [
        Folder(
            **view.folders[p][0],
            path=p,
            source=view.folders[p][1].slug,
            inherited=view.folders[p][1].id != env.id,
            secrets=counts.get(p, 0),
        )
        for p in page
    ]
    next_cursor = db.encode_cursor(listing, db.serialize({"after": page[-1]})) if more and page else None
    return items, next_cursor


def _find(state: secrets.State, folder_id: str) -> str:
    found = next((p for p, rec in state.folders.items() if rec.get("id") == folder_id), None)
    if found is None:
        raise NotFound("folder not found", code="folder_not_found")
    return found


def create_folder(access: EnvironmentAccess, path: str) -> Folder:
    """A folder (and its parents), as one change; 409 `folder_exists` when the environment has it."""
    _check_server_managed(access)
    paths.check(path, location="body")
    if path == paths.ROOT:
        raise Conflict("the root folder always exists", code="folder_exists")
    made: dict[str, Any] = {}

    def plan(state: secrets.State) -> secrets.Plan:
        if path in state.folders:
            raise Conflict("the folder exists", code="folder_exists")
        folders = dict(state.folders)
        made.clear()
        for p in paths.ancestors(path):
            if p not in folders:
                folders[p] = {"id": ids.new_id("fld"), "created_at": clock.now_iso(), "created_by": who}
        made.update(folders[path])
        if len(folders) > paths.MAX_FOLDERS:
            raise Unprocessable(
                f"an environment holds at most {paths.MAX_FOLDERS} folders",
                code="too_many_folders",
                details={"max_folders": paths.MAX_FOLDERS},
            )
        return secrets.Plan(
            {},
            "folder.created",
            "folder",
            made["id"],
            {
                "folder_id": made["id"],
                "path": path,
                "created": [p for p in paths.ancestors(path) if p not in state.folders],
            },
            folders=folders,
            governed=False,  # no value changes
        )

    who = access.principal.id
    secrets.commit(access, plan)
    return Folder(**made, path=path, source=access.environment.slug, secrets=0)


def move_folder(access: EnvironmentAccess, folder_id: str, destination: str) -> FolderChanged:
    """Rename or move a folder with its subfolders and live secrets, as one change."""
    _check_server_managed(access)
    paths.check(destination, location="body")

    def plan(state: secrets.State) -> secrets.Plan:
        source = _find(state, folder_id)
        if destination == source:
            return secrets.Plan({}, "folder.moved", "folder", folder_id)
        if destination == paths.ROOT or paths.within(destination, source):
            raise Unprocessable("a folder cannot move into itself or onto the root", code="invalid_destination")
        taken = destination in state.folders or any(n.startswith(destination + "/") for n in state.live)
        if taken:
            raise Conflict("a folder exists at that path", code="folder_exists")
        changes: dict[str, str | None] = {}
        for name, entry in state.live.items():
            if paths.within(paths.path_of(name), source):
                where, key = paths.split(name)
                changes[paths.name(paths.moved(where, source, destination), key)] = entry["value"]
                changes[name] = None
        folders = {
            (paths.moved(p, source, destination) if paths.within(p, source) else p): rec
            for p, rec in state.folders.items()
        }
        now = clock.now_iso()
        for p in paths.ancestors(destination):
            folders.setdefault(p, {"id": ids.new_id("fld"), "created_at": now, "created_by": access.principal.id})
        return secrets.Plan(
            changes,
            "folder.moved",
            "folder",
            folder_id,
            {"folder_id": folder_id, "path": destination, "from": source, **secrets.keys_note(changes)},
            folders=folders,
        )

    return _changed(access, folder_id, lambda: destination, plan)


def delete_folder(access: EnvironmentAccess, folder_id: str, *, recursive: bool) -> FolderChanged:
    """Delete a folder: refused while it holds secrets or subfolders (409 `folder_not_empty`)
    unless `recursive`, which moves its secrets to the trash and deletes its subfolders with it."""
    _check_server_managed(access)
    where: list[str] = []

    def plan(state: secrets.State) -> secrets.Plan:
        path = _find(state, folder_id)
        where[:] = [path]
        inside = [n for n in state.live if paths.within(paths.path_of(n), path)]
        below = [p for p in state.folders if p != path and paths.within(p, path)]
        if (inside or below) and not recursive:
            raise Conflict(
                "the folder is not empty: delete what it holds first, or pass recursive=true",
                code="folder_not_empty",
                details={"secrets": len(inside), "folders": len(below)},
            )
        changes: dict[str, str | None] = dict.fromkeys(inside)
        folders = {p: rec for p, rec in state.folders.items() if not paths.within(p, path)}
        return secrets.Plan(
            changes,
            "folder.deleted",
            "folder",
            folder_id,
            {"folder_id": folder_id, "path": path, "recursive": recursive, **secrets.keys_note(changes)},
            folders=folders,
        )

    return _changed(access, folder_id, lambda: where[0], plan)


def _changed(
    access: EnvironmentAccess, folder_id: str, path: Callable[[], str], planner: Callable[[secrets.State], secrets.Plan]
) -> FolderChanged:
    """A move or delete as one commit, and what it changed: the plan of the attempt that committed
    (a retry after a concurrent change plans again), the folder's path as that plan found it."""
    planned: list[secrets.Plan] = []

    def plan(state: secrets.State) -> secrets.Plan:
        planned.append(planner(state))
        return planned[-1]

    revision, _versions, before, _at = secrets.commit(access, plan)
    return FolderChanged(
        id=folder_id, path=path(), revision=revision, changes=secrets.restore_changes(before, planned[-1])
    )
