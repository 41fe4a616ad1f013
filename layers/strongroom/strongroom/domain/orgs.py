"""Organizations, members and invitations: the business rules. Every mutation is one
`data.chain.transact` with one audit event, of ops built by `data/orgs.py` and
`data/invitations.py`. The routes resolve the access (`org_access(org, "<permission>")`, naming
the permission) and hand it over; only the account's routes (create, list, accept) work from
the principal alone."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.context import principal
from strongroom.data import chain, db, invitations, platform, user_keys, users
from strongroom.data import orgs as data
from strongroom.data.invitations import InvitationRecord
from strongroom.data.orgs import MembershipRecord, OrgRecord
from strongroom.domain import audit, plans, purge, roles
from strongroom.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from strongroom.models import (
    Invitation,
    InvitationCreate,
    InvitationCreated,
    Member,
    MyPermissions,
    Org,
    OrgCreate,
    OrgPatch,
    PermissionCatalog,
    PublicKey,
    slugify,
)
from strongroom.security import permissions
from strongroom.security.access import OrgAccess, org_access

INVITATION_TOKEN_PREFIX = "sr_inv_"  # noqa: S105 - a prefix, not a secret


def _org_view(org: OrgRecord, role: str) -> Org:
    return Org.model_validate({**org.model_dump(), "role": role})


# --------------------------------------------------------------------------- orgs


def create(body: OrgCreate) -> Org:
    who = principal()  # a user with an unnarrowed credential (access.admit)
    user = users.require(who.id)
    slug = body.slug or slugify(body.name) or f"org-{secrets.token_hex(4)}"
    now = clock.now_iso()
    org = OrgRecord(
        id=ids.new_id("org"),
        name=body.name,
        slug=slug,
        created_by=who.id,
        created_at=now,
        updated_at=now,
        plan=settings().new_org_plan,
        usage_members=1,
    )
    owner = MembershipRecord(org_id=org.id, user_id=who.id, email=user.email, role="owner", joined_at=now)
    chain.transact(
        data.create(org, owner),
        audit=audit.event(
            "org.created", scope_id=org.id, resource_type="org", resource_id=org.id, metadata={"slug": slug}
        ),
    )
    return _org_view(org, "owner")


def list_mine(*, limit: int, cursor: str | None) -> tuple[list[Org], str | None]:
    who = principal()
    pairs, next_cursor = data.user_orgs_page(who.id, limit=limit, cursor=cursor)
    if who.org_ids is not None:
        pairs = [(o, r) for o, r in pairs if o in who.org_ids]
    active = data.active_orgs(o for o, _ in pairs)
    return [_org_view(active[o], role) for o, role in pairs if o in active], next_cursor


def get(access: OrgAccess) -> Org:
    """The org (`org.read`)."""
    return _org_view(access.org, access.role)


def update(access: OrgAccess, body: OrgPatch) -> Org:
    """Rename the org, change its slug or its 2FA policy (`org.update`; requiring 2FA needs the
    caller's own)."""
    org = access.org
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return _org_view(org, access.role)
    if changes.get("require_2fa") and not principal().two_factor:
        raise Forbidden(
            "turn on your own two-factor authentication before requiring it of the org", code="2fa_required"
        )
    now = clock.now_iso()
    ops: list[db.Op] = []
    if "slug" in changes and changes["slug"] != org.slug:
        ops += [data.release_slug(org.slug), data.claim_slug(org.id, changes["slug"])]
    ops.append(data.update(org.id, changes, now))
    chain.transact(
        ops,
        audit=audit.event(
            "org.updated",
            scope_id=org.id,
            resource_type="org",
            resource_id=org.id,
            metadata=_update_metadata(changes),
        ),
    )
    return _org_view(org.model_copy(update={**changes, "updated_at": now}), access.role)


def _update_metadata(changes: dict[str, object]) -> dict[str, object]:
    metadata: dict[str, object] = {"fields": sorted(changes)}
    if "require_2fa" in changes:
        metadata["require_2fa"] = changes["require_2fa"]
    return metadata


def delete(access: OrgAccess) -> None:
    """Tombstone, audit event and purge job atomically (`org.delete`): the org is gone for every
    reader at once (and its tokens with it); everything under it is removed by the purge worker
    afterwards (domain/purge.py, where each step of an org's purge is listed)."""
    org = access.org
    chain.transact(
        [
            data.tombstone(org.id, clock.now_iso()),
            data.release_slug(org.slug),
            platform.count("orgs", -1),
            purge.job_op("org", org.id, org_id=org.id),
        ],
        audit=audit.event(
            "org.deleted", scope_id=org.id, resource_type="org", resource_id=org.id, metadata={"slug": org.slug}
        ),
    )


# --------------------------------------------------------------------------- members


def _member_view(m: MembershipRecord) -> Member:
    user = users.get(m.user_id)
    return Member(
        user_id=m.user_id,
        email=m.email,
        name=user.name if user else "",
        role=m.role,
        joined_at=m.joined_at,
    )


def list_members(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Member], str | None]:
    """A page of the org's members with their names and end-to-end public keys (`members.read`)."""
    records, next_cursor = data.members_page(access.org.id, limit=limit, cursor=cursor)
    names = users.names([m.user_id for m in records])
    public_keys = user_keys.public_keys([m.user_id for m in records])
    out = [
        Member(
            user_id=m.user_id,
            email=m.email,
            name=names.get(m.user_id, ""),
            role=m.role,
            joined_at=m.joined_at,
            public_keys=[PublicKey.model_validate(k) for k in public_keys.get(m.user_id, [])],
        )
        for m in records
    ]
    return out, next_cursor


