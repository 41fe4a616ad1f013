"""Organizations, members, invitations and the permission catalog."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import encryption, orgs, roles, scim_tokens
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models import (
    CustomRole,
    CustomRoleList,
    Invitation,
    InvitationAccepted,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    KmsKeyBody,
    KmsTest,
    Member,
    MemberList,
    MemberPatch,
    Org,
    OrgCreate,
    OrgEncryption,
    OrgKeysRotated,
    OrgList,
    OrgPatch,
    PermissionCatalog,
    RoleCreate,
    RolePut,
    ScimTokenCreate,
    ScimTokenCreated,
    ScimTokenList,
)
from strongroom.security.access import org_access

app = build_app()

UserRef = Annotated[str, Path(pattern=REF_PATTERN, description="User ID (usr_…)")]
InvitationRef = Annotated[str, Path(pattern=REF_PATTERN, description="Invitation ID (inv_…)")]
RoleRef = Annotated[str, Path(pattern=REF_PATTERN, description="Custom role ID (rol_…) or slug")]
ScimTokenRef = Annotated[str, Path(pattern=REF_PATTERN, description="SCIM token ID (sct_…)")]
InvitationToken = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Invitation token (sr_inv_…)")]


@app.get("/v1/orgs")
def list_orgs(limit: Limit = 100, cursor: Cursor = None) -> OrgList:
    return OrgList.of(orgs.list_mine(limit=limit, cursor=cursor))


@app.post("/v1/orgs", responses={201: {"description": "Created; the caller is its owner"}})
def create_org(body: OrgCreate) -> Response[Org]:
    return created(orgs.create(body))


@app.get("/v1/orgs/<org>")
def get_org(org: OrgRef) -> Org:
    access = org_access(org, "org.read")
    return orgs.get(access)


@app.patch("/v1/orgs/<org>")
def patch_org(org: OrgRef, body: OrgPatch) -> Org:
    access = org_access(org, "org.update")
    return orgs.update(access, body)


@app.delete("/v1/orgs/<org>", responses={204: {"description": "Deleted with everything in it"}})
def delete_org(org: OrgRef) -> Response[str]:
    access = org_access(org, "org.delete")
    orgs.delete(access)
    return no_content()


@app.get("/v1/orgs/<org>/members")
def list_members(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> MemberList:
    access = org_access(org, "members.read")
    return MemberList.of(orgs.list_members(access, limit=limit, cursor=cursor))


@app.patch("/v1/orgs/<org>/members/<user>")
def patch_member(org: OrgRef, user: UserRef, body: MemberPatch) -> Member:
    access = org_access(org, "members.manage")
    return orgs.change_role(access, user, body.role)


@app.delete("/v1/orgs/<org>/members/<user>", responses={204: {"description": "Removed"}})
def delete_member(org: OrgRef, user: UserRef) -> Response[str]:
    # removing someone needs members.manage; leaving (removing yourself) org.read
    access = org_access(org, "org.read") if orgs.leaving(user) else org_access(org, "members.manage")
    orgs.remove_member(access, user)
    return no_content()


@app.get("/v1/orgs/<org>/invitations")
def list_invitations(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> InvitationList:
    access = org_access(org, "members.manage")
    return InvitationList.of(orgs.list_invitations(access, limit=limit, cursor=cursor))


@app.post("/v1/orgs/<org>/invitations", responses={201: {"description": "Created; the token is shown once"}})
def create_invitation(org: OrgRef, body: InvitationCreate) -> Response[InvitationCreated]:
    access = org_access(org, "members.manage")
    return created(orgs.invite(access, body))


@app.delete("/v1/orgs/<org>/invitations/<id>", responses={204: {"description": "Revoked"}})
def revoke_invitation(org: OrgRef, id: InvitationRef) -> Response[str]:  # noqa: A002 - the contract's name
    access = org_access(org, "members.manage")
    orgs.revoke_invitation(access, id)
    return no_content()


@app.get("/v1/orgs/<org>/scim/tokens")
def list_scim_tokens(org: OrgRef) -> ScimTokenList:
    access = org_access(org, "scim.manage")
    return ScimTokenList(data=scim_tokens.list_tokens(access))


@app.post("/v1/orgs/<org>/scim/tokens", responses={201: {"description": "Created; `token` is shown this once"}})
def create_scim_token(org: OrgRef, body: ScimTokenCreate) -> Response[ScimTokenCreated]:
    """A token for the org's identity provider to provision members at /scim/v2."""
    access = org_access(org, "scim.manage")
    return created(scim_tokens.create(access, body.name))


