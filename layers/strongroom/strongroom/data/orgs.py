"""Orgs and memberships: the ORG item and MEMBER# items in the org's partition, the global slug
pointer, the claims of customer keys; their reads and the ops of the transactions that change
them (invitations: data/invitations.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import ids
from strongroom.data import db, keys, platform
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
    require_2fa: bool = False  # members without 2FA are refused (security/access.py)
    # Plans and limits (domain/plans.py): the plan, the org's own limits over it, and the counters
    # of what the limits bound, moved by the creates and deletes that change them (`guard`).
    plan: str = "free"
    limit_overrides: dict[str, int] = {}
    usage_projects: int = 0
    usage_environments: int = 0
    usage_members: int = 0
    usage_service_tokens: int = 0
    usage_webhooks: int = 0
    billing_customer_id: str | None = None
    billing_subscription_id: str | None = None
    billing_status: str | None = None


class MembershipRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    user_id: str
    email: str
    role: str
    joined_at: str


_STATUS = {"#st": "status"}


def _not_found() -> NotFound:
    return NotFound("organization not found")


def active_check(org_id: str) -> db.Check:
    """A transaction condition: the org still exists and is not being deleted."""
    return db.Check(
        keys.org(org_id), "#st = :active", names=_STATUS, values={":active": "active"}, on_fail=_not_found()
    )


def count_roles(org_id: str, delta: int, *, at_most: int) -> db.Update:
    """A transaction op: the org's `role_count` moves by `delta` (+1 for a new custom role, -1 for
    a deleted one); the org must be active, and a new role must leave at most `at_most` (409
    `too_many_roles`). Orgs older than the counter count from their first role created or deleted."""
    if delta < 0:
        return _count(org_id, "role_count", delta)
    full = Conflict(
        f"an organization holds at most {at_most} custom roles; delete one first",
        code="too_many_roles",
        details={"limit": at_most},
    )
    guard = "(attribute_not_exists(role_count) OR role_count < :max)"
    return _count(org_id, "role_count", delta, guard=guard, values={":max": at_most}, on_fail=full)


def _count(
    org_id: str,
    attribute: str,
    delta: int,
    *,
    guard: str = "",
    values: dict[str, Any] | None = None,
    on_fail: AppError | None = None,
) -> db.Update:
    """`ADD <attribute> delta` on the org item, while the org is active (and `guard` holds)."""
    return db.Update(
        keys.org(org_id),
        f"ADD {attribute} :d",
        condition="#st = :active" + (f" AND {guard}" if guard else ""),
        names=_STATUS,
        values={":d": delta, ":active": "active", **(values or {})},
        on_fail=on_fail or _not_found(),
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


def active_orgs(org_ids: Iterable[str]) -> dict[str, OrgRecord]:
    """Several orgs by ID in one BatchGetItem (per 100); a deleted or missing one is absent."""
    items = db.batch_get([keys.org(o) for o in dict.fromkeys(org_ids)])
    return {i["id"]: OrgRecord.model_validate(i) for i in items if i.get("status") == "active"}


def count_owners(org_id: str) -> int:
    return sum(1 for i in db.query_all(keys.org_partition(org_id), prefix=keys.MEMBER_PREFIX) if i["role"] == "owner")


# --------------------------------------------------------------------------- item builders


def org_item(org: OrgRecord) -> dict[str, Any]:
    """The org's item, listed by slug for platform admins (GSI1 `ORGS`)."""
    return {**keys.org(org.id), **keys.org_listing_gsi(org.slug), "entity": "org", **org.model_dump()}


def slug_item(org_id: str, slug: str) -> dict[str, Any]:
    return {**keys.org_slug(slug), "entity": "org_slug", "org_id": org_id}


def member_item(m: MembershipRecord) -> dict[str, Any]:
    return {
        **keys.member(m.org_id, m.user_id),
        **keys.member_gsi(m.user_id, m.org_id),
        "entity": "membership",
        **m.model_dump(),
    }


# --------------------------------------------------------------------------- ops


def create(org: OrgRecord, owner: MembershipRecord) -> list[db.Op]:
    """A new org (one owner), its slug pointer and its owner's membership, all create-only."""
    return [
        db.Put.new({**org_item(org), "owner_count": 1}),
        claim_slug(org.id, org.slug),
        add_member(owner),
        platform.count("orgs", 1),
    ]


