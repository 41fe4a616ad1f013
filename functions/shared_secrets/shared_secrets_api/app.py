"""An org's shared secrets: listed (metadata only), read, created, changed (If-Match), deleted,
and their versions; what environments reference as `${shared.KEY}`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import shared_secrets
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import Cursor, IfMatch, Limit, OrgRef, created, if_match_version, no_content
from strongroom.models import (
    SECRET_KEY_PATTERN,
    SecretPut,
    SecretVersionList,
    SecretWritten,
    SharedSecret,
    SharedSecretCreate,
    SharedSecretList,
)
from strongroom.security.access import org_access

app = build_app()

SharedKey = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="Shared secret name")]
Resolve = Annotated[bool, Query(description="false returns the value as written, `${…}` references unexpanded")]

S = "/v1/orgs/<org>/shared-secrets"


@app.get(S)
def list_shared_secrets(
    org: OrgRef,
    prefix: Annotated[str, Query(max_length=255, description="Only keys starting with this")] = "",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SharedSecretList:
    """The org's shared secrets, metadata only (never values)."""
    access = org_access(org, "shared_secrets.read")
    return SharedSecretList.of(shared_secrets.list_shared(access, prefix=prefix, limit=limit, cursor=cursor))


@app.post(S, responses={201: {"description": "Created (version 1, or the next after a deletion)"}})
def create_shared_secret(org: OrgRef, body: SharedSecretCreate) -> Response[SecretWritten]:
    access = org_access(org, "shared_secrets.write")
    return created(shared_secrets.create(access, body.key, body.value, comment=body.comment))


@app.get(f"{S}/<key>")
def get_shared_secret(
    org: OrgRef,
    key: SharedKey,
    version: Annotated[int | None, Query(ge=1, le=10**12, description="A past version (as written)")] = None,
    resolve: Resolve = True,
) -> SharedSecret:
    access = org_access(org, "shared_secrets.read")
    return shared_secrets.get_shared(access, key, resolve=resolve, version=version)


@app.put(f"{S}/<key>")
def put_shared_secret(org: OrgRef, key: SharedKey, body: SecretPut, if_match: IfMatch = None) -> SecretWritten:
    """Create or change; every environment referencing `${shared.KEY}` sees the new value (and a
    new runtime ETag) at once."""
    access = org_access(org, "shared_secrets.write")
    return shared_secrets.put(access, key, body.value, comment=body.comment, if_match=if_match_version(if_match))


@app.delete(f"{S}/<key>", responses={204: {"description": "Deleted (a `delete` version; the history stays)"}})
def delete_shared_secret(org: OrgRef, key: SharedKey, if_match: IfMatch = None) -> Response[str]:
    access = org_access(org, "shared_secrets.write")
    shared_secrets.delete(access, key, if_match=if_match_version(if_match))
    return no_content()


@app.get(f"{S}/<key>/versions")
def list_shared_secret_versions(
    org: OrgRef, key: SharedKey, limit: Limit = 100, cursor: Cursor = None
) -> SecretVersionList:
    access = org_access(org, "shared_secrets.read")
    return SecretVersionList.of(shared_secrets.list_versions(access, key, limit=limit, cursor=cursor))


lambda_handler = make_handler(app)
