"""Rotation policies of secrets: `GET/PUT/DELETE E/secrets/{key}/rotation` and `POST
E/secrets/{key}/rotate` (rotate now), each with `?path=` for a secret in a folder (default `/`).
The scheduled rotations run in the rotation worker."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import paths, rotation
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import EnvRef, FolderPathQuery, OrgRef, ProjectRef, no_content
from strongroom.models import SECRET_KEY_PATTERN
from strongroom.models.rotation import RotationPolicy, RotationPolicySet, RotationPut
from strongroom.security.access import environment_access

app = build_app()

SecretKey = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="Secret name")]
E = "/v1/orgs/<org>/projects/<project>/environments/<env>"


@app.get(f"{E}/secrets/<key>/rotation")
def get_rotation(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, path: FolderPathQuery = "/"
) -> RotationPolicy:
    access = environment_access(org, project, env, "secrets.read")
    return rotation.get_policy(access, paths.name(path, key))


@app.put(f"{E}/secrets/<key>/rotation")
def put_rotation(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, body: RotationPut, path: FolderPathQuery = "/"
) -> RotationPolicySet:
    """Create or replace the policy; a webhook rotator's signing secret is shown when first made."""
    access = environment_access(org, project, env, "secrets.write")
    return rotation.set_policy(access, paths.name(path, key), body)


@app.delete(f"{E}/secrets/<key>/rotation", responses={204: {"description": "Removed"}})
def delete_rotation(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, path: FolderPathQuery = "/"
) -> Response[str]:
    access = environment_access(org, project, env, "secrets.write")
    rotation.remove_policy(access, paths.name(path, key))
    return no_content()


@app.post(f"{E}/secrets/<key>/rotate")
def rotate_secret(
    org: OrgRef, project: ProjectRef, env: EnvRef, key: SecretKey, path: FolderPathQuery = "/"
) -> RotationPolicy:
    """Rotate now (create, set, test, finish); `status` says how it went (409 while one runs)."""
    access = environment_access(org, project, env, "secrets.write")
    return rotation.rotate_now(access, paths.name(path, key))


lambda_handler = make_handler(app)
