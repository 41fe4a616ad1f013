"""Service-token items (keys in keys.py, layout in docs/data-model.md): `TOKEN#<id> / TOKEN`,
indexed by org on GSI1 (`ORG#<org>#TOKENS`, newest last). Every read of them, the read-ahead of a
token's scope, the ops of create/rotate/revoke (with their conditions) and the last-used stamp
are built here; domain/tokens.py decides what a change writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys
from strongroom.errors import AppError


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    project_id: str
    environment_id: str
    permissions: list[str]
    token_hash: str
    expires_at: str | None = None
    allowed_cidrs: list[str] = []
    created_at: str
    created_by: str
    rotated_at: str | None = None
    last_used_at: str | None = None
    # A token issued to a machine identity (token exchange): the identity, the revision of it the
    # token was issued under (a replaced or deleted identity ends its tokens), and who proved it
    # (the JWT's `sub`, or the caller's AWS ARN).
    identity_id: str | None = None
    identity_revision: int | None = None
    subject: str | None = None
    # A client-made token (for a client-encrypted environment): its public key and suite, the key
    # its grant is sealed to; the client keeps the token (and so its private key).
    public_key: str | None = None
    suite: str | None = None
    # Expired and no longer counted against the plan's `service_tokens` (a create at the limit
    # released it); its revocation then moves no counter.
    released_at: str | None = None


# --------------------------------------------------------------------------- reads


def scope_keys(org_id: str, project_id: str, env_id: str) -> list[dict[str, str]]:
    """What a token's request reads next: its org, project, environment and the snapshot."""
    return [
        keys.org(org_id),
        keys.project(org_id, project_id),
        keys.environment(org_id, project_id, env_id),
        keys.env_snapshot(env_id),
    ]


def read_ahead(token_id: str | None, scope: tuple[str, str, str], identity_id: str | None = None) -> None:
    """Read the scope's items (and the token's, given its ID, and the identity's it was issued to)
    in one consistent BatchGetItem, for the rest of this request (`db.prefetch`)."""
    token_key = [keys.service_token(token_id)] if token_id is not None else []
    identity_key = [keys.identity(identity_id)] if identity_id is not None else []
    db.prefetch([*token_key, *scope_keys(*scope), *identity_key])


def get(token_id: str) -> TokenRecord | None:
    item = db.get(keys.service_token(token_id))
    return TokenRecord.model_validate(item) if item is not None else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[TokenRecord], str | None]:
    """A page of the org's tokens (GSI1, by creation)."""
    found = db.query(keys.org_tokens_partition(org_id), index=keys.GSI1, limit=limit, cursor=cursor)
    return [TokenRecord.model_validate(i) for i in found.items], found.next_cursor


def standing(records: Sequence[TokenRecord]) -> list[TokenRecord]:
    """The tokens whose org, project and environment all still stand (active): one BatchGetItem
    of them (none when read ahead)."""

    def scope(r: TokenRecord) -> list[tuple[str, str]]:
        return [(k[keys.PK], k[keys.SK]) for k in scope_keys(r.org_id, r.project_id, r.environment_id)[:3]]

    def identity(r: TokenRecord) -> list[tuple[str, str]]:
        key = keys.identity(r.identity_id) if r.identity_id else None
        return [(key[keys.PK], key[keys.SK])] if key else []

    wanted = list(dict.fromkeys(ident for r in records for ident in [*scope(r), *identity(r)]))
    items = db.batch_get([{keys.PK: pk, keys.SK: sk} for pk, sk in wanted]) if wanted else []
    up = {(i[keys.PK], i[keys.SK]) for i in items if i.get("status", "active") == "active"}
    revisions = {(i[keys.PK], i[keys.SK]): i.get("revision") for i in items if i.get("entity") == "identity"}

    def issued_under_current(r: TokenRecord) -> bool:
        return all(revisions.get(ident) == r.identity_revision for ident in identity(r))

    return [r for r in records if all(ident in up for ident in scope(r)) and issued_under_current(r)]


# --------------------------------------------------------------------------- ops of a change


def item(rec: TokenRecord) -> dict[str, Any]:
    out = {
        **keys.service_token(rec.id),
        **keys.service_token_index(rec.org_id, rec.created_at, rec.id),
        "entity": "service_token",
        **rec.model_dump(exclude_none=True),
    }
    if rec.identity_id and rec.expires_at:
        # An exchanged token is short-lived: TTL removes the dead item (verification refuses it from
        # `expires_at` on, whether or not TTL has run).
        out[keys.TTL] = int(clock.parse(rec.expires_at).timestamp()) + TTL_GRACE_SECONDS
    return out


TTL_GRACE_SECONDS = 3600


def create(rec: TokenRecord, *, on_fail: AppError) -> db.Put:
    """A transaction op: the new token item (a taken ID fails)."""
    return db.Put.new(item(rec), on_fail=on_fail)


def rotate(rec: TokenRecord, token_hash: str, now: str, *, on_fail: AppError) -> db.Update:
    """A transaction op: the token's new hash, on the condition that it still has the one read."""
    return db.Update(
        keys.service_token(rec.id),
        "SET token_hash = :h, rotated_at = :now",
        condition="token_hash = :old",
        values={":h": token_hash, ":now": now, ":old": rec.token_hash},
        on_fail=on_fail,
    )


def revoke(rec: TokenRecord, *, on_fail: AppError) -> db.Delete:
    """A transaction op: the token item's deletion (it must still exist, released or not as read:
    the counter the revocation moves, or not, is the one it read)."""
    released = "attribute_exists(released_at)" if rec.released_at else "attribute_not_exists(released_at)"
    return db.Delete(keys.service_token(rec.id), condition=f"attribute_exists(PK) AND {released}", on_fail=on_fail)


def expired_counted(org_id: str, now: str, *, limit: int) -> list[TokenRecord]:
    """Up to `limit` of the org's service tokens past their expiry and still counted (an exchanged
    token never was): one Query of the org's token index."""
    found = db.query(
        keys.org_tokens_partition(org_id),
        index=keys.GSI1,
        limit=limit,
        filter_expression=(
            "expires_at <= :now AND attribute_not_exists(released_at) AND attribute_not_exists(identity_id)"
        ),
        filter_values={":now": now},
    )
    return [TokenRecord.model_validate(i) for i in found.items if i.get("entity") == "service_token"]


def release(rec: TokenRecord, now: str, *, on_fail: AppError) -> db.Update:
    """Expired → no longer counted (conditional on both: two creates never release it twice)."""
    return db.Update(
        keys.service_token(rec.id),
        "SET released_at = :now",
        condition="attribute_exists(PK) AND expires_at <= :now AND attribute_not_exists(released_at)",
        values={":now": now},
        on_fail=on_fail,
    )


# --------------------------------------------------------------------------- bookkeeping


def stamp_used(key: dict[str, str], now: datetime, recent: datetime) -> None:
    """Stamp the token item at `key` (a service token's or a PAT's) as used at `now`, unless it
    was stamped after `recent` (unaudited bookkeeping, outside any transaction)."""
    db.update_plain(
        key,
        "SET last_used_at = :now",
        condition="attribute_not_exists(last_used_at) OR last_used_at < :recent",
        values={":now": clock.iso(now), ":recent": clock.iso(recent)},
    )


def stamp_token_used(token_id: str, now: datetime, recent: datetime) -> None:
    stamp_used(keys.service_token(token_id), now, recent)
