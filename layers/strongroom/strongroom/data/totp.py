"""A user's TOTP second factor: the item `USER#<usr> / TOTP` (docs/data-model.md) and the user
item's `two_factor_enabled` flag, which every principal of the user carries (the org gate reads it,
security/access.py). Every read, condition and update expression of them is built here;
domain/two_factor.py decides which happens.

The item holds `sealed` (the secret, KMS-encrypted under the service key with the context
`{purpose: totp, user: <usr>}`), `enabled`, `last_step` (the last accepted time step: a code is
accepted only above it) and `recovery` (a string set of the unused recovery codes' SHA-256)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from strongroom.data import db, keys
from strongroom.errors import AppError, Conflict

ENTITY = "user_totp"


class TotpRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    sealed: bytes
    enabled: bool = False
    last_step: int = 0
    recovery: frozenset[str] = Field(default_factory=frozenset)


def get(user_id: str) -> TotpRecord | None:
    item = db.get(keys.user_totp(user_id))
    return TotpRecord.model_validate(item) if item else None


def put_pending(user_id: str, sealed: bytes, now: str) -> db.Put:
    """A new secret awaiting its first code, unless 2FA is on already."""
    return db.Put(
        {**keys.user_totp(user_id), "entity": ENTITY, "sealed": sealed, "enabled": False, "created_at": now},
        condition="attribute_not_exists(PK) OR enabled = :false",
        values={":false": False},
        on_fail=Conflict("two-factor authentication is already on; turn it off first", code="2fa_enabled"),
    )


def enable(user_id: str, *, sealed: bytes, step: int, recovery: set[str], now: str) -> list[db.Op]:
    """The pending secret (still the one the code proved) becomes the second factor."""
    moved = Conflict("the two-factor setup changed meanwhile; set it up again", code="2fa_setup_changed")
    return [
        db.Update(
            keys.user_totp(user_id),
            "SET enabled = :true, last_step = :step, recovery = :rc, enabled_at = :now",
            condition="enabled = :false AND sealed = :sealed",
            values={":true": True, ":false": False, ":step": step, ":rc": recovery, ":now": now, ":sealed": sealed},
            on_fail=moved,
        ),
        _flag(user_id, on=True, now=now),
    ]


def disable(user_id: str, proof: Proof, now: str) -> list[db.Op]:
    """The second factor is gone, while the proof still holds (the code's step above the last
    accepted one, or the recovery code unused)."""
    return [
        db.Delete(keys.user_totp(user_id), condition=proof.condition, values=proof.values, on_fail=proof.on_fail),
        _flag(user_id, on=False, now=now),
    ]


def _flag(user_id: str, *, on: bool, now: str) -> db.Update:
    return db.Update(
        keys.user(user_id),
        "SET two_factor_enabled = :on, updated_at = :now",
        values={":on": on, ":now": now},
    )


@dataclass(frozen=True, slots=True)
class Proof:
    """What a code proved, as the condition that it still does (no replay, no second use)."""

    condition: str
    values: dict[str, Any]
    on_fail: AppError
    step: int | None = None
    digest: str | None = None


def step_proof(step: int, *, on_fail: AppError) -> Proof:
    """The code of `step`: accepted above the last accepted step only (a replay fails)."""
    return Proof("enabled = :true AND last_step < :step", {":true": True, ":step": step}, on_fail, step=step)


def recovery_proof(digest: str, *, on_fail: AppError) -> Proof:
    return Proof(
        "enabled = :true AND contains(recovery, :digest)", {":true": True, ":digest": digest}, on_fail, digest=digest
    )


def use(user_id: str, proof: Proof) -> db.Update:
    """The code is spent: its step becomes the last accepted one, or the recovery code leaves the set."""
    if proof.step is not None:
        expression, values = "SET last_step = :step", dict(proof.values)
    else:
        expression, values = "DELETE recovery :one", {**proof.values, ":one": {proof.digest}}
    return db.Update(
        keys.user_totp(user_id), expression, condition=proof.condition, values=values, on_fail=proof.on_fail
    )
