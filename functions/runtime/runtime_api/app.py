"""The runtime API, for service tokens: introspection and the token environment's secrets,
resolved, with an ETag (If-None-Match → 304 without decrypting)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from strongroom.domain import e2e, paths, runtime
from strongroom.domain.formats import CONTENT_TYPES
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import FolderPathQuery, Recursive
from strongroom.models import SECRET_KEY_PATTERN, EnvironmentKey, RuntimeIdentity, RuntimeSecret, RuntimeSecrets

app = build_app()

Format = Annotated[Literal["json", "dotenv", "shell"], Query(description="json (default), dotenv or shell")]
IfNoneMatch = Annotated[str | None, Header(alias="if-none-match", max_length=4096, description="A previous ETag")]
NOT_MODIFIED: dict[int, OpenAPIResponse] = {
    304: {"description": "Nothing this read depends on changed since that ETag"}
}


@app.get("/runtime/v1")
def introspect() -> RuntimeIdentity:
    """Which token this is: its org, project, environment, permissions and expiry."""
    access = runtime.token_access()
    return runtime.identity(access)


@app.get("/runtime/v1/key")
def runtime_key() -> EnvironmentKey:
    """A client-made token's grant of its client-encrypted environment's data key (403 `no_grant`
    without one); the token's private key opens it, the values are its ciphertexts."""
    access = runtime.token_access()
    return e2e.my_key(access)


def _not_modified(tag: str) -> Response[str]:
    return Response(status_code=304, body="", headers={"ETag": f'"{tag}"', "Cache-Control": "no-store"})


@app.get(
    "/runtime/v1/secrets",
    responses={
        **NOT_MODIFIED,
        200: {
            "description": "The environment's values, resolved",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
                            "version": {"type": "string"},
                            "encryption": {"type": "string", "enum": ["client"]},
                            "org_id": {"type": "string"},
                            "environment_id": {"type": "string"},
                            "key": {"$ref": "#/components/schemas/EnvironmentKey"},
                        },
                        "required": ["secrets", "version"],
                    }
                },
                "text/plain": {"schema": {"type": "string"}},
                "text/x-shellscript": {"schema": {"type": "string"}},
            },
        },
    },
)
def pull(
    format: Format = "json",  # noqa: A002
    if_none_match: IfNoneMatch = None,
    path: FolderPathQuery = "/",
    recursive: Recursive = False,
) -> Response[str]:
    """The values of a folder (`/`: the root), or of it and its subfolders flattened into keys."""
    access = runtime.token_access()
    same = runtime.unchanged(access, if_none_match, paths.variant(path, recursive))
    if same is not None:
        return _not_modified(same)
    runtime.check_format(access, format)
    values, tag = runtime.pull(access, path=path, recursive=recursive)
    headers = {"ETag": f'"{tag}"', "Cache-Control": "no-store"}
    if format == "json":
        context = runtime.client_context(access)  # a client-encrypted environment's grant and IDs
        body = RuntimeSecrets(secrets=values, version=tag, **context).model_dump_json(exclude_none=True)
        return Response(status_code=200, content_type="application/json", body=body, headers=headers)
    return Response(
        status_code=200, content_type=CONTENT_TYPES[format], body=runtime.render(values, format), headers=headers
    )


@app.get("/runtime/v1/secrets/<key>")
def pull_one(
    key: Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="Secret name")],
    path: FolderPathQuery = "/",
) -> Response[RuntimeSecret]:
    """One value of the token's environment, resolved, with the environment's ETag."""
    access = runtime.token_access()
    value, tag = runtime.pull_one(access, paths.name(path, key))
    return Response(
        status_code=200,
        content_type="application/json",
        body=RuntimeSecret(key=key, value=value, version=tag),
        headers={"ETag": f'"{tag}"', "Cache-Control": "no-store"},
    )


lambda_handler = make_handler(app)
