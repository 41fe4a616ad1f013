"""What routes share: the path parameters naming a tenant's resources (ID or slug), the
pagination parameters, a secret's If-Match version, and the 201/204 answers."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from strongroom.errors import Invalid
from strongroom.http.envelope import JSON
from strongroom.models.governance import ChangeRequestOpened
from strongroom.models.secrets import MAX_PATH, PATH_PATTERN

# Path parameters: IDs (`org_…`) and slugs are ASCII letters, digits, `_` and `-`.
REF_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# The path parameters naming a tenant's resources (ID or slug), shared by every function.
OrgRef = Annotated[str, Path(pattern=REF_PATTERN, description="Org ID (org_…) or slug")]
ProjectRef = Annotated[str, Path(pattern=REF_PATTERN, description="Project ID (prj_…) or slug")]
EnvRef = Annotated[str, Path(pattern=REF_PATTERN, description="Environment ID (env_…) or slug")]

# Pagination query parameters shared by every list route.
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1-500)")]
Cursor = Annotated[str | None, Query(max_length=2048, description="Opaque cursor from next_cursor")]

# Folders inside an environment (domain/paths.py): the folder a secret route works in, and
# whether a list, pull or export takes its subfolders too.
FolderPathQuery = Annotated[
    str,
    Query(
        pattern=PATH_PATTERN,
        max_length=MAX_PATH,
        description="The folder (`/backend/db`); `/`, the default, is the environment's root",
    ),
]
Recursive = Annotated[bool, Query(description="true: the folder's subfolders too (flattened into keys on a pull)")]


# If-Match of a secret's write (an environment's or a shared one): the version read.
IfMatch = Annotated[
    str | None,
    Header(alias="if-match", pattern=r'^(?:W/)?"?[0-9]{1,12}"?$', description="The version you read: stale is 412"),
]
_ETAG = re.compile(r'^(?:W/)?"?([0-9]{1,12})"?$')


def if_match_version(if_match: str | None) -> int | None:
    """The version an If-Match names (None without one); 400 when it names none."""
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


def created(body: Any) -> Response[Any]:
    return Response(status_code=201, content_type=JSON, body=body)


def no_content() -> Response[str]:
    return Response(status_code=204, body="")


# A write into an environment whose changes need approval answers 202 with the change request
# that holds it (domain/change_hold.py), beside its own success.
def held(ok: type[Any] | None) -> dict[int, Any]:
    """The responses of a write that may be held: `ok` (its 200 body; None: 204), and the 202."""
    done = {200: {"description": "Applied", "content": {"application/json": {"model": ok}}}} if ok else {}
    return {
        **(done or {204: {"description": "Applied"}}),
        202: {
            "description": "Held for approval: a change request was opened instead (keys and actions only)",
            "content": {"application/json": {"model": ChangeRequestOpened}},
        },
    }
