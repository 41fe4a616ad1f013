"""User records: profile, email pointer (unique), identity-provider pointer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strongroom import clock, ids
from strongroom.data import chain, db, keys, platform
from strongroom.domain import audit
from strongroom.errors import AppError, Conflict, NotFound
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


def names(user_ids: list[str]) -> dict[str, str]:
    """Users' display names by ID, in one BatchGetItem (per 100); a missing user is absent."""
    return {i["id"]: str(i.get("name", "")) for i in db.batch_get([keys.user(u) for u in user_ids])}


def by_email(email: str) -> User | None:
    pointer = db.get(keys.user_email(email))
    return get(pointer["user_id"]) if pointer else None


def by_identity(issuer: str, subject: str) -> User | None:
    pointer = db.get(keys.user_identity(issuer, subject))
    return get(pointer["user_id"]) if pointer else None


# A user item whose email is not (yet) proven: stored before `email_verified` existed, or false.
_UNVERIFIED = "attribute_not_exists(email_verified) OR email_verified <> :true"


def create(
    email: str,
    name: str,
    *,
    issuer: str | None = None,
    subject: str | None = None,
    via: str,
    replacing: User | None = None,
    verified: bool = True,
    extra: Sequence[db.Op] = (),
) -> User:
    """Provision a user on first sign-in, from a verified email (audited as `user.created` in the
    user's own log). The user takes the email pointer; `replacing` is the unverified record that
    held it, which keeps its profile but is no identity for that email any more (and only while it
    is still unverified: a record verified meanwhile keeps the pointer, and this fails).
    `verified=False` stores the email as not proven (an org's own identity provider vouches for its
    domain to that org only, docs/decisions.md); `extra` ops join the transaction."""
    user_id = ids.new_id("usr")
    now = clock.now_iso()
    user = User(id=user_id, email=email.lower(), email_verified=verified, name=name, created_at=now, updated_at=now)
    taken = Conflict("a user with this email already exists", code="email_taken")
    pointer = {**keys.user_email(email), "entity": "user_email", "user_id": user_id}
    ops: list[db.Op] = [db.Put.new({**keys.user(user_id), "entity": ENTITY, **user.model_dump()})]
    if replacing is None:
        ops.append(db.Put.new(pointer, on_fail=taken))
    else:
        ops += [
            db.Put(pointer, condition="user_id = :old", values={":old": replacing.id}, on_fail=taken),
            db.Check(keys.user(replacing.id), _UNVERIFIED, values={":true": True}, on_fail=taken),
        ]
    if issuer and subject:
        ops.append(db.Put.new({**keys.user_identity(issuer, subject), "entity": "user_identity", "user_id": user_id}))
    ops += [*extra, platform.count("users", 1)]
    metadata: dict[str, Any] = {"via": via}
    if replacing is not None:
        metadata["replaced_unverified"] = replacing.id
    chain.transact(
        ops,
        audit=audit.event(
            "user.created", scope_id=user_id, resource_type="user", resource_id=user_id, metadata=metadata
        ),
    )
    return user


def link_identity(user: User, issuer: str, subject: str) -> None:
    """Another subject for a user whose email is verified (and still theirs: the pointer and the
    flag are conditions of the write)."""
    gone = Conflict("this email is no longer this account's", code="email_taken")
    chain.transact(
        [
            db.Put.new({**keys.user_identity(issuer, subject), "entity": "user_identity", "user_id": user.id}),
            db.Check(keys.user(user.id), "email_verified = :true", values={":true": True}, on_fail=gone),
            db.Check(keys.user_email(user.email), "user_id = :u", values={":u": user.id}, on_fail=gone),
        ],
        audit=audit.event(
            "user.identity_linked",
            scope_id=user.id,
            resource_type="user",
            resource_id=user.id,
            metadata={"issuer": issuer},
        ),
    )


def mark_verified(user: User, issuer: str) -> User:
    """The user's own subject says their email is verified: so it is, while the email pointer is
    still theirs (a verified sign-in of another subject may have taken it over)."""
    now = clock.now_iso()
    chain.transact(
        [
            db.Update(
                keys.user(user.id),
                "SET email_verified = :true, updated_at = :now",
                condition=_UNVERIFIED,
                values={":true": True, ":now": now},
                on_fail=Conflict("the email was verified meanwhile; retry"),
            ),
            db.Check(
                keys.user_email(user.email),
                "user_id = :u",
                values={":u": user.id},
                on_fail=Conflict("this email belongs to another account", code="email_taken"),
            ),
        ],
        audit=audit.event(
            "user.email_verified",
            scope_id=user.id,
            resource_type="user",
            resource_id=user.id,
            metadata={"issuer": issuer},
        ),
    )
    return user.model_copy(update={"email_verified": True, "updated_at": now})


def update(user: User, *, name: str) -> User:
    now = clock.now_iso()
    chain.transact(
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


def register(email: str, name: str, credential: db.Op, user_id: str) -> User | None:
    """A user who signs up with a password: unverified email, the email pointer if nobody holds it
    (None when somebody does: nothing is written), and `credential` (the password item), audited
    as `user.registered` in the user's own log."""
    now = clock.now_iso()
    user = User(id=user_id, email=email.lower(), email_verified=False, name=name, created_at=now, updated_at=now)
    pointer = {**keys.user_email(email), "entity": "user_email", "user_id": user_id}
    taken = Conflict("a user with this email already exists", code="email_taken")
    try:
        chain.transact(
            [
                db.Put.new({**keys.user(user_id), "entity": ENTITY, **user.model_dump()}),
                db.Put.new(pointer, on_fail=taken),
                credential,
                platform.count("users", 1),
            ],
            audit=audit.event(
                "user.registered",
                scope_id=user_id,
                resource_type="user",
                resource_id=user_id,
                metadata={"via": "password"},
            ),
        )
    except Conflict as exc:
        if exc.code == "email_taken":
            return None
        raise
    return user


def raw(user_id: str) -> dict[str, Any] | None:
    """The user's item as stored (its session generation included)."""
    return db.get(keys.user(user_id))


def email_proven(user: User, now: str, *, on_fail: AppError) -> list[db.Op]:
    """The ops that mark the user's email verified by a mailed token: while the user's email is
    still the one mailed and the email pointer still the user's."""
    return [
        db.Update(
            keys.user(user.id),
            "SET email_verified = :true, updated_at = :now",
            condition="email = :email",
            values={":true": True, ":now": now, ":email": user.email},
            on_fail=on_fail,
        ),
        db.Check(keys.user_email(user.email), "user_id = :u", values={":u": user.id}, on_fail=on_fail),
    ]
