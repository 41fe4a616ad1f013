"""Password accounts: the password item `USER#<usr> / PASSWORD`, session items `SESSION#<ses>`,
failed logins `LOGINFAIL#<email>`, wrong 2FA codes of a signed-in user `CODEFAIL#<usr>` and
registrations per source IP `REGISTERIP#<ip> / HOUR#<h>` (layout in docs/data-model.md). Every
read of them and every condition and update expression is built here; domain/accounts.py and
domain/two_factor.py decide which happens.

A user's `session_generation` (on the user item) outdates every session of an older generation
at once: a password change moves it, and restamps the session that made the change.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError


class SessionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    user_id: str
    generation: int = 0
    expires_at: str
    created_at: str


class FailuresRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    count: int
    window_end: int  # epoch seconds


# --------------------------------------------------------------------------- reads


def password_hash(user_id: str) -> str | None:
    item = db.get(keys.user_password(user_id))
    return str(item["hash"]) if item else None


def session(session_id: str) -> SessionRecord | None:
    item = db.get(keys.session(session_id))
    return SessionRecord.model_validate(item) if item else None


def session_generation(user_item: dict[str, Any] | None) -> int:
    return int((user_item or {}).get("session_generation", 0))


def failures(email: str) -> FailuresRecord | None:
    return counted(keys.login_failures(email))


def code_failures(user_id: str) -> FailuresRecord | None:
    return counted(keys.code_failures(user_id))


def counted(key: dict[str, str]) -> FailuresRecord | None:
    item = db.get(key)
    return FailuresRecord.model_validate(item) if item else None


# --------------------------------------------------------------------------- audited ops


def password_put(user_id: str, hashed: str, now: str) -> db.Put:
    return db.Put.new({**keys.user_password(user_id), "entity": "user_password", "hash": hashed, "updated_at": now})


def password_change(user_id: str, hashed: str, now: str, *, was: str, on_fail: AppError) -> db.Update:
    """The new hash, while the old one is still the one the caller proved (no lost update)."""
    return db.Update(
        keys.user_password(user_id),
        "SET #h = :h, updated_at = :now",
        condition="#h = :was",
        names={"#h": "hash"},
        values={":h": hashed, ":now": now, ":was": was},
        on_fail=on_fail,
    )


def rehash(user_id: str, hashed: str, *, was: str) -> db.Update:
    """A stronger hash of the same password (parameters raised since it was set)."""
    return db.Update(
        keys.user_password(user_id),
        "SET #h = :h",
        condition="#h = :was",
        names={"#h": "hash"},
        values={":h": hashed, ":was": was},
    )


def session_put(rec: SessionRecord, *, ttl: int, on_fail: AppError) -> db.Put:
    return db.Put(
        {**keys.session(rec.id), "entity": "session", **rec.model_dump(), keys.TTL: ttl},
        condition="attribute_not_exists(PK)",
        on_fail=on_fail,
    )


def session_delete(session_id: str) -> db.Delete:
    return db.Delete(keys.session(session_id))


def next_generation(user_id: str, *, was: int, on_fail: AppError) -> db.Update:
    """Every session of an older generation ends (they no longer match the user's)."""
    condition = "session_generation = :was" if was else "attribute_not_exists(session_generation)"
    values: dict[str, Any] = {":new": was + 1}
    if was:
        values[":was"] = was
    return db.Update(
        keys.user(user_id),
        "SET session_generation = :new",
        condition=condition,
        values=values,
        on_fail=on_fail,
    )


def session_restamp(session_id: str, generation: int, *, on_fail: AppError) -> db.Update:
    return db.Update(
        keys.session(session_id),
        "SET generation = :g",
        condition="attribute_exists(PK)",
        values={":g": generation},
        on_fail=on_fail,
    )


# --------------------------------------------------------------------------- counters, unaudited


def count_failure(email: str, *, now: int, window: int, known: FailuresRecord | None) -> None:
    """One more failed login for `email` (known or not)."""
    count_in_window(keys.login_failures(email), now=now, window=window, known=known, entity="login_failures")


def count_code_failure(user_id: str, *, now: int, window: int, known: FailuresRecord | None) -> None:
    """One more wrong second-factor code at enable or disable for a signed-in user."""
    count_in_window(keys.code_failures(user_id), now=now, window=window, known=known, entity="code_failures")


def count_in_window(key: dict[str, str], *, now: int, window: int, known: FailuresRecord | None, entity: str) -> None:
    """One more failure in the counter `key`: in the current window, or starting a new one (of
    `window` seconds). One conditional UpdateItem; a second only if a concurrent failure moved the
    window in between (each attempt is counted exactly once)."""
    names = {"#c": "count", "#we": "window_end", "#ttl": keys.TTL}
    active = known is not None and known.window_end > now
    for _attempt in range(3):
        if active:
            done = db.update_plain(
                key,
                "SET #c = #c + :one",
                condition="#we > :now",
                values={":one": 1, ":now": now},
                names={"#c": "count", "#we": "window_end"},
            )
        else:
            end = now + window
            done = db.update_plain(
                key,
                "SET #c = :one, #we = :end, #ttl = :end, entity = :entity",
                condition="attribute_not_exists(PK) OR #we <= :now",
                values={":one": 1, ":end": end, ":now": now, ":entity": entity},
                names=names,
            )
        if done:
            return
        active = not active


def count_registration(ip: str, *, hour: int, limit: int) -> bool:
    """One more registration from `ip` this hour, unless it had `limit` already (False). One
    conditional UpdateItem; the item expires an hour after its hour."""
    return count_in_hour(keys.register_count(ip, hour), hour=hour, limit=limit, entity="register_count")


def count_in_hour(key: dict[str, str], *, hour: int, limit: int, entity: str) -> bool:
    """One more in the hourly counter `key`, unless it holds `limit` already (False). One
    conditional UpdateItem; the item expires an hour after its hour."""
    return db.update_plain(
        key,
        "ADD #c :one SET #ttl = :ttl, entity = :entity",
        condition="attribute_not_exists(#c) OR #c < :limit",
        values={":one": 1, ":ttl": (hour + 2) * 3600, ":limit": limit, ":entity": entity},
        names={"#c": "count", "#ttl": keys.TTL},
    )
