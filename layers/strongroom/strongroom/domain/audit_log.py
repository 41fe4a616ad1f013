"""Reading an org's audit log: filtered pages (newest first), export page by page (CSV or JSON,
oldest first), and verification of its hash chain (audit.py). Admin or owner (`audit.read`)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from strongroom import audit, clock, db, keys
from strongroom.access import org_access
from strongroom.errors import Invalid
from strongroom.models import AuditEntry, AuditVerification

EXPORT_PAGE = 1000  # events a page of an export holds at most (and, filtered, items it reads)
VERIFY_PAGE = 1000  # events one verify call walks at most
CSV_COLUMNS = (
    "seq",
    "id",
    "created_at",
    "action",
    "actor_type",
    "actor_id",
    "resource_type",
    "resource_id",
    "project_id",
    "environment_id",
    "request_id",
    "ip",
    "metadata",
    "hash",
)


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


def _expression(f: AuditFilter) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The DynamoDB filter expression, its values and its attribute names."""
    clauses: list[str] = ["entity = :entity"]
    values: dict[str, Any] = {":entity": audit.ENTITY}
    names: dict[str, str] = {}
    if f.action:
        if f.action.endswith((".", "*")):
            clauses.append("begins_with(#action, :action)")
            values[":action"] = f.action.rstrip("*")
        else:
            clauses.append("#action = :action")
            values[":action"] = f.action
        names["#action"] = "action"
    if f.resource_type:
        clauses.append("#resource.#type = :rtype")
        names |= {"#resource": "resource", "#type": "type"}
        values[":rtype"] = f.resource_type
    if f.actor:
        clauses.append("#actor.#id = :actor")
        names |= {"#actor": "actor", "#id": "id"}
        values[":actor"] = f.actor
    if f.project:
        clauses.append("project_id = :project")
        values[":project"] = f.project
    if f.environment:
        clauses.append("environment_id = :environment")
        values[":environment"] = f.environment
    if f.since:
        clauses.append("created_at >= :since")
        values[":since"] = clock.iso(f.since)
    if f.until:
        clauses.append("created_at <= :until")
        values[":until"] = clock.iso(f.until)
    if f.since and f.until and f.since > f.until:
        raise Invalid(
            "`since` is after `until`",
            details={"fields": [{"field": "since", "location": "query", "issue": "after until"}]},
        )
    if f.request_id:
        clauses.append("request_id = :rid")
        values[":rid"] = f.request_id
    return " AND ".join(clauses), values, names


def _entry(item: dict[str, Any]) -> AuditEntry:
    return AuditEntry.model_validate(item)


def search(
    org_ref: str, *, filters: AuditFilter, limit: int, cursor: str | None, forward: bool = False
) -> tuple[list[AuditEntry], str | None]:
    """Up to `limit` matching events among at most max(limit, db.FILTER_BUDGET) read: a sparse
    filter answers a short page, or an empty one, with a cursor while the log goes on."""
    access = org_access(org_ref, "audit.read")
    expression, values, names = _expression(filters)
    page = db.query(
        keys.audit_partition(access.org.id),
        prefix=keys.AUDIT_EVENT_PREFIX,
        limit=limit,
        cursor=cursor,
        forward=forward,
        filter_expression=expression,
        filter_values=values,
        filter_names=names or None,
    )
    return [_entry(i) for i in page.items], page.next_cursor


def export(org_ref: str, fmt: str, *, filters: AuditFilter, cursor: str | None) -> tuple[str, str | None]:
    """One page of up to EXPORT_PAGE matching events among at most EXPORT_PAGE read, oldest first,
    and the cursor of the next (present while the log goes on, even after an empty page)."""
    entries, next_cursor = search(org_ref, filters=filters, limit=EXPORT_PAGE, cursor=cursor, forward=True)
    if fmt == "json":
        return json.dumps([e.model_dump() for e in entries], separators=(",", ":")), next_cursor
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.seq,
                e.id,
                e.created_at,
                e.action,
                e.actor.type,
                e.actor.id,
                e.resource.type,
                e.resource.id,
                e.project_id or "",
                e.environment_id or "",
                e.request_id,
                e.ip,
                json.dumps(e.metadata, sort_keys=True),
                e.hash,
            ]
        )
    return out.getvalue(), next_cursor


def verify(
    org_ref: str, *, since: datetime | None, until: datetime | None, cursor: str | None = None
) -> AuditVerification:
    """Recompute the chain, at most VERIFY_PAGE events a call: from its first event, or from where
    the previous call stopped (its `next_cursor` carries the sequence number and hash reached,
    sealed, so a resumed walk trusts nothing the table says about the events before it). Report
    the first sequence number that breaks it (edited, removed, inserted or moved), counting the
    events within [since, until] when given. The walk is complete when `next_cursor` is null."""
    access = org_access(org_ref, "audit.read")
    scope = access.org.id
    cursor_scope = f"audit.verify|{scope}"
    expected_seq, prev_hash = 1, audit.GENESIS
    if cursor:
        reached = db.unseal(cursor_scope, cursor)
        expected_seq, prev_hash = int(reached["seq"]), str(reached["hash"])
    checked = 0
    first_seq = last_seq = None
    lower = clock.iso(since) if since else None
    upper = clock.iso(until) if until else None

    def broken(seq: int, reason: str) -> AuditVerification:
        return AuditVerification(
            ok=False, checked=checked, first_seq=first_seq, last_seq=last_seq, first_broken_seq=seq, reason=reason
        )

    page = db.query(
        keys.audit_partition(scope),
        prefix=keys.AUDIT_EVENT_PREFIX,
        limit=VERIFY_PAGE,
        after=keys.audit_event(scope, expected_seq - 1) if expected_seq > 1 else None,
    )
    next_cursor = None
    for item in page.items:
        seq = int(item.get("seq", 0))
        in_window = (lower is None or str(item.get("created_at", "")) >= lower) and (
            upper is None or str(item.get("created_at", "")) <= upper
        )
        if upper is not None and str(item.get("created_at", "")) > upper and seq >= expected_seq:
            break
        if seq != expected_seq or item[keys.SK] != keys.audit_event(scope, seq)[keys.SK]:
            return broken(expected_seq, "missing or out of order")
        if item.get("prev_hash") != prev_hash:
            return broken(seq, "does not follow the previous event")
        if item.get("hash") != audit.chain_hash(prev_hash, item):
            return broken(seq, "altered")
        if in_window:
            checked += 1
            first_seq = first_seq if first_seq is not None else seq
            last_seq = seq
        expected_seq, prev_hash = seq + 1, str(item["hash"])
    else:
        if page.next_cursor:  # this call's share is done; the chain goes on
            next_cursor = db.seal(cursor_scope, {"seq": expected_seq, "hash": prev_hash})
        else:
            head = db.get(keys.audit_head(scope))
            head_seq = int(head["seq"]) if head else 0
            if head_seq != expected_seq - 1 or (head and head.get("hash") != prev_hash):
                return broken(
                    expected_seq if head_seq >= expected_seq else head_seq + 1, "does not match the chain head"
                )
    return AuditVerification(
        ok=True,
        checked=checked,
        first_seq=first_seq,
        last_seq=last_seq,
        first_broken_seq=None,
        reason=None,
        next_cursor=next_cursor,
    )