def _target(access: OrgAccess, user_id: str) -> MembershipRecord:
    target = data.membership(access.org.id, user_id) if ids.is_id(user_id, "usr") else None
    if target is None:
        raise NotFound("member not found")
    return target


def _may_grant(access: OrgAccess, role: str) -> bool:
    """Whether the caller may grant, change or remove `role` (an unknown custom role: 400)."""
    return permissions.may_grant(access.role, access.holds(), role, roles.grants(access.org.id, role))


def _held(access: OrgAccess, role: str) -> bool:
    """`_may_grant` for a role someone holds already (a custom role gone meanwhile holds nothing)."""
    try:
        return _may_grant(access, role)
    except Invalid:
        return permissions.may_grant(access.role, access.holds(), role, {})


def change_role(access: OrgAccess, user_id: str, role: str) -> Member:
    """Change a member's role (`members.manage`): nobody grants or changes a role holding more than
    they do, and the last owner is never demoted (the owner count moves in the same transaction,
    the custom roles' `in_use` too)."""
    target = _target(access, user_id)
    if not _may_grant(access, role) or not _held(access, target.role):
        raise Forbidden(
            f"your role ({access.role}) cannot change a {target.role} into a {role}", details={"role": access.role}
        )
    if role == target.role:
        return _member_view(target)
    delta = (role == "owner") - (target.role == "owner")
    chain.transact(
        [
            data.set_role(target, role),
            data.guard(access.org.id, delta),
            *roles.uses(access.org.id, {target.role: -1, role: 1}),
        ],
        audit=audit.event(
            "member.role_changed",
            scope_id=access.org.id,
            resource_type="member",
            resource_id=target.user_id,
            metadata={"from": target.role, "to": role},
        ),
    )
    return _member_view(target.model_copy(update={"role": role}))


def leaving(user_id: str) -> bool:
    """Whether removing `user_id` is the caller leaving (which needs `org.read` only; removing
    someone else needs `members.manage`)."""
    return user_id == principal().id


def remove_member(access: OrgAccess, user_id: str) -> None:
    """Remove a member, or leave (`leaving`); the last owner can do neither."""
    is_leaving = leaving(user_id)
    access.require("org.read" if is_leaving else "members.manage")
    target = _target(access, user_id)
    if not is_leaving and not _held(access, target.role):
        raise Forbidden(f"your role ({access.role}) cannot remove a {target.role}", details={"role": access.role})
    chain.transact(
        [
            data.remove_member(target),
            data.guard(access.org.id, -1 if target.role == "owner" else 0, usage={"members": -1}),
            *roles.uses(access.org.id, {target.role: -1}),
        ],
        audit=audit.event(
            "member.left" if is_leaving else "member.removed",
            scope_id=access.org.id,
            resource_type="member",
            resource_id=target.user_id,
            metadata={"role": target.role},
        ),
    )


# --------------------------------------------------------------------------- invitations


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invitation_view(inv: InvitationRecord) -> Invitation:
    status = inv.status
    if status == "pending" and clock.parse(inv.expires_at) <= clock.now():
        status = "expired"
    return Invitation.model_validate({**inv.model_dump(), "status": status})


def invite(access: OrgAccess, body: InvitationCreate) -> InvitationCreated:
    """Invite someone by email (`members.manage`), to a role no higher than the caller's."""
    if not _may_grant(access, body.role):
        raise Forbidden(f"your role ({access.role}) cannot invite a {body.role}", details={"role": access.role})
    existing = users.by_email(body.email)
    if existing and data.membership(access.org.id, existing.id):
        raise Conflict("this person is already a member", code="already_member")
    token = INVITATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    expires = now + timedelta(hours=settings().invitation_ttl_hours)
    inv = InvitationRecord(
        id=ids.new_id("inv"),
        org_id=access.org.id,
        email=body.email,
        role=body.role,
        token_hash=_hash(token),
        invited_by=access.principal.id,
        created_at=clock.iso(now),
        expires_at=clock.iso(expires),
    )
    epoch, at = int(expires.timestamp()), clock.iso(now)

    def attempt(released: list[InvitationRecord]) -> None:
        """The invitation, counted against `members`, releasing the expired ones given."""
        joins, note = plans.joins_releasing(access.org, body.role, released, at)
        metadata: dict[str, Any] = {"role": body.role, "email_sha256": _hash(body.email), **note}
        chain.transact(
            [*joins, *invitations.create(inv, epoch)],
            audit=audit.event(
                "member.invited",
                scope_id=access.org.id,
                resource_type="invitation",
                resource_id=inv.id,
                metadata=metadata,
            ),
        )

    plans.create_releasing(attempt, lambda: invitations.expired_pending(access.org.id, at, limit=plans.RELEASE_AT_MOST))
    return InvitationCreated.model_validate({**_invitation_view(inv).model_dump(), "token": token})


