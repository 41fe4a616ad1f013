"""Organizations, their members and invitations, and the permission catalog."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Description,
    Email,
    Items,
    Name,
    Page,
    Request,
    Response,
    RoleName,
    Slug,
)
from strongroom.models.e2e import PublicKey
from strongroom.security.permissions import CATALOG_BY_NAME


class OrgCreate(Request):
    name: Name
    slug: Slug | None = None


class OrgPatch(Request):
    name: Name | None = None
    slug: Slug | None = None
    require_2fa: StrictBool | None = Field(
        default=None, description="Members without 2FA get 403 2fa_required on the org's resources"
    )


class Org(Response):
    id: str
    name: str
    slug: str
    role: RoleRef | Literal["service_token"]  # the caller's: a member's role, or a service token
    require_2fa: bool = False
    created_at: str
    updated_at: str


class OrgList(Page[Org]):
    pass


# A member's or an invitation's role: a built-in role or the slug of one of the org's custom roles.
RoleRef = Annotated[
    Slug, Field(description="A built-in role (owner, admin, developer, viewer) or a custom role's slug")
]


class Member(Response):
    user_id: str
    email: str
    name: str = ""
    role: RoleRef
    joined_at: str
    public_keys: list[PublicKey] = Field(
        default_factory=list, description="The member's end-to-end public keys (`PUT /v1/me/keys`), for granting"
    )


class MemberList(Page[Member]):
    pass


class MemberPatch(Request):
    role: RoleRef


class InvitationCreate(Request):
    email: Email
    role: RoleRef


class Invitation(Response):
    id: str
    email: str
    role: RoleRef
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
    role: RoleRef
    permissions: dict[str, Literal["all", "non_production", "development"]]


# --------------------------------------------------------------------------- custom roles

ScopeName = Literal["all", "non_production", "development"]


def _known(value: dict[str, ScopeName]) -> dict[str, ScopeName]:
    if any(p not in CATALOG_BY_NAME for p in value):
        raise ValueError("unknown permission: see GET /v1/permissions")
    return value


class RolePut(Request):
    name: Name
    description: Description = ""
    permissions: dict[str, ScopeName] = Field(
        max_length=64, description='Catalog permission -> scope, e.g. {"secrets.read": "non_production"}'
    )

    _check = field_validator("permissions")(_known)


class RoleCreate(RolePut):
    slug: Slug | None = Field(default=None, description="Defaults to the name's; never changes afterwards")


class CustomRole(Response):
    id: str
    slug: str
    name: str
    description: str
    permissions: dict[str, ScopeName]
    created_at: str
    updated_at: str


class CustomRoleList(Items[CustomRole]):
    pass
