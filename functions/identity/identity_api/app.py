"""The caller's own account: /v1/me."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from strongroom.app import REF_PATTERN, build_app, make_handler
from strongroom.domain import identity, orgs
from strongroom.models import MyPermissions, User, UserPatch

app = build_app()


@app.get("/v1/me")
def get_me() -> User:
    return identity.me()


@app.patch("/v1/me")
def patch_me(body: UserPatch) -> User:
    return identity.update_me(body)


OrgQuery = Annotated[str, Query(pattern=REF_PATTERN, description="Org ID (org_…) or slug")]


@app.get("/v1/me/permissions")
def get_my_permissions(org: OrgQuery) -> MyPermissions:
    return orgs.my_permissions(org)


lambda_handler = make_handler(app)
