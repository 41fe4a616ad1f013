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
    # A narrowed credential never gets here (access.admit: PATCH /v1/me is for full credentials).
    return users.update(me(), name=body.name)
