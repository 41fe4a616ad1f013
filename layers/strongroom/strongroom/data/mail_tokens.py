"""Mailed single-use tokens (`MAILTOKEN#<sha256>`) and the hourly counters of mail requests
(`MAILCOUNT#<kind>#<subject> / HOUR#<h>`); layout in docs/data-model.md.

A token item is keyed by the SHA-256 of the token (the token itself is never stored), names its
purpose, its user and the email it was sent to, and expires (`expires_at_epoch`, also DynamoDB's
TTL). Issuing one is bookkeeping (an unaudited, create-only put); using one is the delete of the
item, conditional on its purpose and expiry, inside the audited transaction of the change it
allows, so a token works once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from strongroom.data import accounts as account_data
from strongroom.data import db, keys
from strongroom.errors import AppError

Purpose = Literal["verify_email", "reset_password"]


class MailToken(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    purpose: Purpose
    user_id: str
    email: str
    # The user's session generation when issued: a reset is refused once it has moved (another
    # reset or password change came first).
    generation: int = 0
    created_at: str
    expires_at_epoch: int


def get(token_hash: str) -> MailToken | None:
    item = db.get(keys.mail_token(token_hash), consistent=True)
    return MailToken.model_validate(item) if item else None


def issue(token_hash: str, rec: MailToken) -> None:
    """Store a new token (bookkeeping, not audited: docs/decisions.md)."""
    db.put_plain(
        {**keys.mail_token(token_hash), "entity": "mail_token", **rec.model_dump()},  # expires_at_epoch: the TTL
        condition="attribute_not_exists(PK)",
    )


def consume(token_hash: str, purpose: Purpose, *, now: int, on_fail: AppError) -> db.Delete:
    """The token's single use: its item goes, while it is of `purpose` and unexpired."""
    return db.Delete(
        keys.mail_token(token_hash),
        condition="purpose = :p AND #exp > :now",
        names={"#exp": keys.TTL},
        values={":p": purpose, ":now": now},
        on_fail=on_fail,
    )


def count(kind: str, subject: str, *, hour: int, limit: int) -> bool:
    """One more mail request of `kind` from `subject` this hour, unless it had `limit` (False)."""
    return account_data.count_in_hour(keys.mail_count(kind, subject, hour), hour=hour, limit=limit, entity="mail_count")
