"""Personal access tokens (`sr_pat_…`): act as their user, optionally narrowed to some orgs and
to reading, optionally expiring. Shown once; SHA-256 only; revocable; minted by a user signed
in some other way (a PAT cannot mint PATs), or by device login (domain/device.py).

At most MAX_PER_USER per user, however they are minted and however many requests race: a count
item per user moves in the same transaction as the token it counts, on the condition that it
stays within the cap (`_count_op`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import audit, clock, db, ids, keys
from strongroom.context import Principal, principal
from strongroom.data import chain
from strongroom.data import orgs as org_data
from strongroom.domain import tokens
from strongroom.errors import Conflict, NotFound, Unauthorized, Unprocessable
from strongroom.models import PersonalToken, PersonalTokenCreate, PersonalTokenCreated

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


class PatRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    user_id: str
    name: str
    token_hash: str
    org_ids: list[str] | None = None
    read_only: bool = False
    expires_at: str | None = None
    created_at: str
    created_via: str = "api"
    last_used_at: str | None = None


def verify(token: str, _source_ip: str) -> Principal:
    from strongroom.data import users  # noqa: PLC0415

    pat_id = tokens.parse(token, PREFIX, "pat")
    item = db.get(keys.personal_token(pat_id)) if pat_id else None
    if item is None:
        raise Unauthorized("invalid token")
    rec = PatRecord.model_validate(item)
    now = tokens.check(token, rec.token_hash, rec.expires_at)
    user = users.get(rec.user_id)
    if user is None:
        raise Unauthorized("invalid token")
    tokens.mark_used(keys.personal_token(rec.id), rec.last_used_at, now)
    return Principal(
        type="user",
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        via="pat",
        org_ids=frozenset(rec.org_ids) if rec.org_ids is not None else None,
        read_only=rec.read_only,
    )


def _view(rec: PatRecord) -> PersonalToken:
    return PersonalToken.model_validate(rec.model_dump())


def _item(rec: PatRecord) -> dict[str, Any]:
    return {
        **keys.personal_token(rec.id),
        **keys.personal_token_index(rec.user_id, rec.created_at, rec.id),
        "entity": "personal_token",
        **rec.model_dump(exclude_none=True),
    }


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
        [db.Put.new(_item(rec), on_fail=Unprocessable("token id collision; retry"))],
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
    item = db.get(keys.personal_token_count(user_id))
    return int(item["count"]) if item else len(_records(user_id))


def _count_op(user_id: str, delta: int) -> db.Op:
    """The change of the user's token count, in the transaction that adds or removes a token: the
    cap is a condition of the write, so concurrent requests and every way of minting (the API,
    device login) hold to it. The first count is taken from the tokens themselves (tokens made
    before the counter existed included) and written only if no other request wrote one first."""
    key = keys.personal_token_count(user_id)
    item = db.get(key)
    if item is None:
        first = len(_records(user_id)) + delta
        if first > MAX_PER_USER:
            raise TooManyTokens
        return db.Put(
            {**key, "entity": "personal_token_count", "count": max(first, 0)},
            condition="attribute_not_exists(PK)",
            on_fail=_CountMoved(),
        )
    if delta > 0:
        return db.Update(
            key,
            "ADD #c :d",
            condition="#c <= :before",
            names={"#c": "count"},
            values={":d": delta, ":before": MAX_PER_USER - delta},
            on_fail=TooManyTokens(),
        )
    return db.Update(key, "ADD #c :d", names={"#c": "count"}, values={":d": delta}, on_fail=_CountMoved())


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


def _records(user_id: str) -> list[PatRecord]:
    return [PatRecord.model_validate(i) for i in db.query_all(keys.personal_tokens_partition(user_id), index=keys.GSI1)]


def list_mine() -> list[PersonalToken]:
    return [_view(r) for r in _records(principal().id)]


def revoke(pat_id: str) -> None:
    who = principal()
    item = db.get(keys.personal_token(pat_id)) if ids.is_id(pat_id, "pat") else None
    if item is None or item.get("user_id") != who.id:
        raise NotFound("token not found")
    _with_count(
        who.id,
        -1,
        [db.Delete(keys.personal_token(pat_id), condition="attribute_exists(PK)", on_fail=NotFound("token not found"))],
        audit.event(
            "pat.revoked",
            scope_id=who.id,
            resource_type="personal_token",
            resource_id=pat_id,
            metadata={"name": item.get("name", "")},
        ),
    )
