"""SCIM tokens (`sr_scim_…`): an org's identity provider provisions members with one.

    sr_scim_<26-char id>_<32-char secret><6-char checksum>

Minted by an admin (`scim.manage`), shown once, stored as a SHA-256 hash and compared in constant
time, with the checksum of every `sr_…_` token (domain/tokens.py). A SCIM token is scoped to its
org and works on `/scim/v2` only: its principal is a `scim_token`, which `access.admit` refuses
everywhere else, and which no other credential can be on `/scim/v2`. Revocation applies to the
next request (verification reads the token's item every time); a deleted org's tokens no longer
verify."""

from __future__ import annotations

from strongroom import clock, ids
from strongroom.context import Principal
from strongroom.data import chain
from strongroom.data import orgs as org_data
from strongroom.data import scim as data
from strongroom.data.scim import ScimTokenRecord
from strongroom.domain import audit, tokens
from strongroom.errors import NotFound, Unauthorized, Unprocessable
from strongroom.models import ScimToken, ScimTokenCreated
from strongroom.security.access import OrgAccess

PREFIX = "sr_scim_"
MAX_PER_ORG = 20


def verify(token: str, _source_ip: str) -> Principal:
    """The principal of a SCIM token, or 401."""
    token_id = tokens.parse(token, PREFIX, "sct")
    rec = data.get(token_id) if token_id else None
    if rec is None:
        raise Unauthorized("invalid token")
    now = tokens.check(token, rec.token_hash, None)
    if org_data.get(rec.org_id) is None:
        raise Unauthorized("invalid token")
    if tokens.stamp_due(rec.last_used_at, now):
        data.stamp_used(rec.id, now, now - tokens.LAST_USED_EVERY)
    return Principal(type="scim_token", id=rec.id, via="scim_token", org_ids=frozenset({rec.org_id}))


def _view(rec: ScimTokenRecord) -> ScimToken:
    return ScimToken.model_validate(rec.model_dump())


def list_tokens(access: OrgAccess) -> list[ScimToken]:
    return [_view(r) for r in data.of_org(access.org.id)]


def create(access: OrgAccess, name: str) -> ScimTokenCreated:
    """Mint a SCIM token for the org (at most MAX_PER_ORG). Shown once."""
    if len(data.of_org(access.org.id)) >= MAX_PER_ORG:
        raise Unprocessable(f"at most {MAX_PER_ORG} SCIM tokens per org; revoke one first", code="too_many_tokens")
    token_id = ids.new_id("sct")
    token = tokens.mint(token_id, PREFIX)
    rec = ScimTokenRecord(
        id=token_id,
        org_id=access.org.id,
        name=name,
        token_hash=tokens.digest(token),
        created_at=clock.now_iso(),
        created_by=access.principal.id,
    )
    chain.transact(
        [org_data.guard(access.org.id), data.create(rec, on_fail=Unprocessable("token id collision; retry"))],
        audit=audit.event(
            "scim_token.created",
            scope_id=access.org.id,
            resource_type="scim_token",
            resource_id=token_id,
            metadata={"name": name},
        ),
    )
    return ScimTokenCreated(**_view(rec).model_dump(), token=token)


def revoke(access: OrgAccess, token_id: str) -> None:
    """Revoke: the next request with it is 401."""
    rec = data.get(token_id) if ids.is_id(token_id, "sct") else None
    if rec is None or rec.org_id != access.org.id:
        raise NotFound("token not found")
    chain.transact(
        [data.revoke(token_id, on_fail=NotFound("token not found"))],
        audit=audit.event(
            "scim_token.revoked",
            scope_id=access.org.id,
            resource_type="scim_token",
            resource_id=token_id,
            metadata={"name": rec.name},
        ),
    )
