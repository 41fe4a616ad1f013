"""Verifying an org's audit chain, decided without a store: `audit_log.walk` follows the events of
one page from where the walk stands, `audit_log.head_fault` checks the chain head at its end;
`data.audit.filter_expression` builds a search's filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from strongroom.data import keys
from strongroom.data.audit import AuditFilter, ChainHead, filter_expression
from strongroom.domain import audit
from strongroom.domain.audit_log import Walk, head_fault, walk

SCOPE = "org_01jd0000000000000000000000"


def _chain(n: int, *, start: int = 1, prev: str = audit.GENESIS) -> list[dict[str, Any]]:
    items = []
    for seq in range(start, start + n):
        body = {
            **keys.audit_event(SCOPE, seq),
            "entity": audit.ENTITY,
            "seq": seq,
            "prev_hash": prev,
            "action": "org.updated",
            "created_at": f"2026-12-01T00:00:{seq:02d}Z",
        }
        body["hash"] = audit.chain_hash(prev, body)
        prev = body["hash"]
        items.append(body)
    return items


def test_an_intact_page_is_walked_to_its_end() -> None:
    items = _chain(5)
    at = walk(SCOPE, items, Walk(), lower=None, upper=None)
    assert (at.next_seq, at.prev_hash, at.checked, at.first_seq, at.last_seq) == (6, items[-1]["hash"], 5, 1, 5)
    assert at.broken is None
    assert not at.stopped
    assert head_fault(at, ChainHead(seq=5, hash=items[-1]["hash"])) is None


def test_a_walk_resumes_where_the_previous_page_stopped() -> None:
    first = _chain(3)
    at = walk(SCOPE, first, Walk(), lower=None, upper=None)
    rest = _chain(2, start=4, prev=at.prev_hash)
    resumed = walk(SCOPE, rest, Walk(next_seq=at.next_seq, prev_hash=at.prev_hash), lower=None, upper=None)
    assert (resumed.next_seq, resumed.checked, resumed.first_seq, resumed.last_seq) == (6, 2, 4, 5)


def test_an_altered_event_breaks_at_its_sequence_number() -> None:
    items = _chain(4)
    items[2] = {**items[2], "action": "org.deleted"}
    at = walk(SCOPE, items, Walk(), lower=None, upper=None)
    assert at.broken == (3, "altered")
    assert at.checked == 2


def test_a_removed_event_breaks_where_it_is_missing() -> None:
    items = _chain(4)
    del items[1]
    assert walk(SCOPE, items, Walk(), lower=None, upper=None).broken == (2, "missing or out of order")


def test_an_event_that_does_not_follow_breaks() -> None:
    items = _chain(3)
    items[1] = {**items[1], "prev_hash": "f" * 64}
    assert walk(SCOPE, items, Walk(), lower=None, upper=None).broken == (2, "does not follow the previous event")


def test_the_window_counts_only_its_events_and_stops_after_until() -> None:
    items = _chain(6)
    at = walk(SCOPE, items, Walk(), lower="2026-12-01T00:00:02Z", upper="2026-12-01T00:00:04Z")
    assert (at.checked, at.first_seq, at.last_seq, at.stopped, at.next_seq) == (3, 2, 4, True, 5)


@pytest.mark.parametrize(
    ("head", "broken"),
    [
        (None, 1),  # no head: the first event is already beyond it
        (ChainHead(seq=2, hash="x"), 3),  # the head lags: the first event after it
        (ChainHead(seq=5, hash="x"), 4),  # the head is ahead: the first event not walked
    ],
)
def test_a_head_that_does_not_name_the_last_event_breaks(head: ChainHead | None, broken: int) -> None:
    items = _chain(3)
    at = walk(SCOPE, items, Walk(), lower=None, upper=None)
    assert head_fault(at, head) == (broken, "does not match the chain head")


def test_the_head_of_the_right_seq_with_another_hash_breaks() -> None:
    at = walk(SCOPE, _chain(3), Walk(), lower=None, upper=None)
    assert head_fault(at, ChainHead(seq=3, hash="0" * 64)) == (4, "does not match the chain head")


def test_an_empty_chain_matches_no_head() -> None:
    assert head_fault(Walk(), None) is None


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
