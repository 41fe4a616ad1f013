"""Invitations: an `INVITE#<inv_id>` item in the org's partition and a global pointer from the
token's SHA-256 (`INVTOKEN#…`); the token itself is never stored. Their reads, their items and
the ops of the transactions that create, revoke and accept them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError, Conflict

PENDING = "pending"
_STATUS = {"#st": "status"}
RETAIN_SECONDS = 30 * 86_400  # an invitation item outlives its expiry by this (then TTL)


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
    status: str = PENDING
    accepted_by: str | None = None


# --------------------------------------------------------------------------- reads


def get(org_id: str, invitation_id: str) -> InvitationRecord | None:
    item = db.get(keys.invitation(org_id, invitation_id))
    return InvitationRecord.model_validate(item) if item else None


def by_token_hash(token_hash: str) -> InvitationRecord | None:
    pointer = db.get(keys.invitation_token(token_hash))
    return get(pointer["org_id"], pointer["invitation_id"]) if pointer else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[InvitationRecord], str | None]:
    found = db.query(keys.org_partition(org_id), prefix=keys.INVITE_PREFIX, limit=limit, cursor=cursor)
    return [InvitationRecord.model_validate(i) for i in found.items], found.next_cursor


# --------------------------------------------------------------------------- items and ops


def item(inv: InvitationRecord, expires_epoch: int) -> dict[str, Any]:
    return {
        **keys.invitation(inv.org_id, inv.id),
        "entity": "invitation",
        **inv.model_dump(exclude_none=True),
        keys.TTL: expires_epoch + RETAIN_SECONDS,
    }


def token_item(inv: InvitationRecord, expires_epoch: int) -> dict[str, Any]:
    return {
        **keys.invitation_token(inv.token_hash),
        "entity": "invitation_token",
        "org_id": inv.org_id,
        "invitation_id": inv.id,
        keys.TTL: expires_epoch,
    }


def create(inv: InvitationRecord, expires_epoch: int) -> list[db.Op]:
    """The invitation and its token pointer, both create-only."""
    return [db.Put.new(item(inv, expires_epoch)), db.Put.new(token_item(inv, expires_epoch))]


def revoke(inv: InvitationRecord) -> list[db.Op]:
    """Pending → revoked (conditional on still pending), and the token pointer removed."""
    return [
        db.Update(
            keys.invitation(inv.org_id, inv.id),
            "SET #st = :revoked",
            condition="#st = :pending",
            names=_STATUS,
            values={":revoked": "revoked", ":pending": PENDING},
            on_fail=Conflict("the invitation is no longer pending", code="invitation_not_pending"),
        ),
        db.Delete(keys.invitation_token(inv.token_hash)),
    ]


def mark_accepted(inv: InvitationRecord, user_id: str, now: str) -> db.Update:
    """Pending → accepted by `user_id`, once (a second acceptance fails: 409 `invitation_used`).
    The token pointer stays (until its TTL), so a second use says so."""
    return db.Update(
        keys.invitation(inv.org_id, inv.id),
        "SET #st = :accepted, accepted_by = :u, accepted_at = :now",
        condition="#st = :pending",
        names=_STATUS,
        values={":accepted": "accepted", ":pending": PENDING, ":u": user_id, ":now": now},
        on_fail=Conflict("the invitation was already accepted", code="invitation_used"),
    )


# --------------------------------------------------------------------------- expired, released


def expired_pending(org_id: str, now: str, *, limit: int) -> list[InvitationRecord]:
    """Up to `limit` of the org's invitations still pending past their expiry (they count against
    `members` until released: a create at the limit releases them; one Query of the partition)."""
    found = db.query(
        keys.org_partition(org_id),
        prefix=keys.INVITE_PREFIX,
        limit=limit,
        filter_expression="#st = :pending AND expires_at <= :now",
        filter_values={":pending": PENDING, ":now": now},
        filter_names=_STATUS,
    )
    return [InvitationRecord.model_validate(i) for i in found.items]


def release(inv: InvitationRecord, now: str, *, on_fail: AppError) -> db.Update:
    """Pending past its expiry → expired (conditional on both, so that two creates never release
    one invitation twice): it no longer counts against `members` (the create's transaction moves
    the counter)."""
    return db.Update(
        keys.invitation(inv.org_id, inv.id),
        "SET #st = :expired, released_at = :now",
        condition="#st = :pending AND expires_at <= :now",
        names=_STATUS,
        values={":expired": "expired", ":pending": PENDING, ":now": now},
        on_fail=on_fail,
    )
