"""Secrets of an environment: list, read, write (versioned, If-Match), delete, versions."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from strongroom.access import environment_access
from strongroom.app import Cursor, EnvRef, Limit, OrgRef, ProjectRef, build_app, make_handler, no_content
from strongroom.domain import secrets
from strongroom.errors import Invalid
from strongroom.models import SECRET_KEY_PATTERN, Secret, SecretList, SecretPut, SecretVersionList, SecretWritten

app = build_app()

SecretKey = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="Secret name")]
IfMatch = Annotated[
    str | None,
    Header(alias="if-match", pattern=r'^(?:W/)?"?[0-9]{1,12}"?$', description="The version you read: stale is 412"),
]

E = "/v1/orgs/<org>/projects/<project>/environments/<env>"
_ETAG = re.compile(r'^(?:W/)?"?([0-9]{1,12})"?$')


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    found = _ETAG.match(if_match.strip())
    if not found:
        raise Invalid(
            "If-Match must be a secret version",
            code="invalid_if_match",
            details={"fields": [{"field": "If-Match", "location": "header", "issue": "not a version"}]},
        )
    return int(found.group(1))


@app.get(f"{E}/secrets")
def list_secrets(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    prefix: Annotated[str, Query(max_length=255, description="Only keys starting with this")] = "",
    values: Annotated[bool, Query(description="false omits values")] = True,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SecretList:
    access = environment_access(org, project, env, "secrets.read")
    data, next_cursor = secrets.list_secrets(access, prefix=prefix, with_values=values, limit=limit, cursor=cursor)
    return SecretList(data=data, next_cursor=next_cursor)


@app.get(f"{E}/secrets/<key>")
def get_secret(
    org: OrgRef,
    project: ProjectRef,
    env: EnvRef,
    key: SecretKey,
    version: Annotated[int | None, Query(ge=1, le=10**12, description="A past version")] = None,
) -> Secret:
    access = environment_access(org, project, env, "secrets.read")
    return secrets.get_secret(access, key, version)


@app.put(f"{E}/secrets/<key>")
def put_secret(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, body: SecretPut, if_match: IfMatch = None
) -> SecretWritten:
    access = environment_access(org, project, env, "secrets.write")
    return secrets.put_secret(access, key, body.value, comment=body.comment, if_match=_version(if_match))


@app.delete(f"{E}/secrets/<key>", responses={204: {"description": "Deleted (restorable from its versions)"}})
def delete_secret(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, if_match: IfMatch = None
) -> Response[str]:
    access = environment_access(org, project, env, "secrets.write")
    secrets.delete_secret(access, key, if_match=_version(if_match))
    return no_content()


@app.get(f"{E}/secrets/<key>/versions")
def list_versions(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, limit: Limit = 100, cursor: Cursor = None
) -> SecretVersionList:
    access = environment_access(org, project, env, "secrets.read")
    data, next_cursor = secrets.list_versions(access, key, limit=limit, cursor=cursor)
    return SecretVersionList(data=data, next_cursor=next_cursor)


lambda_handler = make_handler(app)