@app.delete("/v1/orgs/<org>/scim/tokens/<id>", responses={204: {"description": "Revoked"}})
def revoke_scim_token(org: OrgRef, id: ScimTokenRef) -> Response[str]:  # noqa: A002 - the contract's name
    """Revoke: the next request with it is 401."""
    access = org_access(org, "scim.manage")
    scim_tokens.revoke(access, id)
    return no_content()


@app.post("/v1/invitations/<token>/accept")
def accept_invitation(token: InvitationToken) -> InvitationAccepted:
    return InvitationAccepted(org=orgs.accept(token))


@app.get("/v1/orgs/<org>/roles")
def list_roles(org: OrgRef) -> CustomRoleList:
    access = org_access(org, "members.read")
    return CustomRoleList(data=roles.list_roles(access))


@app.post("/v1/orgs/<org>/roles", responses={201: {"description": "Created"}})
def create_role(org: OrgRef, body: RoleCreate) -> Response[CustomRole]:
    access = org_access(org, "roles.manage")
    return created(roles.create(access, body))


@app.get("/v1/orgs/<org>/roles/<role>")
def get_role(org: OrgRef, role: RoleRef) -> CustomRole:
    access = org_access(org, "members.read")
    return roles.get(access, role)


@app.put("/v1/orgs/<org>/roles/<role>")
def put_role(org: OrgRef, role: RoleRef, body: RolePut) -> CustomRole:
    access = org_access(org, "roles.manage")
    return roles.update(access, role, body)


@app.delete("/v1/orgs/<org>/roles/<role>", responses={204: {"description": "Deleted"}})
def delete_role(org: OrgRef, role: RoleRef) -> Response[str]:
    access = org_access(org, "roles.manage")
    roles.delete(access, role)
    return no_content()


@app.get("/v1/permissions")
def get_permissions() -> PermissionCatalog:
    return orgs.catalog()


# --------------------------------------------------------------------------- encryption (BYOK), owner only


@app.get("/v1/orgs/<org>/encryption")
def get_encryption(org: OrgRef) -> OrgEncryption:
    """Which KMS key wraps the org's data keys: the service's or the org's own."""
    access = org_access(org, "encryption.manage")
    return encryption.get(access)


@app.post("/v1/orgs/<org>/encryption/kms/test")
def test_kms_key(org: OrgRef, body: KmsKeyBody) -> KmsTest:
    """DescribeKey and a round trip (GenerateDataKey + Decrypt) with the key; changes nothing."""
    access = org_access(org, "encryption.manage")
    return encryption.test_key(access, body.kms_key_arn)


@app.post("/v1/orgs/<org>/encryption/kms/enable")
def enable_kms_key(org: OrgRef, body: KmsKeyBody) -> OrgEncryption:
    """Re-wrap every data key of the org under the org's key (KMS ReEncrypt); resumable."""
    access = org_access(org, "encryption.manage")
    return encryption.enable(access, body.kms_key_arn)


@app.delete("/v1/orgs/<org>/encryption/kms")
def disable_kms_key(org: OrgRef) -> OrgEncryption:
    """Re-wrap every data key back under the service key; resumable."""
    access = org_access(org, "encryption.manage")
    return encryption.disable(access)


@app.post("/v1/orgs/<org>/encryption/rotate")
def rotate_org_keys(org: OrgRef) -> OrgKeysRotated:
    """A new data key version for every environment of the org."""
    access = org_access(org, "encryption.manage")
    return encryption.rotate(access)


lambda_handler = make_handler(app)

__all__ = ["Invitation", "app", "lambda_handler"]
