"""Organizations, their members and invitations, and the permission catalog."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Email,
    Name,
    Page,
    Request,
    Response,
    RoleName,
    Slug,
)


class OrgCreate(Request):
    name: Name
    slug: Slug | None = None


class OrgPatch(Request):
    name: Name | None = None
    slug: Slug | None = None
    require_2fa: bool | None = Field(
        default=None, description="Members without 2FA get 403 2fa_required on the org's resources"
    )


class Org(Response):
    id: str
    name: str
    slug: str
    role: RoleName | Literal["service_token"]  # the caller's: a member's role, or a service token
    require_2fa: bool = False
    created_at: str
    updated_at: str


class OrgList(Page[Org]):
    pass


class Member(Response):
    user_id: str
    email: str
    name: str = ""
    role: RoleName
    joined_at: str


class MemberList(Page[Member]):
    pass


class MemberPatch(Request):
    role: RoleName


class InvitationCreate(Request):
    email: Email
    role: RoleName


class Invitation(Response):
    id: str
    email: str
    role: RoleName
    invited_by: str
    created_at: str
    expires_at: str
    status: Literal["pending", "accepted", "revoked", "expired"]


class InvitationCreated(Invitation):
    token: ShownOnce = Field(description="Shown once. Send it to the invitee; it is stored only as a hash.")


class InvitationList(Page[Invitation]):
    pass


class InvitationAccepted(Response):
    org: Org


class PermissionInfo(Response):
    name: str
    description: str
    environment_scoped: bool


class RoleInfo(Response):
    name: RoleName
    permissions: dict[str, Literal["all", "non_production", "development"]]


class PermissionCatalog(Response):
    data: list[PermissionInfo]
    roles: list[RoleInfo]


class MyPermissions(Response):
    org_id: str
    role: RoleName
    permissions: dict[str, Literal["all", "non_production", "development"]]
