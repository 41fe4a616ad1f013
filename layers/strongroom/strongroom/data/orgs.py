"""Orgs, memberships and invitations: items in the org's partition plus global pointers
(org slug, invitation token hash)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import db, ids, keys
from strongroom.errors import AppError, Conflict, NotFound


class OrgRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    name: str
    slug: str
    status: str = "active"
    created_by: str = ""
    created_at: str
    updated_at: str
    kms_key_arn: str | None = None  # BYOK: the org's own KMS key; None = the service key
    encryption_status: str = "active"  # "migrating" while data keys are re-wrapped
    encryption_updated_at: str | None = None


class MembershipRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    user_id: str
    email: str
    role: str
    joined_at: str


class InvitationRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    email: str
    role: str
    token_hash: str
    invited_by: str
    created_at: str
    expires_at: str
    status: str = "pending"
    accepted_by: str | None = None


def active_check(org_id: str) -> db.Check:
    """A transaction condition: the org still exists and is not being deleted."""
    return db.Check(
        keys.org(org_id),
        "#st = :active",
        names={"#st": "status"},
        values={":active": "active"},
        on_fail=NotFound("organization not found"),
    )


def slug_taken() -> Conflict:
    return Conflict(
        "an organization with this slug already exists",
        code="slug_taken",
        details={"fields": [{"field": "slug", "location": "body", "issue": "already taken"}]},
    )


# --------------------------------------------------------------------------- reads


def get(org_id: str) -> OrgRecord | None:
    item = db.get(keys.org(org_id))
    if not item or item.get("status") != "active":
        return None
    return OrgRecord.model_validate(item)


def resolve(ref: str) -> OrgRecord | None:
    """An org by ID or slug (active only)."""
    if ids.is_id(ref, "org"):
        return get(ref)
    pointer = db.get(keys.org_slug(ref.lower()))
    return get(pointer["org_id"]) if pointer else None


def membership(org_id: str, user_id: str) -> MembershipRecord | None:
    item = db.get(keys.member(org_id, user_id))
    return MembershipRecord.model_validate(item) if item else None


def memberships(org_id: str, user_ids: Iterable[str]) -> dict[str, MembershipRecord]:
    """Several users' memberships of one org by user ID, in one BatchGetItem (per 100 users);
    a user who is not a member is absent."""
    items = db.batch_get([keys.member(org_id, u) for u in dict.fromkeys(user_ids)])
    return {m.user_id: m for m in (MembershipRecord.model_validate(i) for i in items)}


def members_page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[MembershipRecord], str | None]:
    page = db.query(keys.org_partition(org_id), prefix=keys.MEMBER_PREFIX, limit=limit, cursor=cursor)
    return [MembershipRecord.model_validate(i) for i in page.items], page.next_cursor


def user_orgs_page(user_id: str, *, limit: int, cursor: str | None) -> tuple[list[tuple[str, str]], str | None]:
    """(org_id, role) pairs of a user's memberships, from GSI1."""
    page = db.query(keys.user_orgs_gsi_pk(user_id), index=keys.GSI1, limit=limit, cursor=cursor)
    return [(i["org_id"], i["role"]) for i in page.items], page.next_cursor


def count_owners(org_id: str) -> int:
    return sum(1 for i in db.query_all(keys.org_partition(org_id), prefix=keys.MEMBER_PREFIX) if i["role"] == "owner")


def invitation(org_id: str, invitation_id: str) -> InvitationRecord | None:
    item = db.get(keys.invitation(org_id, invitation_id))
    return InvitationRecord.model_validate(item) if item else None


def invitation_by_token_hash(token_hash: str) -> InvitationRecord | None:
    pointer = db.get(keys.invitation_token(token_hash))
    return invitation(pointer["org_id"], pointer["invitation_id"]) if pointer else None


def invitations_page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[InvitationRecord], str | None]:
    page = db.query(keys.org_partition(org_id), prefix=keys.INVITE_PREFIX, limit=limit, cursor=cursor)
    return [InvitationRecord.model_validate(i) for i in page.items], page.next_cursor


# --------------------------------------------------------------------------- item builders


def org_item(org: OrgRecord) -> dict[str, Any]:
    return {**keys.org(org.id), "entity": "org", **org.model_dump()}


def slug_item(org_id: str, slug: str) -> dict[str, Any]:
    return {**keys.org_slug(slug), "entity": "org_slug", "org_id": org_id}


def member_item(m: MembershipRecord) -> dict[str, Any]:
    return {
        **keys.member(m.org_id, m.user_id),
        **keys.member_gsi(m.user_id, m.org_id),
        "entity": "membership",
        **m.model_dump(),
    }


def invitation_item(inv: InvitationRecord, expires_epoch: int) -> dict[str, Any]:
    return {
        **keys.invitation(inv.org_id, inv.id),
        "entity": "invitation",
        **inv.model_dump(exclude_none=True),
        keys.TTL: expires_epoch + 30 * 86_400,
    }


def invitation_token_item(inv: InvitationRecord, expires_epoch: int) -> dict[str, Any]:
    return {
        **keys.invitation_token(inv.token_hash),
        "entity": "invitation_token",
        "org_id": inv.org_id,
        "invitation_id": inv.id,
        keys.TTL: expires_epoch,
    }


# --------------------------------------------------------------------------- BYOK key claims


def kms_key_holder(key_arn: str) -> str | None:
    """The org that has claimed this customer key, if any."""
    item = db.get(keys.kms_key_claim(key_arn))
    return str(item["org_id"]) if item else None


def claim_kms_key(org_id: str, key_arn: str, now: str, *, on_fail: AppError) -> db.Put:
    """A transaction op: this org claims the key; fails (`on_fail`) when any org holds it."""
    item = {**keys.kms_key_claim(key_arn), "entity": "kms_key_claim", "org_id": org_id, "key_arn": key_arn}
    return db.Put.new({**item, "claimed_at": now}, on_fail=on_fail)


def release_kms_key(org_id: str, key_arn: str) -> db.Delete:
    """A transaction op: the org gives its key back (a claim it never wrote, from before claims
    existed, is no obstacle; another org's claim is never removed)."""
    return db.Delete(
        keys.kms_key_claim(key_arn),
        condition="attribute_not_exists(PK) OR org_id = :org",
        values={":org": org_id},
        on_fail=Conflict("the organization's encryption changed; retry", code="encryption_changed"),
    )
