"""Grants of client-encrypted environments: the caller's own grant (`E/key`), the grants an admin
gives and revokes, and the rekey that replaces the key, every grant and every value at once. This
function holds no KMS permission: nothing here can open a data key."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import e2e
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import EnvRef, OrgRef, ProjectRef, created, no_content
from strongroom.models import EnvironmentKey, Grant, GrantCreate, GrantList, Rekey, Rekeyed
from strongroom.models.e2e import GRANT_ID_PATTERN
from strongroom.security.access import environment_access

app = build_app()

E = "/v1/orgs/<org>/projects/<project>/environments/<env>"
GrantId = Annotated[str, Path(pattern=GRANT_ID_PATTERN, description="Grant ID (grt_…)")]


@app.get(f"{E}/key")
def get_key(org: OrgRef, project: ProjectRef, env: EnvRef) -> EnvironmentKey:
    """The caller's grant of the environment's data key (403 `no_grant` without one)."""
    access = environment_access(org, project, env, "secrets.read")
    return e2e.my_key(access)


@app.get(f"{E}/grants")
def list_grants(org: OrgRef, project: ProjectRef, env: EnvRef) -> GrantList:
    """Every grant at the environment's current key version."""
    access = environment_access(org, project, env, "members.manage")
    return e2e.list_grants(access)


@app.post(f"{E}/grants", responses={201: {"description": "Granted"}})
def create_grant(org: OrgRef, project: ProjectRef, env: EnvRef, body: GrantCreate) -> Response[Grant]:
    """Give a member who may read the environment, or a client-made token of it, its grant."""
    access = environment_access(org, project, env, "members.manage")
    return created(e2e.add_grant(access, body))


@app.delete(f"{E}/grants/<grant>", responses={204: {"description": "Revoked"}})
def revoke_grant(org: OrgRef, project: ProjectRef, env: EnvRef, grant: GrantId) -> Response[str]:
    """Revoke a grant (then rekey: what its principal may have kept opens the old key only)."""
    access = environment_access(org, project, env, "members.manage")
    e2e.revoke_grant(access, grant)
    return no_content()


@app.post(f"{E}/rekey")
def rekey(org: OrgRef, project: ProjectRef, env: EnvRef, body: Rekey) -> Rekeyed:
    """A new key version: every remaining grant and every value replaced, in one change."""
    access = environment_access(org, project, env, "members.manage")
    return e2e.rekey(access, body)


lambda_handler = make_handler(app)
