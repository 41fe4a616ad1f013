"""The cap of 50 personal access tokens per user holds under concurrency: it is a condition of the
write that mints a token, not a count read beforehand.

The local HTTP gateway runs one handler at a time (strongroom_local.gateway), so concurrent
requests are made here in-process, on the session's moto world, each thread as the user. To
force the interleaving a race can take, every request first waits at a barrier just before its
transaction, so that all of them have done their reads before any writes."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from strongroom import ids
from strongroom.context import Principal, RequestContext, set_current
from strongroom.data import db, keys
from strongroom.domain import pats
from strongroom.errors import AppError
from strongroom.models import PersonalTokenCreate
from strongroom_local import LocalStack

RACERS = 12
FREE = 3


def _as(user: Principal) -> None:
    set_current(RequestContext(request_id=f"it-{secrets.token_hex(6)}", principal=user))


def _held(stack: LocalStack, user_id: str) -> int:
    from strongroom import aws

    assert stack.resources is not None
    pages = (
        aws.dynamodb()
        .get_paginator("query")
        .paginate(
            TableName=stack.resources.refs["Table"],
            IndexName=keys.GSI1,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.personal_tokens_partition(user_id)}},
        )
    )
    return sum(len(page["Items"]) for page in pages)


def test_concurrent_creates_stop_at_the_cap(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a user three tokens short of the cap
    assert stack.resources is not None
    user = Principal(type="user", id=ids.new_id("usr"), email=f"race-{secrets.token_hex(4)}@example.com", via="dev")
    _as(user)
    for n in range(pats.MAX_PER_USER - FREE):
        pats.create(PersonalTokenCreate(name=f"t{n}"))

    # When twelve creates race, all reading before any writes
    barrier = threading.Barrier(RACERS, timeout=30)
    waited = threading.local()
    transact = db.transact

    def transact_after_everyone_read(*args: Any, **kwargs: Any) -> None:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        transact(*args, **kwargs)

    monkeypatch.setattr(db, "transact", transact_after_everyone_read)

    def create(n: int) -> str:
        _as(user)
        try:
            pats.create(PersonalTokenCreate(name=f"race{n}"))
        except AppError as exc:
            return exc.code
        return "created"

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = sorted(pool.map(create, range(RACERS)))

    # Then exactly the free places are taken
    assert outcomes == ["created"] * FREE + ["too_many_tokens"] * (RACERS - FREE)
    assert _held(stack, user.id) == pats.MAX_PER_USER
