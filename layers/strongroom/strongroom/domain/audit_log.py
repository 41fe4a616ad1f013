"""Reading an org's audit log: filtered pages (newest first), export page by page (CSV or JSON,
oldest first), and verification of its hash chain (audit.py). Admin or owner (`audit.read`, named
by the routes, which hand over the access). The reads: data/audit.py."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from strongroom import clock
from strongroom.data import audit as data
from strongroom.data import db, keys
from strongroom.data.audit import AuditFilter
from strongroom.domain import audit
from strongroom.errors import Invalid
from strongroom.models import AuditEntry, AuditVerification
from strongroom.security.access import OrgAccess

__all__ = ["AuditFilter", "Walk", "export", "head_fault", "search", "verify", "walk"]

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


def _check_window(f: AuditFilter) -> None:
    if f.since and f.until and f.since > f.until:
        raise Invalid(
            "`since` is after `until`",
            details={"fields": [{"field": "since", "location": "query", "issue": "after until"}]},
        )


def _entry(item: dict[str, Any]) -> AuditEntry:
    return AuditEntry.model_validate(item)


def search(
    access: OrgAccess, *, filters: AuditFilter, limit: int, cursor: str | None, forward: bool = False
) -> tuple[list[AuditEntry], str | None]:
    """Up to `limit` matching events among at most max(limit, db.FILTER_BUDGET) read (`audit.read`):
    a sparse filter answers a short page, or an empty one, with a cursor while the log goes on."""
    _check_window(filters)
    items, next_cursor = data.events_page(access.org.id, filters, limit=limit, cursor=cursor, forward=forward)
    return [_entry(i) for i in items], next_cursor


def export(access: OrgAccess, fmt: str, *, filters: AuditFilter, cursor: str | None) -> tuple[str, str | None]:
    """One page of up to EXPORT_PAGE matching events among at most EXPORT_PAGE read, oldest first,
    and the cursor of the next (present while the log goes on, even after an empty page)."""
    entries, next_cursor = search(access, filters=filters, limit=EXPORT_PAGE, cursor=cursor, forward=True)
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


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a walk along the chain got to: the sequence number and previous hash the next event
    must have, the events counted within the window, and how the walk ended (a break, or past
    `until`)."""

    next_seq: int = 1
    prev_hash: str = audit.GENESIS
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    broken: tuple[int, str] | None = None  # the first sequence number that breaks the chain, and why
    stopped: bool = False  # an event after `until`: the rest is outside the window


def _fault(scope: str, item: dict[str, Any], at: Walk) -> tuple[int, str] | None:
    seq = int(item.get("seq", 0))
    if seq != at.next_seq or item[keys.SK] != data.event_sort_key(scope, seq):
        return at.next_seq, "missing or out of order"
    if item.get("prev_hash") != at.prev_hash:
        return seq, "does not follow the previous event"
    if item.get("hash") != audit.chain_hash(at.prev_hash, item):
        return seq, "altered"
    return None


def walk(scope: str, items: list[dict[str, Any]], start: Walk, *, lower: str | None, upper: str | None) -> Walk:
    """Pure: follow the chain through `items` (in sequence order) from `start`, counting the
    events created within [lower, upper]; stop at the first break, or at an event after `upper`."""
    at = start
    for item in items:
        seq = int(item.get("seq", 0))
        created = str(item.get("created_at", ""))
        if upper is not None and created > upper and seq >= at.next_seq:
            return replace(at, stopped=True)
        fault = _fault(scope, item, at)
        if fault is not None:
            return replace(at, broken=fault)
        in_window = (lower is None or created >= lower) and (upper is None or created <= upper)
        at = Walk(
            next_seq=seq + 1,
            prev_hash=str(item["hash"]),
            checked=at.checked + in_window,
            first_seq=at.first_seq if at.first_seq is not None or not in_window else seq,
            last_seq=seq if in_window else at.last_seq,
        )
    return at


def head_fault(at: Walk, head: data.ChainHead | None) -> tuple[int, str] | None:
    """Pure: at the end of the chain, whether its head names the last event walked."""
    head_seq = head.seq if head else 0
    if head_seq != at.next_seq - 1 or (head is not None and head.hash != at.prev_hash):
        return (at.next_seq if head_seq >= at.next_seq else head_seq + 1), "does not match the chain head"
    return None


def _report(at: Walk, next_cursor: str | None) -> AuditVerification:
    """What a walk found: ok and the cursor to go on from, or the first broken event (no cursor)."""
    seq, reason = at.broken if at.broken is not None else (None, None)
    return AuditVerification(
        ok=at.broken is None,
        checked=at.checked,
        first_seq=at.first_seq,
        last_seq=at.last_seq,
        first_broken_seq=seq,
        reason=reason,
        next_cursor=next_cursor if at.broken is None else None,
    )


def verify(
    access: OrgAccess, *, since: datetime | None, until: datetime | None, cursor: str | None = None
) -> AuditVerification:
    """Recompute the chain (`audit.read`), at most VERIFY_PAGE events a call: from its first
    event, or from where the previous call stopped (its `next_cursor` carries the sequence number
    and hash reached, sealed, so a resumed walk trusts nothing the table says about the events
    before it). Report the first sequence number that breaks it (edited, removed, inserted or
    moved), counting the events within [since, until] when given. The walk is complete when
    `next_cursor` is null."""
    scope = access.org.id
    cursor_scope = f"audit.verify|{scope}"
    start = Walk()
    if cursor:
        reached = db.unseal(cursor_scope, cursor)
        start = Walk(next_seq=int(reached["seq"]), prev_hash=str(reached["hash"]))
    items, more = data.chain_page(scope, after_seq=start.next_seq - 1, limit=VERIFY_PAGE)
    at = walk(scope, items, start, lower=clock.iso(since) if since else None, upper=clock.iso(until) if until else None)
    next_cursor = None
    if at.broken is None and not at.stopped:
        if more:  # this call's share is done; the chain goes on
            next_cursor = db.seal(cursor_scope, {"seq": at.next_seq, "hash": at.prev_hash})
        else:
            at = replace(at, broken=head_fault(at, data.head(scope)))
    return _report(at, next_cursor)
