"""Reading an org's audit log: filtered pages (newest first), export page by page (CSV or JSON,
oldest first), its Merkle tree (signed heads, the public key, inclusion and consistency proofs,
the leaves in order) and the verification of the tree against its signed heads (domain/audit.py,
domain/sealer.py). Admin or owner (`audit.read`, named by the routes, which hand over the access).
The reads: data/audit.py."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from strongroom import ids
from strongroom.data import audit as data
from strongroom.data import db
from strongroom.data.audit import AuditFilter
from strongroom.domain import audit, merkle
from strongroom.errors import Conflict, Internal, Invalid, NotFound
from strongroom.models import (
    AuditEntry,
    AuditEventView,
    AuditVerification,
    ConsistencyProof,
    InclusionProof,
    LeafEntry,
    LeafPage,
    TreeHead,
)
from strongroom.security import signing
from strongroom.security.access import OrgAccess

__all__ = [
    "AuditFilter",
    "Walk",
    "consistency",
    "export",
    "get_event",
    "inclusion",
    "leaves",
    "public_key",
    "search",
    "tree_head",
    "verify",
]

EXPORT_PAGE = 1000  # events a page of an export holds at most (and, filtered, items it reads)
VERIFY_PAGE = 1000  # events one verify call walks at most
CSV_COLUMNS = (
    "leaf_index",
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
                "" if e.leaf_index is None else e.leaf_index,
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
            ]
        )
    return out.getvalue(), next_cursor


# --------------------------------------------------------------------------- the tree


def _tree(scope: str) -> data.Tree:
    return data.tree(scope) or data.Tree()


def tree_head(access: OrgAccess) -> TreeHead:
    """The org's latest signed tree head (409 `not_sealed` until its first events are sealed: the
    org exists, its first head is a second away)."""
    signed = _tree(access.org.id).signed
    if signed is None:
        raise Conflict(
            "no signed tree head yet: the org's first events are being sealed; retry",
            headers={"Retry-After": "1"},
            code="not_sealed",
        )
    return TreeHead.model_validate(signed)


def public_key(access: OrgAccess) -> str:
    """The PEM of the key that signs tree heads (the same for every org)."""
    del access  # authorized by the route; the key is not the org's
    return signing.public_key()[1]


def _event(scope: str, event_id: str) -> dict[str, Any] | None:
    return data.event(scope, event_id) if ids.is_id(event_id, "evt") else None


def get_event(access: OrgAccess, event_id: str) -> AuditEventView:
    item = _event(access.org.id, event_id)
    if item is None:
        raise NotFound("audit event not found")
    return AuditEventView(event=audit.event_object(item), leaf_index=item.get("leaf_index"))


def _size(tree: data.Tree, tree_size: int | None, name: str) -> int:
    """`tree_size` as asked (default: the latest signed head's), within what is sealed."""
    signed = int(tree.signed["tree_size"]) if tree.signed else 0
    size = signed if tree_size is None else tree_size
    if not 1 <= size <= tree.size:
        raise Invalid(
            f"`{name}` must be between 1 and the sealed tree size ({tree.size})",
            details={"fields": [{"field": name, "location": "query", "issue": "out of range"}]},
        )
    return size


def _fetch(scope: str, ranges: list[tuple[int, int]]) -> merkle.Get:
    known = data.nodes(scope, merkle.needed(ranges))

    def get(position: merkle.Position) -> bytes:
        if position not in known:
            raise Internal("the audit tree lacks a node")
        return known[position]

    return get


def inclusion(access: OrgAccess, event_id: str, tree_size: int | None) -> InclusionProof:
    """The audit path of an event's leaf in the tree of `tree_size` leaves."""
    scope = access.org.id
    item = _event(scope, event_id)
    if item is None:
        raise NotFound("audit event not found")
    index = item.get("leaf_index")
    if index is None:
        raise Conflict("the event is not sealed yet; retry", headers={"Retry-After": "1"}, code="not_sealed")
    size = _size(_tree(scope), tree_size, "tree_size")
    if int(index) >= size:
        raise Invalid(
            f"the event is leaf {index}: `tree_size` must be above it",
            details={"fields": [{"field": "tree_size", "location": "query", "issue": "not above the leaf index"}]},
        )
    get = _fetch(scope, merkle.inclusion_ranges(int(index), size))
    path = merkle.inclusion_proof(int(index), size, get)
    return InclusionProof(leaf_index=int(index), tree_size=size, audit_path=[h.hex() for h in path])


def _required(name: str, value: int | None) -> int:
    if value is None:
        raise Invalid(
            f"`{name}` is required", details={"fields": [{"field": name, "location": "query", "issue": "required"}]}
        )
    return value


def consistency(access: OrgAccess, first: int | None, second: int | None) -> ConsistencyProof:
    """RFC 9162 PROOF(first, D[second]) between two sizes of the sealed tree (both required;
    checked once the caller may read the log, so a stranger sees the 404 a missing org gets)."""
    scope = access.org.id
    tree = _tree(scope)
    first, second = _required("first", first), _size(tree, _required("second", second), "second")
    if not 1 <= first <= second:
        raise Invalid(
            "`first` must be between 1 and `second`",
            details={"fields": [{"field": "first", "location": "query", "issue": "out of range"}]},
        )
    get = _fetch(scope, merkle.consistency_ranges(first, second))
    return ConsistencyProof(proof=[h.hex() for h in merkle.consistency_proof(first, second, get)])


def leaves(access: OrgAccess, start: int, limit: int) -> LeafPage:
    """Events in leaf order from `start`, up to the latest signed head (for local verification)."""
    scope = access.org.id
    signed = _tree(scope).signed
    size = int(signed["tree_size"]) if signed else 0
    nodes = data.leaves_page(scope, start=start, limit=min(limit, max(size - start, 0))) if start < size else []
    found = data.events(scope, [str(n["event_id"]) for n in nodes])
    out = []
    for node in nodes:
        item = found.get(str(node["event_id"]))
        out.append(LeafEntry(leaf_index=int(node["index"]), event=audit.event_object(item) if item else None))
    return LeafPage(data=out, tree_size=size)


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a verification got to, carried (sealed) from call to call: the phase (`leaves`:
    recomputing the tree from the events in leaf order; `events`: every stored event against the
    leaf it claims), the next leaf, the peaks recomputed so far, the signed head checked against,
    and the counts."""

    size: int
    root_hash: str
    phase: str = "leaves"
    next: int = 0
    peaks: tuple[tuple[int, int, str], ...] = ()
    events_cursor: str | None = None
    checked: int = 0
    pending: int = 0

    def known(self) -> dict[merkle.Position, bytes]:
        return {(level, index): bytes.fromhex(h) for level, index, h in self.peaks}


@dataclass(frozen=True, slots=True)
class Fault:
    reason: str
    leaf_index: int | None = None
    event_id: str | None = None


def _leaf_fault(index: int, node: dict[str, Any], item: dict[str, Any] | None) -> Fault | None:
    """Pure: whether leaf `index` (its stored node) is the event it names, unaltered."""
    event_id = str(node.get("event_id", ""))
    if int(node.get("index", -1)) != index:
        return Fault("a leaf is missing", index)
    if item is None:
        return Fault("the event of this leaf is missing", index, event_id)
    if item.get("leaf_index") != index:
        return Fault("the event says it is another leaf", index, event_id)
    if merkle.leaf_hash(audit.leaf_data(item)).hex() != node.get("hash"):
        return Fault("the event was altered", index, event_id)
    return None


def _head_fault(head: dict[str, Any], root: bytes) -> Fault | None:
    size = int(head["tree_size"])
    if head.get("root_hash") != root.hex():
        return Fault(f"the events do not give the root of the signed head of size {size}", size - 1)
    if not signing.verify_head(head):
        return Fault(f"the signed head of size {size} has a bad signature", size - 1)
    return None


def _walk_leaves(scope: str, at: Walk) -> tuple[Walk, Fault | None]:
    """Pure but for its reads: up to VERIFY_PAGE leaves from `at.next`, recomputing the tree and
    checking every signed head whose size they reach."""
    want = min(VERIFY_PAGE, at.size - at.next)
    nodes = data.leaves_page(scope, start=at.next, limit=want)
    items = data.events(scope, [str(n.get("event_id", "")) for n in nodes])
    heads = [h for h in data.signed_heads(scope, above=at.next, limit=VERIFY_PAGE) if int(h["tree_size"]) <= at.size]
    known = at.known()
    index = at.next
    for node in nodes:
        fault = _leaf_fault(index, node, items.get(str(node.get("event_id", ""))))
        if fault is not None:
            return at, fault
        known.update(merkle.append(index, bytes.fromhex(str(node["hash"])), known.__getitem__))
        index += 1
        while heads and int(heads[0]["tree_size"]) == index:
            if fault := _head_fault(heads.pop(0), merkle.root(index, known.__getitem__)):
                return at, fault
    if index < at.next + want:
        return at, Fault("a leaf is missing", index)
    peaks = tuple((level, i, known[(level, i)].hex()) for level, i in merkle.peaks(index))
    done = index == at.size
    if done and merkle.root(index, known.__getitem__).hex() != at.root_hash:
        return at, Fault("the events do not give the latest signed root", index - 1)
    return replace(
        at, next=index, peaks=peaks, checked=at.checked + len(nodes), phase="events" if done else "leaves"
    ), None


def _walk_events(scope: str, at: Walk) -> tuple[Walk, Fault | None, bool]:
    """A page of stored events in key order: each sealed one must be the leaf it claims (an event
    inserted with a made-up leaf index is not). Whether the walk is done."""
    items, next_cursor = data.events_in_key_order(scope, limit=VERIFY_PAGE, cursor=at.events_cursor)
    claims = [(int(i["leaf_index"]), str(i["id"])) for i in items if i.get("leaf_index") is not None]
    named = data.leaf_events(scope, [index for index, _ in claims if index < at.size])
    for index, event_id in claims:
        if index < at.size and named.get(index) != event_id:
            return at, Fault("an event claims a leaf that is another event", index, event_id), True
    pending = at.pending + sum(1 for i in items if i.get("leaf_index") is None)
    return replace(at, events_cursor=next_cursor, pending=pending), None, next_cursor is None


def _start(scope: str) -> tuple[Walk | None, Fault | None]:
    head = _tree(scope).signed
    if head is None:
        return None, None
    if not signing.verify_head(head):
        return None, Fault("the latest signed head has a bad signature")
    return Walk(size=int(head["tree_size"]), root_hash=str(head["root_hash"])), None


def _report(at: Walk | None, fault: Fault | None, next_cursor: str | None) -> AuditVerification:
    return AuditVerification(
        ok=fault is None,
        tree_size=at.size if at else 0,
        root_hash=at.root_hash if at else None,
        checked=at.checked if at else 0,
        pending=at.pending if at else 0,
        first_broken_leaf=fault.leaf_index if fault else None,
        event_id=fault.event_id if fault else None,
        reason=fault.reason if fault else None,
        next_cursor=next_cursor if fault is None else None,
    )


def verify(access: OrgAccess, *, cursor: str | None = None) -> AuditVerification:
    """Recompute the org's tree from its stored events against its signed heads (`audit.read`),
    at most VERIFY_PAGE events a call: first every leaf in order (an edited, removed, reordered
    or moved event changes a leaf or a root a signed head names), then every stored event against
    the leaf it claims (an inserted one claims a leaf that is another's). While `next_cursor` is
    set the walk goes on from it; it carries what was recomputed, sealed, so a resumed walk trusts
    nothing the table says about the leaves before it."""
    scope = access.org.id
    cursor_scope = f"audit.verify|{scope}"
    at: Walk | None
    fault: Fault | None = None
    if cursor:
        raw = db.unseal(cursor_scope, cursor)
        at = Walk(**{**raw, "peaks": tuple((int(lv), int(i), str(h)) for lv, i, h in raw["peaks"])})
    else:
        at, fault = _start(scope)
    if at is None or fault is not None:
        return _report(at, fault, None)
    done = False
    if at.phase == "leaves":
        at, fault = _walk_leaves(scope, at)
    if fault is None and at.phase == "events":  # the leaves done within this call: go on with the events
        at, fault, done = _walk_events(scope, at)
    next_cursor = None if done or fault else db.seal(cursor_scope, asdict(at))
    return _report(at, fault, next_cursor)
