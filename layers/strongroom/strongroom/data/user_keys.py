"""A user's end-to-end key pairs (`USER#<usr> / KEYS`): one public key and one client-sealed
private key per suite, opaque to the server. The one module that reads and writes that item."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys

ENTITY = "user_keys"


class UserKeyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    suite: str
    public_key: str
    encrypted_private_key: str
    created_at: str


def get(user_id: str) -> list[UserKeyRecord]:
    item = db.get(keys.user_keys(user_id))
    return [UserKeyRecord.model_validate(k) for k in (item or {}).get("keys", [])]


def public_keys(user_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """Users' public keys (`{suite, public_key}` each) by user ID, in one BatchGetItem (per 100);
    a user without keys is absent."""
    if not user_ids:
        return {}
    items = db.batch_get([keys.user_keys(u) for u in dict.fromkeys(user_ids)], attributes=("keys",))
    return {
        str(i[keys.PK]).removeprefix("USER#"): [
            {"suite": str(k["suite"]), "public_key": str(k["public_key"])} for k in i.get("keys", [])
        ]
        for i in items
    }


def replace(user_id: str, records: list[UserKeyRecord], now: str) -> db.Put:
    """A transaction op: the user's whole set of key pairs, replacing any before."""
    item: dict[str, Any] = {
        **keys.user_keys(user_id),
        "entity": ENTITY,
        "user_id": user_id,
        "keys": [r.model_dump() for r in records],
        "updated_at": now,
    }
    return db.Put(item)
