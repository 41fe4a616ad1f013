"""Reads of the audit log (`AUDIT#<scope>` partitions): filtered pages of events, the chain in
order for verification, and the chain head. The write path (appending an event in the change's
transaction) is data/chain.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from strongroom import clock
from strongroom.data import db, keys
from strongroom.domain import audit


@dataclass(frozen=True, kw_only=True)
class AuditFilter:
    """Which events a search or an export returns; a field left None matches any event. `action`
    is exact, or a prefix when it ends in `.` or `*`; `actor` is the actor's id; `since`/`until`
    bound created_at, both inclusive."""

    action: str | None = None
    resource_type: str | None = None
    actor: str | None = None
    project: str | None = None
    environment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: str | None


class _Expression:
    """A FilterExpression being built: its clauses, values and attribute names."""

    def __init__(self) -> None:
        self.clauses: list[str] = ["entity = :entity"]
        self.values: dict[str, Any] = {":entity": audit.ENTITY}
        self.names: dict[str, str] = {}

    def add(self, clause: str, values: dict[str, Any], names: dict[str, str] | None = None) -> None:
        self.clauses.append(clause)
        self.values |= values
        self.names |= names or {}


def _action(e: _Expression, action: str) -> None:
    if action.endswith((".", "*")):
        e.add("begins_with(#action, :action)", {":action": action.rstrip("*")}, {"#action": "action"})
    else:
        e.add("#action = :action", {":action": action}, {"#action": "action"})


def filter_expression(f: AuditFilter) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The DynamoDB filter expression of `f`, its values and its attribute names."""
    e = _Expression()
    if f.action:
        _action(e, f.action)
    if f.resource_type:
        e.add("#resource.#type = :rtype", {":rtype": f.resource_type}, {"#resource": "resource", "#type": "type"})
    if f.actor:
        e.add("#actor.#id = :actor", {":actor": f.actor}, {"#actor": "actor", "#id": "id"})
    if f.project:
        e.add("project_id = :project", {":project": f.project})
    if f.environment:
        e.add("environment_id = :environment", {":environment": f.environment})
    if f.since:
        e.add("created_at >= :since", {":since": clock.iso(f.since)})
    if f.until:
        e.add("created_at <= :until", {":until": clock.iso(f.until)})
    if f.request_id:
        e.add("request_id = :rid", {":rid": f.request_id})
    return " AND ".join(e.clauses), e.values, e.names


def events_page(
    scope_id: str, filters: AuditFilter, *, limit: int, cursor: str | None, forward: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` matching events among at most max(limit, db.FILTER_BUDGET) read, newest first
    unless `forward`, and the cursor of the next page (while the log goes on)."""
    expression, values, names = filter_expression(filters)
    page = db.query(
        keys.audit_partition(scope_id),
        prefix=keys.AUDIT_EVENT_PREFIX,
        limit=limit,
        cursor=cursor,
        forward=forward,
        filter_expression=expression,
        filter_values=values,
        filter_names=names or None,
    )
    return page.items, page.next_cursor


def chain_page(scope_id: str, *, after_seq: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` events in sequence order after `after_seq`, and whether more follow."""
    page = db.query(
        keys.audit_partition(scope_id),
        prefix=keys.AUDIT_EVENT_PREFIX,
        limit=limit,
        after=keys.audit_event(scope_id, after_seq) if after_seq > 0 else None,
    )
    return page.items, page.next_cursor is not None


def event_sort_key(scope_id: str, seq: int) -> str:
    """The sort key the event of sequence number `seq` must have."""
    return keys.audit_event(scope_id, seq)[keys.SK]


def head(scope_id: str) -> ChainHead | None:
    item = db.get(keys.audit_head(scope_id))
    return ChainHead(seq=int(item["seq"]), hash=item.get("hash")) if item else None
