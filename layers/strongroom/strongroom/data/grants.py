"""Grants of client-encrypted environments: each principal's copy of the environment's data key,
sealed by a client to that principal's public key (opaque to the server). Items, in the
environment's partition:

- `GRANT#<key_version>#<type>#<principal>`: the grant at one key version; readers read it at the
  environment's current `key_version` (the environment item), so a rekey's grants are written
  ahead at the next version and become current with it, all at once;
- `GRANTID#<grt_id>`: the grant's ID, naming its principal (stable across rekeys);
- `CLAIM`: the environment ID's claim (client-chosen IDs are unique across the table).

The environment item carries `key_version`, `grant_rev` (moved by every grant change) and
`grant_count` (at most MAX_GRANTS); every grant change updates it conditionally, so that a rekey
planned from one set of grants is published only over that same set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.data.projects import EnvironmentRecord
from strongroom.errors import AppError, Conflict
from strongroom.models import e2e as e2e_models

ENTITY = "grant"
MAX_GRANTS = e2e_models.MAX_GRANTS


class GrantRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    principal_type: str  # "user" | "token"
    principal_id: str
    suite: str
    wrapped_key: str
    key_version: int
    created_at: str
    created_by: str


def grant_item(env_id: str, rec: GrantRecord) -> dict[str, Any]:
    return {
        **keys.grant(env_id, rec.key_version, rec.principal_type, rec.principal_id),
        "entity": ENTITY,
        **rec.model_dump(),
    }


def _pointer(env_id: str, rec: GrantRecord) -> dict[str, Any]:
    return {
        **keys.grant_id(env_id, rec.id),
        "entity": "grant_id",
        "principal_type": rec.principal_type,
        "principal_id": rec.principal_id,
    }


# --------------------------------------------------------------------------- reads


def of(env: EnvironmentRecord, principal_type: str, principal_id: str) -> GrantRecord | None:
    """The principal's grant at the environment's current key version."""
    item = db.get(keys.grant(env.id, env.key_version or 1, principal_type, principal_id))
    return GrantRecord.model_validate(item) if item else None


def current(env: EnvironmentRecord) -> list[GrantRecord]:
    """Every grant at the environment's current key version (at most MAX_GRANTS)."""
    prefix = keys.grant_prefix(env.key_version or 1)
    return [GrantRecord.model_validate(i) for i in db.query_all(keys.environment_partition(env.id), prefix=prefix)]


def by_id(env: EnvironmentRecord, grant_id: str) -> GrantRecord | None:
    pointer = db.get(keys.grant_id(env.id, grant_id))
    if pointer is None:
        return None
    return of(env, str(pointer["principal_type"]), str(pointer["principal_id"]))


# --------------------------------------------------------------------------- ops


def claim(env: EnvironmentRecord) -> db.Put:
    """A transaction op: the environment ID's claim (a taken ID is 409)."""
    item = {**keys.env_claim(env.id), "entity": "env_claim", "org_id": env.org_id, "project_id": env.project_id}
    return db.Put.new(item, on_fail=Conflict("that environment ID is taken", code="id_taken"))


def _moved(env: EnvironmentRecord, *, count: int, on_fail: AppError) -> db.Update:
    """The environment item's grant counters moved, while its key version is the one read (and,
    adding, while it holds fewer than MAX_GRANTS)."""
    condition = "key_version = :kv"
    values: dict[str, Any] = {":kv": env.key_version, ":one": 1, ":count": count}
    if count > 0:
        condition += " AND grant_count < :max"
        values[":max"] = MAX_GRANTS
    return db.Update(
        keys.environment(env.org_id, env.project_id, env.id),
        "ADD grant_rev :one, grant_count :count",
        condition=condition,
        values=values,
        on_fail=on_fail,
    )


def add(env: EnvironmentRecord, rec: GrantRecord, *, on_fail: AppError, exists: AppError) -> list[db.Op]:
    """Transaction ops: a new grant at the current key version (one per principal), its ID."""
    return [
        _moved(env, count=1, on_fail=on_fail),
        db.Put.new(grant_item(env.id, rec), on_fail=exists),
        db.Put.new(_pointer(env.id, rec), on_fail=exists),
    ]


def first(env: EnvironmentRecord, rec: GrantRecord) -> list[db.Op]:
    """Transaction ops of a new client environment's first grant (its counters are in the
    environment item as created)."""
    return [db.Put.new(grant_item(env.id, rec)), db.Put.new(_pointer(env.id, rec))]


def remove(env: EnvironmentRecord, rec: GrantRecord, *, on_fail: AppError) -> list[db.Op]:
    """Transaction ops: the grant and its ID deleted (while they exist)."""
    gone = Conflict("the grant changed meanwhile; retry", code="grant_changed")
    return [
        _moved(env, count=-1, on_fail=on_fail),
        db.Delete(
            keys.grant(env.id, rec.key_version, rec.principal_type, rec.principal_id),
            condition="attribute_exists(PK)",
            on_fail=gone,
        ),
        db.Delete(keys.grant_id(env.id, rec.id), condition="attribute_exists(PK)", on_fail=gone),
    ]


def rekeyed(env: EnvironmentRecord, key_version: int, *, on_fail: AppError) -> db.Update:
    """A transaction op: the environment's key version moved to `key_version`, while its key
    version and its set of grants are the ones read (the publication of a rekey)."""
    return db.Update(
        keys.environment(env.org_id, env.project_id, env.id),
        "SET key_version = :new ADD grant_rev :one",
        condition="key_version = :kv AND grant_rev = :rev",
        values={":new": key_version, ":kv": env.key_version, ":rev": env.grant_rev, ":one": 1},
        on_fail=on_fail,
    )


def key_is(env: EnvironmentRecord, *, on_fail: AppError) -> db.Check:
    """A transaction condition: the environment's key version is still the one read (a write of
    values under it)."""
    return db.Check(
        keys.environment(env.org_id, env.project_id, env.id),
        "key_version = :kv",
        values={":kv": env.key_version},
        on_fail=on_fail,
    )


def at_version(env_id: str, key_version: int) -> list[dict[str, str]]:
    """The keys of every grant item at `key_version` (a rekey's leftovers, before it writes its own)."""
    prefix = keys.grant_prefix(key_version)
    return [
        {keys.PK: i[keys.PK], keys.SK: i[keys.SK]}
        for i in db.query_all(keys.environment_partition(env_id), prefix=prefix)
    ]


def stage(env_id: str, records: list[GrantRecord]) -> list[dict[str, str]]:
    """A rekey's grants written ahead (BatchWriteItem) at a key version no reader reads yet; their keys."""
    items = [grant_item(env_id, r) for r in records]
    db.put_many(items)
    return [{keys.PK: i[keys.PK], keys.SK: i[keys.SK]} for i in items]


def discard(item_keys: list[dict[str, str]]) -> None:
    """Grants no reader reaches (a refused rekey's, or a replaced key version's) deleted."""
    db.delete_many(item_keys)


def keys_at(env_id: str, records: list[GrantRecord]) -> list[dict[str, str]]:
    return [keys.grant(env_id, r.key_version, r.principal_type, r.principal_id) for r in records]
