"""Secrets of an environment: list, read, write (versioned, If-Match), delete and restore,
versions and rollback, batch changes, export and import, promotion between environments, and
whole-environment point-in-time restore."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponseContentSchema

from strongroom.domain import paths, runtime, secrets
from strongroom.domain.formats import CONTENT_TYPES, ExportFormat
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import (
    Cursor,
    EnvRef,
    FolderPathQuery,
    IfMatch,
    Limit,
    OrgRef,
    ProjectRef,
    Recursive,
    held,
    if_match_version,
    no_content,
)
from strongroom.models import (
    SECRET_KEY_PATTERN,
    BatchResult,
    EnvironmentRestore,
    EnvironmentRestored,
    ImportResult,
    KeyRotated,
    Promote,
    PromoteResult,
    Secret,
    SecretList,
    SecretPut,
    SecretRollback,
    SecretsImport,
    SecretsPatch,
    SecretVersionList,
    SecretWritten,
    ValidationReport,
)
from strongroom.security.access import environment_access, project_access

app = build_app()

SecretKey = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="Secret name")]

Resolve = Annotated[bool, Query(description="false returns values as written, `${…}` references unexpanded")]

E = "/v1/orgs/<org>/projects/<project>/environments/<env>"


@app.get(f"{E}/secrets")
def list_secrets(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    prefix: Annotated[str, Query(max_length=255, description="Only keys starting with this")] = "",
    values: Annotated[bool, Query(description="false omits values")] = True,
    resolve: Resolve = True,
    limit: Limit = 100,
    cursor: Cursor = None,
    path: FolderPathQuery = "/",
    recursive: Recursive = False,
) -> SecretList:
    """Own and inherited secrets of a folder, or of it and its subfolders (`source` names the
    environment holding each value)."""
    access = environment_access(org, project, env, "secrets.read")
    return SecretList.of(
        secrets.list_secrets(
            access,
            prefix=prefix,
            with_values=values,
            limit=limit,
            cursor=cursor,
            resolve=resolve,
            path=path,
            recursive=recursive,
        )
    )


@app.get(f"{E}/secrets/<key>")
def get_secret(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    key: SecretKey,
    version: Annotated[int | None, Query(ge=1, le=10**12, description="A past version (as written)")] = None,
    resolve: Resolve = True,
    path: FolderPathQuery = "/",
) -> Secret:
    access = environment_access(org, project, env, "secrets.read")
    return secrets.get_secret(access, paths.name(path, key), version, resolve=resolve)


@app.put(f"{E}/secrets/<key>", responses=held(SecretWritten))
def put_secret(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    key: SecretKey,
    body: SecretPut,
    if_match: IfMatch = None,
    path: FolderPathQuery = "/",
) -> SecretWritten:
    """Set a value (a folder that does not exist yet is created with it)."""
    access = environment_access(org, project, env, "secrets.write")
    name = paths.name(path, key)
    return secrets.put_secret(access, name, body.value, comment=body.comment, if_match=if_match_version(if_match))


@app.delete(f"{E}/secrets/<key>", responses=held(None))
def delete_secret(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, if_match: IfMatch = None, path: FolderPathQuery = "/"
) -> Response[str]:
    access = environment_access(org, project, env, "secrets.write")
    secrets.delete_secret(access, paths.name(path, key), if_match=if_match_version(if_match))
    return no_content()


@app.get(f"{E}/secrets/<key>/versions")
def list_versions(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    key: SecretKey,
    limit: Limit = 100,
    cursor: Cursor = None,
    path: FolderPathQuery = "/",
) -> SecretVersionList:
    access = environment_access(org, project, env, "secrets.read")
    return SecretVersionList.of(secrets.list_versions(access, paths.name(path, key), limit=limit, cursor=cursor))


@app.post(f"{E}/secrets/<key>/restore", responses=held(SecretWritten))
def restore_secret(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, path: FolderPathQuery = "/"
) -> SecretWritten:
    """Bring a deleted secret back with its last value, as a new version."""
    access = environment_access(org, project, env, "secrets.write")
    return secrets.restore_secret(access, paths.name(path, key))


@app.post(f"{E}/secrets/<key>/rollback", responses=held(SecretWritten))
def rollback_secret(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    key: SecretKey,
    body: SecretRollback,
    if_match: IfMatch = None,
    path: FolderPathQuery = "/",
) -> SecretWritten:
    """A new version whose value is that of an earlier version."""
    access = environment_access(org, project, env, "secrets.write")
    name = paths.name(path, key)
    version = if_match_version(if_match)
    return secrets.rollback_secret(access, name, body.version, comment=body.comment, if_match=version)


@app.patch(f"{E}/secrets", responses=held(BatchResult))
def patch_secrets(
    org: OrgRef, project: ProjectRef, env: EnvRef, body: SecretsPatch, path: FolderPathQuery = "/"
) -> BatchResult:
    """Set and delete many secrets of a folder as one atomic change (unchanged values get no new version)."""
    access = environment_access(org, project, env, "secrets.write")
    values = {paths.name(path, k): v for k, v in body.set.items()}
    return secrets.batch(access, values, [paths.name(path, k) for k in body.delete], comment=body.comment)


_EXPORT_CONTENT: dict[str, OpenAPIResponseContentSchema] = {
    CONTENT_TYPES["dotenv"].split(";")[0]: {"schema": {"type": "string"}},
    CONTENT_TYPES["shell"].split(";")[0]: {"schema": {"type": "string"}},
    CONTENT_TYPES["yaml"].split(";")[0]: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
}


@app.get(
    f"{E}/export",
    responses={
        304: {"description": "Nothing this export depends on changed since that ETag"},
        200: {
            "description": "The environment's values in the format asked for",
            "content": {
                **_EXPORT_CONTENT,
                "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
            },
        },
    },
)
def export_secrets(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    format: Annotated[ExportFormat, Query(description="dotenv, json, yaml or shell")] = "dotenv",  # noqa: A002
    resolve: Resolve = True,
    if_none_match: Annotated[
        str | None, Header(alias="if-none-match", max_length=4096, description="A previous ETag")
    ] = None,
    path: FolderPathQuery = "/",
    recursive: Recursive = False,
) -> Response[str]:
    """Everything a folder of the environment sees (own and inherited; `recursive`: its subfolders'
    keys too, the nearest holder of a key winning), references expanded unless resolve=false.
    With the ETag of a previous export in If-None-Match: 304 when nothing it depends on changed."""
    access = environment_access(org, project, env, "secrets.read")
    same = runtime.unchanged(access, if_none_match, paths.variant(path, recursive))
    if same is not None:
        return Response(status_code=304, body="", headers={"ETag": f'"{same}"', "Cache-Control": "no-store"})
    text, tag = secrets.export_secrets(access, format, resolve=resolve, path=path, recursive=recursive)
    return Response(
        status_code=200,
        content_type=CONTENT_TYPES[format],
        body=text,
        headers={"Cache-Control": "no-store", "ETag": f'"{tag}"'},
    )


@app.post(f"{E}/import", responses=held(ImportResult))
def import_secrets(
    org: OrgRef, project: ProjectRef, env: EnvRef, body: SecretsImport, path: FolderPathQuery = "/"
) -> ImportResult:
    """Set the keys of a dotenv or JSON document in a folder as one change; existing keys are kept
    unless `overwrite`. Counts back."""
    access = environment_access(org, project, env, "secrets.write")
    return secrets.import_secrets(access, body.format, body.content, overwrite=body.overwrite, path=path)


@app.post(f"{E}/restore", responses=held(EnvironmentRestored))
def restore_environment(org: OrgRef, project: ProjectRef, env: EnvRef, body: EnvironmentRestore) -> EnvironmentRestored:
    """The environment (or one folder of it) as it was at `at`, as one new change."""
    access = environment_access(org, project, env, "secrets.write")
    return secrets.restore_environment(access, body.at, dry_run=body.dry_run, path=body.path, recursive=body.recursive)


@app.get(f"{E}/validate")
def validate(
    org: OrgRef, project: ProjectRef, env: EnvRef, path: FolderPathQuery = "/", recursive: Recursive = False
) -> ValidationReport:
    """The project's template against what a folder of the environment sees (own and inherited,
    resolved; flattened as a pull of it): missing keys and values that do not match their pattern
    (never the values)."""
    access = environment_access(org, project, env, "secrets.read")
    return secrets.validate(access, path=path, recursive=recursive)


@app.post(f"{E}/rotate-key")
def rotate_key(org: OrgRef, project: ProjectRef, env: EnvRef) -> KeyRotated:
    """A new data key for the environment (re-encrypts its snapshot); old versions still decrypt. Owner only."""
    access = environment_access(org, project, env, "encryption.manage")
    return secrets.rotate_key(access)


@app.post("/v1/orgs/<org>/projects/<project>/promote", responses=held(PromoteResult))
def promote(org: OrgRef, project: ProjectRef, body: Promote) -> PromoteResult:
    """Copy values from one environment to another of the project: a diff (`dry_run`) or one change."""
    base = project_access(org, project, "projects.read")
    source_id, target_id = secrets.promotion_environments(base, from_=body.from_, to=body.to)
    source = environment_access(org, project, source_id, "secrets.read")
    target = environment_access(org, project, target_id, "secrets.read" if body.dry_run else "secrets.write")
    return secrets.promote(source, target, body.keys, dry_run=body.dry_run, path=body.path, recursive=body.recursive)


lambda_handler = make_handler(app)