USAGE = {
    "projects": "usage_projects",
    "environments": "usage_environments",
    "members": "usage_members",
    "service_tokens": "usage_service_tokens",
    "webhooks": "usage_webhooks",
}


def claim_slug(org_id: str, slug: str) -> db.Put:
    return db.Put.new(slug_item(org_id, slug), on_fail=slug_taken())


def release_slug(slug: str) -> db.Delete:
    return db.Delete(keys.org_slug(slug))


def update(org_id: str, changes: dict[str, Any], now: str) -> db.Update:
    """Set `changes` on the org while it is active."""
    return db.Update.set_fields(keys.org(org_id), changes, updated_at=now, active_only=True, on_fail=_not_found())


def tombstone(org_id: str, now: str) -> db.Update:
    """active → deleted: every reader sees 404 from this transaction on."""
    return db.Update(
        keys.org(org_id),
        "SET #st = :deleted, deleted_at = :now",
        condition="#st = :active",
        names=_STATUS,
        values={":deleted": "deleted", ":active": "active", ":now": now},
        on_fail=_not_found(),
    )


def guard(
    org_id: str,
    owner_delta: int = 0,
    *,
    usage: dict[str, int] | None = None,
    limit: tuple[str, int | None, AppError] | None = None,
) -> db.Op:
    """The one operation a transaction may carry on the org item (DynamoDB allows one per item):
    the org must be active; when owners are added or removed, `owner_count` moves with it (never
    below one: 409 `last_owner`); `usage` moves the plan counters (`projects`, `members`, … by
    delta); `limit` = (counter, the most it may hold before this change or None, the error when it
    holds more): a create past its plan's limit is refused in its own transaction, race-free."""
    moves = {USAGE[name]: delta for name, delta in (usage or {}).items() if delta}
    if owner_delta == 0 and not moves:
        if limit is not None and limit[1] is not None:  # a create that released as many as it adds
            return db.Check(
                keys.org(org_id),
                "#st = :active AND (attribute_not_exists(#lim) OR #lim <= :lim)",
                names={**_STATUS, "#lim": USAGE[limit[0]]},
                values={":active": "active", ":lim": limit[1]},
                on_fail=limit[2],
            )
        return active_check(org_id)
    if owner_delta:
        moves["owner_count"] = owner_delta
    names = {**_STATUS, **{f"#c{i}": attr for i, attr in enumerate(moves)}}
    values: dict[str, Any] = {":active": "active", **{f":c{i}": d for i, d in enumerate(moves.values())}}
    expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(moves)))
    condition = "#st = :active"
    on_fail: AppError = _not_found()
    if owner_delta < 0:
        # Owners removed together (a SCIM Group emptied) must leave one: more than them beforehand.
        condition += " AND owner_count > :leaving"
        values[":leaving"] = -owner_delta
        on_fail = Conflict("an organization must keep at least one owner", code="last_owner")
    if limit is not None and limit[1] is not None:
        attr = USAGE[limit[0]]
        names["#lim"] = attr
        values[":lim"] = limit[1]
        condition += " AND (attribute_not_exists(#lim) OR #lim <= :lim)"
        on_fail = limit[2]
    return db.Update(keys.org(org_id), expression, condition=condition, names=names, values=values, on_fail=on_fail)


def add_member(m: MembershipRecord, *, on_fail: AppError | None = None) -> db.Put:
    """A new membership (create-only)."""
    return db.Put.new(member_item(m), on_fail=on_fail)


def set_role(m: MembershipRecord, role: str) -> db.Update:
    """The member's role, conditional on the role read."""
    return db.Update(
        keys.member(m.org_id, m.user_id),
        "SET #r = :r",
        condition="#r = :old",
        names={"#r": "role"},
        values={":r": role, ":old": m.role},
        on_fail=Conflict("the member's role changed meanwhile; retry"),
    )


def remove_member(m: MembershipRecord) -> db.Delete:
    return db.Delete(
        keys.member(m.org_id, m.user_id), condition="attribute_exists(PK)", on_fail=NotFound("member not found")
    )


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
