"""User records: profile, email pointer (unique), identity-provider pointer."""

from __future__ import annotations

from typing import Any

from strongroom import audit, clock, db, ids, keys
from strongroom.errors import Conflict, NotFound
from strongroom.models import User

ENTITY = "user"


def _to_user(item: dict[str, Any]) -> User:
    return User.model_validate(item)


def get(user_id: str) -> User | None:
    item = db.get(keys.user(user_id))
    return _to_user(item) if item else None


def require(user_id: str) -> User:
    user = get(user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def by_email(email: str) -> User | None:
    pointer = db.get(keys.user_email(email))
    return get(pointer["user_id"]) if pointer else None


def by_identity(issuer: str, subject: str) -> User | None:
    pointer = db.get(keys.user_identity(issuer, subject))
    return get(pointer["user_id"]) if pointer else None


def create(email: str, name: str, *, issuer: str | None = None, subject: str | None = None, via: str) -> User:
    """Provision a user on first sign-in (audited as `user.created` in the user's own log)."""
    user_id = ids.new_id("usr")
    now = clock.now_iso()
    user = User(id=user_id, email=email.lower(), name=name, created_at=now, updated_at=now)
    ops: list[db.Op] = [
        db.Put.new({**keys.user(user_id), "entity": ENTITY, **user.model_dump()}),
        db.Put.new(
            {**keys.user_email(email), "entity": "user_email", "user_id": user_id},
            on_fail=Conflict("a user with this email already exists", code="email_taken"),
        ),
    ]
    if issuer and subject:
        ops.append(db.Put.new({**keys.user_identity(issuer, subject), "entity": "user_identity", "user_id": user_id}))
    db.transact(
        ops,
        audit=audit.event(
            "user.created", scope_id=user_id, resource_type="user", resource_id=user_id, metadata={"via": via}
        ),
    )
    return user


def link_identity(user: User, issuer: str, subject: str) -> None:
    db.transact(
        [db.Put.new({**keys.user_identity(issuer, subject), "entity": "user_identity", "user_id": user.id})],
        audit=audit.event(
            "user.identity_linked",
            scope_id=user.id,
            resource_type="user",
            resource_id=user.id,
            metadata={"issuer": issuer},
        ),
    )


def update(user: User, *, name: str) -> User:
    now = clock.now_iso()
    db.transact(
        [
            db.Update(
                keys.user(user.id), "SET #n = :n, updated_at = :u", names={"#n": "name"}, values={":n": name, ":u": now}
            )
        ],
        audit=audit.event(
            "user.updated", scope_id=user.id, resource_type="user", resource_id=user.id, metadata={"fields": ["name"]}
        ),
    )
    return user.model_copy(update={"name": name, "updated_at": now})
