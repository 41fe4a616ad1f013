"""The audit log's pieces decided without a store: an event's leaf data (its own fields in RFC
8785 form), the check of one leaf against its stored node (`audit_log._leaf_fault`), the check of
a pre-Merkle chained event the migration makes (`audit_legacy.follows`), and a search's filter
(`data.audit.filter_expression`). The walk over a real table is in tests/http_api/test_audit_log.py."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from strongroom.data import keys
from strongroom.data.audit import AuditFilter, filter_expression
from strongroom.domain import audit, audit_legacy
from strongroom.domain.audit_log import _leaf_fault

SCOPE = "org_01jd0000000000000000000000"
EVENT_ID = "evt_01jd0000000000000000000000"


def _item(**extra: Any) -> dict[str, Any]:
    event = audit.AuditEvent(
        id=EVENT_ID,
        scope_id=SCOPE,
        action="secret.updated",
        actor=audit.Actor(type="user", id="usr_1"),
        resource=audit.Resource(type="environment", id="env_1"),
        environment_id="env_1",
        created_at="2026-12-01T00:00:00.000Z",
        metadata={"keys": ["B", "A"], "count": 2, "note": "é"},
    )
    return {**event.to_item(), **extra}


def test_the_leaf_data_is_the_events_own_fields_in_jcs() -> None:
    item = _item(leaf_index=3, sealed_at="x", legacy_seq=9)
    data = audit.leaf_data(item)
    # RFC 8785 for this object: keys sorted by UTF-16 code units, no whitespace, UTF-8 literal text.
    expected = json.dumps(audit.event_object(item), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data == expected.encode()
    parsed = json.loads(data)
    assert set(parsed) == {
        "id", "scope_id", "action", "actor", "resource", "environment_id", "request_id", "ip", "created_at", "metadata"
    }  # fmt: skip
    assert not set(parsed) & {"PK", "SK", "GSI1PK", "outbox", "leaf_index", "sealed_at", "legacy_seq"}


def test_a_new_event_is_on_its_scopes_unsealed_list() -> None:
    item = _item()
    assert item[keys.GSI1PK] == f"AUDIT#{SCOPE}#UNSEALED"
    assert item[keys.SK] == f"EVT#{EVENT_ID}"
    assert "leaf_index" not in item


def _node(index: int, item: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(b"\x00" + audit.leaf_data(item)).hexdigest()  # RFC 9162 leaf hash, by hand
    return {"index": index, "hash": digest, "event_id": item["id"]}


def test_an_intact_leaf_has_no_fault() -> None:
    item = _item(leaf_index=4)
    assert _leaf_fault(4, _node(4, item), item) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"action": "secret.deleted"}, "the event was altered"),
        ({"metadata": {"keys": ["A"], "count": 1}}, "the event was altered"),
        ({"leaf_index": 5}, "the event says it is another leaf"),
    ],
)
def test_an_edited_or_moved_event_is_a_fault(change: dict[str, Any], reason: str) -> None:
    item = _item(leaf_index=4)
    node = _node(4, item)
    fault = _leaf_fault(4, node, {**item, **change})
    assert fault is not None
    assert (fault.reason, fault.leaf_index, fault.event_id) == (reason, 4, EVENT_ID)


def test_a_missing_event_or_leaf_is_a_fault() -> None:
    item = _item(leaf_index=4)
    missing_event = _leaf_fault(4, _node(4, item), None)
    assert missing_event is not None
    assert missing_event.reason == "the event of this leaf is missing"
    skipped = _leaf_fault(4, _node(5, item), item)
    assert skipped is not None
    assert skipped.reason == "a leaf is missing"


def _chained(seq: int, prev: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"evt_{seq}", "seq": seq, "prev_hash": prev, "action": "org.updated"}
    # The old chain's hash, written out by hand: SHA-256(prev + "\n" + sorted compact JSON).
    canonical = json.dumps({k: body[k] for k in sorted(body)}, separators=(",", ":")).encode()
    body["hash"] = hashlib.sha256(prev.encode() + b"\n" + canonical).hexdigest()
    return body


def test_the_legacy_chain_check() -> None:
    first = _chained(1, audit_legacy.GENESIS)
    second = _chained(2, first["hash"])
    assert audit_legacy.follows(first, 1, audit_legacy.GENESIS)
    assert audit_legacy.follows(second, 2, first["hash"])
    assert not audit_legacy.follows(second, 3, first["hash"])  # out of order
    assert not audit_legacy.follows({**second, "action": "org.deleted"}, 2, first["hash"])  # altered
    assert not audit_legacy.follows(second, 2, audit_legacy.GENESIS)  # does not follow


def test_the_filter_expression() -> None:
    expression, values, names = filter_expression(
        AuditFilter(
            action="secret.*",
            actor="usr_1",
            since=datetime(2026, 12, 1, tzinfo=UTC),
            request_id="r1",
        )
    )
    assert expression == (
        "entity = :entity AND begins_with(#action, :action) AND #actor.#id = :actor"
        " AND created_at >= :since AND request_id = :rid"
    )
    assert values[":action"] == "secret."
    assert values[":entity"] == audit.ENTITY
    assert names == {"#action": "action", "#actor": "actor", "#id": "id"}
    exact, values, _ = filter_expression(AuditFilter(action="org.updated"))
    assert exact == "entity = :entity AND #action = :action"
    assert values[":action"] == "org.updated"
    assert filter_expression(AuditFilter()) == ("entity = :entity", {":entity": audit.ENTITY}, {})
