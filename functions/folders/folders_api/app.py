"""Folders inside an environment (`/backend/db`): list, create, move or rename, delete. Each
change is a change of the environment's snapshot, audited (domain/folders.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import folders
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import (
    REF_PATTERN,
    Cursor,
    EnvRef,
    FolderPathQuery,
    Limit,
    OrgRef,
    ProjectRef,
    Recursive,
    created,
    held,
)
from strongroom.models import Folder, FolderChanged, FolderCreate, FolderList, FolderMove
from strongroom.security.access import environment_access

app = build_app()

E = "/v1/orgs/<org>/projects/<project>/environments/<env>"
FolderRef = Annotated[str, Path(pattern=REF_PATTERN, description="Folder ID (fld_…)")]


@app.get(f"{E}/folders")
def list_folders(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    path: FolderPathQuery = "/",
    recursive: Recursive = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> FolderList:
    """The folders directly in `path` (every one below it when `recursive`), own and inherited."""
    access = environment_access(org, project, env, "secrets.read")
    return FolderList.of(folders.list_folders(access, path=path, recursive=recursive, limit=limit, cursor=cursor))


@app.post(
    f"{E}/folders", responses={201: {"description": "Created", "content": {"application/json": {"model": Folder}}}}
)
def create_folder(org: OrgRef, project: ProjectRef, env: EnvRef, body: FolderCreate) -> Response[Folder]:
    """A folder, with its parent folders when they do not exist yet (409 when it exists)."""
    access = environment_access(org, project, env, "secrets.write")
    return created(folders.create_folder(access, body.path))


@app.patch(f"{E}/folders/<id>", responses=held(FolderChanged))
def move_folder(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    id: FolderRef,  # noqa: A002 - the contract's name
    body: FolderMove,
) -> FolderChanged:
    """Rename or move a folder with its subfolders and secrets, as one change."""
    access = environment_access(org, project, env, "secrets.write")
    return folders.move_folder(access, id, body.path)


@app.delete(f"{E}/folders/<id>", responses=held(FolderChanged))
def delete_folder(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    id: FolderRef,  # noqa: A002
    recursive: Annotated[bool, Query(description="true: its secrets to the trash and its subfolders too")] = False,
) -> FolderChanged:
    """Delete a folder; one holding secrets or subfolders is 409 unless `recursive`."""
    access = environment_access(org, project, env, "secrets.write")
    return folders.delete_folder(access, id, recursive=recursive)


lambda_handler = make_handler(app)