def _members(access: OrgAccess) -> int:
    return plans.limit_of(access.org, "members")


def list_invitations(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Invitation], str | None]:
    """A page of the org's invitations (`members.manage`)."""
    records, next_cursor = invitations.page(access.org.id, limit=limit, cursor=cursor)
    return [_invitation_view(r) for r in records], next_cursor


def revoke_invitation(access: OrgAccess, invitation_id: str) -> None:
    """Revoke a pending invitation (`members.manage`)."""
    inv = invitations.get(access.org.id, invitation_id) if ids.is_id(invitation_id, "inv") else None
    if inv is None:
        raise NotFound("invitation not found")
    if inv.status != "pending":
        raise Conflict(f"the invitation is already {inv.status}", code="invitation_not_pending")
    chain.transact(
        [
            *invitations.revoke(inv),
            *roles.uses(inv.org_id, {inv.role: -1}),
            data.guard(inv.org_id, usage={"members": -1}),
        ],
        audit=audit.event("invitation.revoked", scope_id=inv.org_id, resource_type="invitation", resource_id=inv.id),
    )


def accept(token: str) -> Org:
    """Accept an invitation: only by the signed-in user whose email it names and is verified,
    exactly once. The token pointer outlives the acceptance (until its TTL) so that a second use says so (409)."""
    who = principal()  # a user with an unnarrowed credential (access.admit)
    token_hash = _hash(token)
    inv = invitations.by_token_hash(token_hash) if token.startswith(INVITATION_TOKEN_PREFIX) else None
    if inv is None or not hmac.compare_digest(inv.token_hash, token_hash):
        raise NotFound("invitation not found")
    if inv.status == "accepted":
        raise Conflict("the invitation was already accepted", code="invitation_used")
    if inv.status == "expired" or (inv.status == "pending" and clock.parse(inv.expires_at) <= clock.now()):
        raise Gone("the invitation has expired; ask for a new one", code="invitation_expired")
    if inv.status != "pending":
        raise NotFound("invitation not found")
    if clock.parse(inv.expires_at) <= clock.now():
        raise Gone("the invitation has expired; ask for a new one", code="invitation_expired")
    if inv.email.lower() != who.email.lower():
        raise Forbidden("this invitation was sent to another email address", code="invitation_email_mismatch")
    if not who.email_verified:
        # An email nobody proved is no identity for it: such an account accepts nothing sent to it.
        raise Forbidden(
            "your email address is not verified; sign in with an identity provider that verified it",
            code="email_not_verified",
        )
    org = data.get(inv.org_id)
    if org is None:
        raise NotFound("invitation not found")
    if data.membership(org.id, who.id):
        raise Conflict("you are already a member of this organization", code="already_member")
    now = clock.now_iso()
    member = MembershipRecord(org_id=org.id, user_id=who.id, email=who.email, role=inv.role, joined_at=now)
    chain.transact(
        [
            data.guard(org.id, 1 if inv.role == "owner" else 0),
            invitations.mark_accepted(inv, who.id, now),
            data.add_member(
                member, on_fail=Conflict("you are already a member of this organization", code="already_member")
            ),
        ],
        audit=audit.event(
            "member.joined",
            scope_id=org.id,
            resource_type="member",
            resource_id=who.id,
            metadata={"role": inv.role, "invitation_id": inv.id},
        ),
    )
    return _org_view(org, inv.role)


# --------------------------------------------------------------------------- permissions


def catalog() -> PermissionCatalog:
    return PermissionCatalog.model_validate(
        {
            "data": [
                {"name": p.name, "description": p.description, "environment_scoped": p.environment_scoped}
                for p in permissions.CATALOG
            ],
            "roles": [{"name": r.value, "permissions": permissions.role_permissions(r)} for r in permissions.Role],
        }
    )


def my_permissions(org_ref: str) -> MyPermissions:
    access = org_access(org_ref, "org.read")
    perms = dict(sorted(access.holds().items()))
    if access.principal.read_only:
        perms = {
            k: v
            for k, v in perms.items()
            if k in {"org.read", "members.read", "projects.read", "secrets.read", "shared_secrets.read", "audit.read"}
        }
    return MyPermissions.model_validate({"org_id": access.org.id, "role": access.role, "permissions": perms})
