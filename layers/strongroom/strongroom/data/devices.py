"""Device-login items (keys in keys.py, layout in docs/data-model.md): the request
`DEVICE#<sha256(device code)>`, the single-use user-code pointer `USERCODE#<sha256(code)>` and a
user's failed approvals `USER#<usr> / DEVICEFAILURES`. Every read of them and every conditional
update (approve/deny, poll, the status moves of issuing, failure counting) is built here;
domain/device.py decides which one happens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError


class DeviceRequestRecord(BaseModel):
    """A device login: pending → approved or denied (by the user) → issuing → issued, or
    denied_seen (the device was told)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    status: str
    client_name: str = ""
    interval: int | None = None
    expires_at: str
    last_poll_at: str | None = None
    user_id: str | None = None


class UserCodeRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    device_hash: str
    expires_at: str


class FailuresRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    count: int
    window_end: str


_STATUS = {"#st": "status"}


# --------------------------------------------------------------------------- reads


def request(device_hash: str) -> DeviceRequestRecord | None:
    item = db.get(keys.device_request(device_hash))
    return DeviceRequestRecord.model_validate(item) if item is not None else None


def user_code(code_hash: str) -> UserCodeRecord | None:
    item = db.get(keys.device_user_code(code_hash))
    return UserCodeRecord.model_validate(item) if item is not None else None


def failures(user_id: str) -> FailuresRecord | None:
    item = db.get(keys.device_failures(user_id))
    return FailuresRecord.model_validate(item) if item is not None else None


# --------------------------------------------------------------------------- start, unaudited


def claim_user_code(code_hash: str, device_hash: str, *, expires_at: str, ttl: int) -> bool:
    """The user-code pointer, unless the code is taken (False: draw another)."""
    try:
        db.put_plain(
            {
                **keys.device_user_code(code_hash),
                "entity": "device_user_code",
                "device_hash": device_hash,
                "expires_at": expires_at,
                keys.TTL: ttl,
            },
            condition="attribute_not_exists(PK)",
        )
    except Exception:  # noqa: BLE001 - a taken code (rare)
        return False
    return True


def create_request(device_hash: str, *, client_name: str, interval: int, expires_at: str, ttl: int) -> None:
    """The pending request (a taken device code, 2^256 to one, fails)."""
    db.put_plain(
        {
            **keys.device_request(device_hash),
            "entity": "device_request",
            "status": "pending",
            "client_name": client_name,
            "interval": interval,
            "expires_at": expires_at,
            keys.TTL: ttl,
        },
        condition="attribute_not_exists(PK)",
    )


# --------------------------------------------------------------------------- approve: audited ops


def decide(device_hash: str, status: str, *, user_id: str, now: str, on_fail: AppError) -> db.Update:
    """A transaction op: the pending request becomes `status` (approved/denied) by `user_id`."""
    return db.Update(
        keys.device_request(device_hash),
        "SET #st = :new, user_id = :u, decided_at = :now",
        condition="#st = :pending",
        names=_STATUS,
        values={":new": status, ":u": user_id, ":now": now, ":pending": "pending"},
        on_fail=on_fail,
    )


def use_user_code(code_hash: str) -> db.Delete:
    """A transaction op: the user code's pointer goes (single use)."""
    return db.Delete(keys.device_user_code(code_hash))


def restart_failures(user_id: str, *, window_end: str, ttl: int) -> None:
    """A new window of failed approvals, holding one."""
    db.put_plain(
        {
            **keys.device_failures(user_id),
            "entity": "device_failures",
            "count": 1,
            "window_end": window_end,
            keys.TTL: ttl,
        }
    )


def add_failure(user_id: str) -> None:
    """One more failed approval in the current window."""
    db.update_plain(
        keys.device_failures(user_id),
        "SET #c = #c + :one",
        condition="attribute_exists(PK)",
        values={":one": 1},
        names={"#c": "count"},
    )


# --------------------------------------------------------------------------- poll, unaudited


def move(device_hash: str, *, was: str, to: str) -> bool:
    """The request's status `was` → `to`; False when it was not `was` any more."""
    return db.update_plain(
        keys.device_request(device_hash),
        "SET #st = :to",
        condition="#st = :was",
        values={":to": to, ":was": was},
        names=_STATUS,
    )


def polled(device_hash: str, now: str, *, interval: int | None = None) -> None:
    """The time of the last poll (and the grown interval, after a poll too early)."""
    if interval is None:
        db.update_plain(
            keys.device_request(device_hash),
            "SET last_poll_at = :now",
            condition="attribute_exists(PK)",
            values={":now": now},
        )
        return
    db.update_plain(
        keys.device_request(device_hash),
        "SET #i = :i, last_poll_at = :now",
        condition="attribute_exists(PK)",
        values={":i": interval, ":now": now},
        names={"#i": "interval"},
    )
