"""db.prefetch on moto's DynamoDB: one BatchGetItem answers later reads of those items in the same
request (present or absent) until the request writes one of them; other requests never see it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from strongroom import aws
from strongroom.context import RequestContext, set_current
from strongroom.data import chain, db, keys
from strongroom_local import LocalStack


class Calls:
    """DynamoDB operations this thread sends (the local workers' threads are not the test)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.thread = threading.current_thread()

    def __call__(self, model: Any, **_: Any) -> None:
        if threading.current_thread() is self.thread:
            self.names.append(model.name)

    def take(self) -> list[str]:
        out, self.names = self.names, []
        return out


@pytest.fixture
def calls(stack: LocalStack) -> Iterator[Calls]:
    assert stack.url
    recorder = Calls()
    aws.dynamodb().meta.events.register("before-call.dynamodb.*", recorder)
    set_current(RequestContext(request_id=f"prefetch-{secrets.token_hex(4)}"))
    try:
        yield recorder
    finally:
        aws.dynamodb().meta.events.unregister("before-call.dynamodb.*", recorder)
        set_current(RequestContext(request_id=""))


def _item(pk: str, sk: str, value: str) -> dict[str, Any]:
    return {keys.PK: pk, keys.SK: sk, "entity": "test", "value": value}


def test_read_ahead_items_answer_later_reads_until_written(calls: Calls) -> None:
    pk = f"TEST#{secrets.token_hex(6)}"
    a, b, missing = ({keys.PK: pk, keys.SK: sk} for sk in ("A", "B", "MISSING"))
    db.put_plain(_item(pk, "A", "a1"))
    db.put_plain(_item(pk, "B", "b1"))
    calls.take()

    db.prefetch([a, b, missing])
    assert calls.take() == ["BatchGetItem"]
    first, second, absent = db.get(a), db.get(b), db.get(missing)
    assert (first or {}).get("value") == "a1"
    assert (second or {}).get("value") == "b1"
    assert absent is None
    assert sorted(i["value"] for i in db.batch_get([a, b, missing])) == ["a1", "b1"]
    assert calls.take() == []  # all answered from the read-ahead

    # an item this request writes is read again; the others still come from the read-ahead
    db.put_plain(_item(pk, "A", "a2"))
    assert (db.get(a) or {}).get("value") == "a2"
    assert (db.get(b) or {}).get("value") == "b1"
    assert calls.take() == ["PutItem", "GetItem"]
    changed = db.update_plain(
        b, "SET #v = :v", condition="attribute_exists(PK)", values={":v": "b2"}, names={"#v": "value"}
    )
    assert changed
    assert (db.get(b) or {}).get("value") == "b2"
    assert calls.take() == ["UpdateItem", "GetItem"]

    # a batch mixing read-ahead and other items asks only for the others
    other = {keys.PK: pk, keys.SK: "C"}
    db.put_plain(_item(pk, "C", "c1"))
    calls.take()
    assert db.batch_get([missing, other])[0]["value"] == "c1"
    assert calls.take() == ["BatchGetItem"]


def test_a_read_ahead_belongs_to_its_request_only(calls: Calls) -> None:
    pk = f"TEST#{secrets.token_hex(6)}"
    key = {keys.PK: pk, keys.SK: "A"}
    db.put_plain(_item(pk, "A", "before"))
    db.prefetch([key])
    # another writer changes it; this request keeps what it read, the next one sees the change
    aws.dynamodb().put_item(TableName=db._table(), Item=db.serialize(_item(pk, "A", "after")))
    assert (db.get(key) or {}).get("value") == "before"
    set_current(RequestContext(request_id="next"))
    calls.take()
    assert (db.get(key) or {}).get("value") == "after"
    assert calls.take() == ["GetItem"]


def test_a_transaction_drops_the_read_ahead_of_what_it_writes(calls: Calls) -> None:
    from strongroom.domain import audit

    pk = f"TEST#{secrets.token_hex(6)}"
    key = {keys.PK: pk, keys.SK: "A"}
    db.put_plain(_item(pk, "A", "v1"))
    db.prefetch([key])
    event = audit.event("org.updated", scope_id=f"org_{secrets.token_hex(6)}", resource_type="org", resource_id="x")
    chain.transact([db.Put(_item(pk, "A", "v2"))], audit=event)
    calls.take()
    assert (db.get(key) or {}).get("value") == "v2"
    assert calls.take() == ["GetItem"]
