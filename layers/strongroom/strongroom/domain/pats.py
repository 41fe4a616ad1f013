"""Personal access tokens (`sr_pat_…`): act as their user, optionally narrowed to some orgs and
to reading, optionally expiring. Shown once; SHA-256 only; revocable; minted by a user signed
in some other way (a PAT cannot mint PATs), or by device login (domain/device.py).

At most MAX_PER_USER per user, however they are minted and however many requests race: a count
item per user moves in the same transaction as the token it counts, on the condition that it
stays within the cap (`_count_op`).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from strongroom import clock, ids
from strongroom.context import Principal, principal
from strongroom.data import chain, db, keys, readahead
from strongroom.data import orgs as org_data
from strongroom.data import pats as pat_data
from strongroom.data.pats import PatRecord
from strongroom.domain import audit, tokens
from strongroom.errors import Conflict, NotFound, Unauthorized, Unprocessable
from strongroom.models import PersonalToken, PersonalTokenCreate, PersonalTokenCreated

__all__ = ["PatRecord"]  # the record lives with its reads and writes (data/pats.py)

PREFIX = "sr_pat_"
MAX_PER_USER = 50
COUNT_ATTEMPTS = 3


class TooManyTokens(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            f"at most {MAX_PER_USER} personal access tokens per user; revoke one first", code="too_many_tokens"
        )


class _CountMoved(Conflict):
    """The user's first count was written by a concurrent request: read it again and retry."""

    def __init__(self) -> None:
        super().__init__("the token count moved; retry", code="token_count_moved", headers={"Retry-After": "1"})


def verify(token: str, _source_ip: str) -> Principal:
    from strongroom.data import users  # noqa: PLC0415

    pat_id = tokens.parse(token, PREFIX, "pat")
    if pat_id:
        readahead.user_request(keys.personal_token(pat_id), lambda item: _caller(token, item))
    rec = pat_data.get(pat_id) if pat_id else None
    if rec is None:
        raise Unauthorized("invalid token")
    now = tokens.check(token, rec.token_hash, rec.expires_at)
    user = users.get(rec.user_id)
    if user is None:
        raise Unauthorized("invalid token")
    if tokens.stamp_due(rec.last_used_at, now):
        pat_data.stamp_used(rec.id, now, now - tokens.LAST_USED_EVERY)
    return Principal(
        type="user",
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        via="pat",
        two_factor=user.two_factor_enabled,
        org_ids=frozenset(rec.org_ids) if rec.org_ids is not None else None,
        read_only=rec.read_only,
    )


def _caller(token: str, item: dict[str, Any] | None) -> readahead.Caller | None:
    """Whom the PAT item stands for, for the read-ahead: only a token that checks out (its hash, in
    constant time, and its expiry) has anything read past its own item."""
    if item is None or not hmac.compare_digest(str(item.get("token_hash", "")), tokens.digest(token)):
        return None
    expires_at = item.get("expires_at")
    if expires_at and clock.parse(str(expires_at)) <= clock.now():
        return None
    org_ids = item.get("org_ids")
    return readahead.Caller(
        str(item["user_id"]),
        org_ids=frozenset(org_ids) if org_ids is not None else None,
        read_only=bool(item.get("read_only", False)),
    )


def _view(rec: PatRecord) -> PersonalToken:
    return PersonalToken.model_validate(rec.model_dump())


def issue(
    who: Principal,
    name: str,
    *,
    org_ids: list[str] | None,
    read_only: bool,
    expires_at: datetime | None,
    via: str,
) -> PersonalTokenCreated:
    """Mint a PAT for `who` (a user), audited in the user's trail. Shown once."""
    pat_id = ids.new_id("pat")
    token = tokens.mint(pat_id, PREFIX)
    rec = PatRecord(
        id=pat_id,
        user_id=who.id,
        name=name,
        token_hash=tokens.digest(token),
        org_ids=org_ids,
        read_only=read_only,
        expires_at=clock.iso(expires_at) if expires_at else None,
        created_at=clock.now_iso(),
        created_via=via,
    )
    _with_count(
        who.id,
        +1,
        [pat_data.create(rec, on_fail=Unprocessable("token id collision; retry"))],
        audit.event(
            "pat.created",
            scope_id=who.id,
            resource_type="personal_token",
            resource_id=pat_id,
            metadata={"name": name, "read_only": read_only, "orgs": org_ids, "via": via},
        ),
    )
    return PersonalTokenCreated(**_view(rec).model_dump(), token=token)


def count(user_id: str) -> int:
    """How many tokens the user holds (for an early, friendly refusal; the cap itself is enforced
    by the write, `_with_count`)."""
    counted = pat_data.count(user_id)
    return counted if counted is not None else len(pat_data.of_user(user_id))


def _count_op(user_id: str, delta: int) -> db.Op:
    """The change of the user's token count, in the transaction that adds or removes a token: the
    cap is a condition of the write, so concurrent requests and every way of minting (the API,
    device login) hold to it. The first count is taken from the tokens themselves (tokens made
    before the counter existed included) and written only if no other request wrote one first."""
    if pat_data.count(user_id) is None:
        first = len(pat_data.of_user(user_id)) + delta
        if first > MAX_PER_USER:
            raise TooManyTokens
        return pat_data.first_count(user_id, max(first, 0), on_fail=_CountMoved())
    if delta > 0:
        return pat_data.add_to_count(user_id, delta, at_most=MAX_PER_USER, on_fail=TooManyTokens())
    return pat_data.take_from_count(user_id, delta, on_fail=_CountMoved())


def _with_count(user_id: str, delta: int, ops: list[db.Op], event: audit.AuditEvent) -> None:
    for _attempt in range(COUNT_ATTEMPTS):
        try:
            chain.transact([*ops, _count_op(user_id, delta)], audit=event)
            return
        except _CountMoved:
            continue
    raise _CountMoved


def create(body: PersonalTokenCreate) -> PersonalTokenCreated:
    who = principal()  # a user signed in directly, not with a token (access.admit)
    org_ids: list[str] | None = None
    if body.orgs is not None:
        org_ids = []
        for ref in body.orgs:
            org = org_data.resolve(ref)
            if org is None or org_data.membership(org.id, who.id) is None:
                raise Unprocessable(
                    f"you are not a member of '{ref}'",
                    code="unknown_org",
                    details={"fields": [{"field": "orgs", "location": "body", "issue": "not a member"}]},
                )
            org_ids.append(org.id)
    if body.expires_at is not None and body.expires_at <= clock.now():
        raise Unprocessable("`expires_at` is in the past", code="invalid_expiry")
    return issue(who, body.name, org_ids=org_ids, read_only=body.read_only, expires_at=body.expires_at, via="api")


def list_mine() -> list[PersonalToken]:
    return [_view(r) for r in pat_data.of_user(principal().id)]


def revoke(pat_id: str) -> None:
    who = principal()
    rec = pat_data.get(pat_id) if ids.is_id(pat_id, "pat") else None
    if rec is None or rec.user_id != who.id:
        raise NotFound("token not found")
    _with_count(
        who.id,
        -1,
        [pat_data.revoke(pat_id, on_fail=NotFound("token not found"))],
        audit.event(
            "pat.revoked",
            scope_id=who.id,
            resource_type="personal_token",
            resource_id=pat_id,
            metadata={"name": rec.name},
        ),
    )
