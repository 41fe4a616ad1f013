"""The audit sealer on a real (moto) table, invoked as its stream event source invokes it: it
makes a scope's events leaves in order, never twice, even when two runs race (the tree item moves
on the condition of the size each read); and the one migration moves a pre-Merkle hash chain into
the first leaves, in chain order, off the webhook outbox, recording whether the chain held."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from typing import Any

from strongroom import aws, ids
from strongroom.data import db
from strongroom.domain import audit, audit_legacy
from strongroom_local import LocalStack
from support import query_partition, seal, table_name
from unit.rfc9162 import mth


def _scope() -> str:
    return ids.new_id("org")


def _event(scope: str, n: int) -> audit.AuditEvent:
    return audit.AuditEvent(
        scope_id=scope,
        action="org.updated",
        actor=audit.Actor(type="user", id="usr_it"),
        resource=audit.Resource(type="org", id=scope),
        metadata={"n": n},
    )


def _put(stack: LocalStack, items: list[dict[str, Any]]) -> None:
    requests = [{"PutRequest": {"Item": db.serialize(i)}} for i in items]
    for i in range(0, len(requests), 25):
        aws.dynamodb().batch_write_item(RequestItems={table_name(stack): requests[i : i + 25]})


def _events(stack: LocalStack, scope: str) -> list[dict[str, Any]]:
    return [db.deserialize(i) for i in query_partition(stack, f"AUDIT#{scope}", "EVT#")]


def _tree(stack: LocalStack, scope: str) -> dict[str, Any]:
    found = query_partition(stack, f"AUDIT#{scope}", "TREE")
    return db.deserialize(found[0]) if found else {}


def _root_by_reference(events: list[dict[str, Any]]) -> str:
    """RFC 9162 MTH over the events' JCS forms in leaf order, by the independent reference."""
    ordered = sorted(events, key=lambda e: e["leaf_index"])
    assert [e["leaf_index"] for e in ordered] == list(range(len(ordered)))
    return mth([audit.leaf_data(e) for e in ordered]).hex()


def test_events_become_leaves_in_order_once(stack: LocalStack) -> None:
    scope = _scope()
    written = [_event(scope, n) for n in range(40)]
    _put(stack, [e.to_item() for e in written])
    assert seal(stack, scope)["sealed"] == 40
    assert seal(stack, scope)["sealed"] == 0
    events = _events(stack, scope)
    assert [e["id"] for e in sorted(events, key=lambda e: e["leaf_index"])] == sorted(e.id for e in written)
    assert all("GSI1PK" not in e for e in events)  # off the unsealed list
    tree = _tree(stack, scope)
    assert tree["size"] == 40
    assert tree["root_hash"] == tree["signed"]["root_hash"] == _root_by_reference(events)


def _seal_into(stack: LocalStack, scope: str, results: list[Any]) -> None:
    results.append(seal(stack, scope))


def test_two_racing_sealers_never_fork_the_tree(stack: LocalStack) -> None:
    scope = _scope()
    for batch in range(5):
        _put(stack, [_event(scope, batch * 30 + n).to_item() for n in range(30)])
        results: list[Any] = []
        threads = [threading.Thread(target=_seal_into, args=(stack, scope, results)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r["sealed"] for r in results) == 30  # each event sealed by exactly one run
    events = _events(stack, scope)
    tree = _tree(stack, scope)
    assert tree["size"] == len(events) == 150
    assert tree["signed"]["tree_size"] == 150
    assert tree["root_hash"] == _root_by_reference(events)


def _legacy_chain(scope: str, count: int) -> list[dict[str, Any]]:
    """A chain as the pre-Merkle data/chain.py wrote it (its hash written out here, not imported)."""
    prev, items = audit_legacy.GENESIS, []
    for seq in range(1, count + 1):
        event = _event(scope, seq)
        body = {**event.model_dump(exclude_none=True), "seq": seq, "prev_hash": prev}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        digest = hashlib.sha256(prev.encode() + b"\n" + canonical).hexdigest()
        items.append(
            {
                "PK": f"AUDIT#{scope}",
                "SK": f"EVT#{seq:012d}",
                "entity": "audit_event",
                "outbox": 1,
                **body,
                "hash": digest,
            }
        )
        prev = digest
    items.append({"PK": f"AUDIT#{scope}", "SK": "HEAD", "entity": "audit_head", "seq": count, "hash": prev})
    return items


def test_a_legacy_chain_becomes_the_first_leaves_in_chain_order(stack: LocalStack) -> None:
    scope = _scope()
    legacy = _legacy_chain(scope, 30)
    _put(stack, legacy)
    newer = _event(scope, 99)
    _put(stack, [newer.to_item()])
    seal(stack, scope)
    events = sorted(_events(stack, scope), key=lambda e: e["leaf_index"])
    assert [e["legacy_seq"] for e in events[:30]] == list(range(1, 31))  # chain order first
    assert events[30]["id"] == newer.id  # then what came after
    assert all(e["SK"] == f"EVT#{e['id']}" for e in events)  # every event under its ID now
    assert all("outbox" not in e for e in events[:30])  # its webhooks went out long ago
    assert query_partition(stack, f"AUDIT#{scope}", "HEAD") == []
    tree = _tree(stack, scope)
    assert (tree["legacy"]["events"], tree["legacy"]["chain_ok"], tree["legacy"].get("broken_seq")) == (30, True, None)
    assert tree["signed"]["root_hash"] == _root_by_reference(events)


def test_a_broken_legacy_chain_is_migrated_and_its_break_recorded(stack: LocalStack) -> None:
    scope = _scope()
    legacy = _legacy_chain(scope, 10)
    legacy[6]["metadata"] = {"n": secrets.randbelow(1000) + 1000}  # seq 7 altered before the migration
    _put(stack, legacy)
    seal(stack, scope)
    tree = _tree(stack, scope)
    assert (tree["legacy"]["chain_ok"], tree["legacy"].get("broken_seq"), tree["size"]) == (False, 7, 10)
