"""The caller's own account."""

from __future__ import annotations

from strongroom.context import principal
from strongroom.data import users
from strongroom.errors import Forbidden
from strongroom.models import User, UserPatch


def me() -> User:
    who = principal()
    if who.type != "user":
        raise Forbidden("this endpoint is for users; service tokens use /runtime/v1")
    return users.require(who.id)


def update_me(body: UserPatch) -> User:
    user = me()
    if principal().read_only:
        raise Forbidden("this token is read-only")
    return users.update(user, name=body.name)
