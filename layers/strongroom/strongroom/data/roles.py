"""Custom roles: a `ROLE#<slug>` item in the org's partition (what memberships and invitations
name) and a `ROLEID#<rol_id>` pointer to its slug; their reads and the ops of the transactions that
change them. A role's `in_use` counts the members and pending invitations that name it: it moves
in the same transactions as those (data/orgs.py, data/invitations.py callers), and a role is
deleted only while it is 0."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from strongroom import ids
from strongroom.data import db, keys
from strongroom.errors import Conflict, Invalid, NotFound

MAX_ROLES = 100  # per org: the list is one page
BUILT_IN = frozenset({"owner", "admin", "developer", "viewer"})  # security/permissions.py's Role


class RoleRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    slug: str
    name: str
    description: str = ""
    permissions: dict[str, Literal["all", "non_production", "development"]]
    in_use: int = 0
    created_at: str
    updated_at: str
    version: int = 1


def _not_found() -> NotFound:
    return NotFound("role not found")


# --------------------------------------------------------------------------- reads


def get(org_id: str, slug: str) -> RoleRecord | None:
    item = db.get(keys.role(org_id, slug))
    return RoleRecord.model_validate(item) if item else None


def resolve(org_id: str, ref: str) -> RoleRecord | None:
    """A custom role by ID (`rol_…`) or slug."""
    if ids.is_id(ref, "rol"):
        pointer = db.get(keys.role_id(org_id, ref))
        return get(org_id, str(pointer["slug"])) if pointer else None
    return get(org_id, ref.lower())


def page(org_id: str) -> list[RoleRecord]:
    found = db.query(keys.org_partition(org_id), prefix=keys.ROLE_PREFIX, limit=MAX_ROLES, cursor=None)
    return [RoleRecord.model_validate(i) for i in found.items]


# --------------------------------------------------------------------------- ops


def create(role: RoleRecord) -> list[db.Op]:
    """The role and its ID pointer, both create-only (a slug taken: 409)."""
    taken = Conflict(
        "a role with this slug already exists",
        code="slug_taken",
        details={"fields": [{"field": "slug", "location": "body", "issue": "already taken"}]},
    )
    item = {**keys.role(role.org_id, role.slug), "entity": "role", **role.model_dump()}
    pointer = {**keys.role_id(role.org_id, role.id), "entity": "role_id", "slug": role.slug}
    return [db.Put.new(item, on_fail=taken), db.Put.new(pointer)]


def update(role: RoleRecord, changes: dict[str, Any], now: str, *, in_use_delta: int = 0) -> db.Update:
    """Name, description, permissions, conditional on the version read (`in_use_delta`: holders
    gained or lost in the same transaction, which may touch the item once)."""
    names = {f"#{k}": k for k in changes}
    sets = "".join(f"#{k} = :{k}, " for k in changes)
    add = " ADD in_use :d" if in_use_delta else ""
    return db.Update(
        keys.role(role.org_id, role.slug),
        f"SET {sets}updated_at = :now, version = version + :one{add}",
        condition="version = :v",
        names=names,
        values={
            **{f":{k}": v for k, v in changes.items()},
            ":now": now,
            ":one": 1,
            ":v": role.version,
            **({":d": in_use_delta} if in_use_delta else {}),
        },
        on_fail=Conflict("the role changed meanwhile; retry", code="role_changed"),
    )


def delete(role: RoleRecord, *, holders: int = 0) -> list[db.Op]:
    """The role and its pointer, while nobody holds it or is invited to it (else 409); `holders`:
    the members the same transaction moves to another role."""
    return [
        db.Delete(
            keys.role(role.org_id, role.slug),
            condition="attribute_exists(PK) AND in_use = :zero",
            values={":zero": holders},
            on_fail=Conflict(
                "the role is in use: change its members' roles and revoke its pending invitations first",
                code="role_in_use",
            ),
        ),
        db.Delete(keys.role_id(role.org_id, role.id)),
    ]


def use(org_id: str, slug: str, delta: int) -> db.Update:
    """A member or a pending invitation starts (+1) or stops (-1) naming the role; the role must
    exist (a role deleted meanwhile: 400 on the field `role`)."""
    gone = Invalid(
        f"no role '{slug}' in this organization",
        details={"fields": [{"field": "role", "location": "body", "issue": "unknown role"}]},
    )
    return db.Update(
        keys.role(org_id, slug),
        "ADD in_use :d",
        condition="attribute_exists(PK)",
        values={":d": delta},
        on_fail=gone if delta > 0 else _not_found(),
    )
