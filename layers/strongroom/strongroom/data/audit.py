"""The audit log's items (`AUDIT#<scope>` partitions): filtered pages of events, single events,
the unsealed list (GSI1), the Merkle tree (its state, complete nodes and signed heads), and the
sealer's writes, with the one migration of a pre-Merkle hash chain. Writing an event in the
change's transaction is data/chain.py."""

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


def event(scope_id: str, event_id: str) -> dict[str, Any] | None:
    return db.get(keys.audit_event(scope_id, event_id))


def events(scope_id: str, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The events named (consistent, 100 a request), by ID; missing ones are absent."""
    found = db.batch_get([keys.audit_event(scope_id, i) for i in dict.fromkeys(event_ids)])
    return {str(item["id"]): item for item in found}


def unsealed_ids(scope_id: str, *, limit: int) -> list[str]:
    """The IDs of up to `limit` of the scope's events not yet sealed, oldest first (GSI1, IDs only)."""
    page = db.query(keys.audit_unsealed(scope_id), index=keys.GSI1, limit=limit, attributes=["id"])
    return [str(i["id"]) for i in page.items]


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Tree:
    """A scope's tree: its size and root (sealed), and the last head the sealer signed."""

    size: int = 0
    root_hash: str | None = None
    signed: dict[str, Any] | None = None  # {org_id, tree_size, root_hash, timestamp, signature, key_id}
    legacy: dict[str, Any] | None = None  # what the migration of a pre-Merkle chain found


def tree(scope_id: str) -> Tree | None:
    item = db.get(keys.audit_tree(scope_id))
    if item is None:
        return None
    return Tree(
        size=int(item.get("size", 0)),
        root_hash=item.get("root_hash"),
        signed=item.get("signed"),
        legacy=item.get("legacy"),
    )


def nodes(scope_id: str, positions: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of these complete subtrees (one BatchGetItem per 100)."""
    found = db.batch_get([keys.audit_node(scope_id, level, index) for level, index in sorted(positions)])
    return {(int(i["level"]), int(i["index"])): bytes.fromhex(str(i["hash"])) for i in found}


def leaf_events(scope_id: str, indexes: list[int]) -> dict[int, str]:
    """The event each of these leaves names."""
    found = db.batch_get([keys.audit_node(scope_id, 0, i) for i in sorted(set(indexes))])
    return {int(i["index"]): str(i.get("event_id", "")) for i in found}


def leaves_page(scope_id: str, *, start: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` leaf nodes from leaf `start` in order: `{index, hash, event_id}` each."""
    after = keys.audit_node(scope_id, 0, start - 1) if start > 0 else None
    page = db.query(keys.audit_partition(scope_id), prefix=keys.AUDIT_LEAF_PREFIX, limit=limit, after=after)
    return page.items


def signed_heads(scope_id: str, *, above: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` signed tree heads of sizes above `above`, smallest first."""
    page = db.query(
        keys.audit_partition(scope_id),
        prefix=keys.AUDIT_SIGNED_HEAD_PREFIX,
        limit=limit,
        after=keys.audit_signed_head(scope_id, above),
    )
    return [dict(i["head"]) for i in page.items]


def events_in_key_order(scope_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the scope's event items, only `id` and `leaf_index`, in key order (verify's
    second walk: every sealed event must be the leaf it claims)."""
    page = db.query(
        keys.audit_partition(scope_id),
        prefix=keys.AUDIT_EVENT_PREFIX,
        limit=limit,
        cursor=cursor,
        attributes=["id", "leaf_index"],
    )
    return page.items, page.next_cursor


# --------------------------------------------------------------------------- the sealer's writes


def leaf_ops(sealed: list[tuple[dict[str, Any], int]], *, sealed_at: str) -> list[db.Op]:
    """Each event, as read, gets its leaf index once (the condition: not sealed meanwhile) and
    leaves the unsealed list. A Put of the event as read rather than an update: what is stored is
    exactly what the leaf hashes (and moto parses no update expression)."""
    ops: list[db.Op] = []
    for event, index in sealed:
        item = {k: v for k, v in event.items() if k not in {keys.GSI1PK, keys.GSI1SK}}
        ops.append(
            db.Put(
                {**item, "leaf_index": index, "sealed_at": sealed_at},
                condition="attribute_exists(PK) AND attribute_not_exists(leaf_index)",
                on_fail=db.Contended("an event was sealed meanwhile"),
            )
        )
    return ops


def tree_ops(
    scope_id: str,
    new_nodes: list[tuple[tuple[int, int], bytes]],
    leaf_events: dict[int, str],
    *,
    size_before: int,
    size_after: int,
    root_hash: str,
    at: str,
    extra: dict[str, Any] | None = None,
) -> list[db.Op]:
    """The new complete nodes (a leaf node names its event) and the tree's move from `size_before`
    to `size_after`, conditional on the size read: one sealer's transaction at a time commits,
    whatever the stream does, and a cancelled one writes no node."""
    ops: list[db.Op] = []
    for (level, index), digest in new_nodes:
        node: dict[str, Any] = {
            **keys.audit_node(scope_id, level, index),
            "entity": "audit_node",
            "level": level,
            "index": index,
            "hash": digest.hex(),
        }
        if level == 0:
            node["event_id"] = leaf_events[index]
        ops.append(db.Put(node))  # no condition of its own: the tree's move below decides for all
    changes = {"size": size_after, "root_hash": root_hash, "updated_at": at, **(extra or {})}
    ops.append(_tree_update(scope_id, size_before, changes))
    return ops


def _tree_update(scope_id: str, size: int, changes: dict[str, Any]) -> db.Op:
    """SET `changes` on the tree item while it has `size` leaves (or does not exist yet, at 0):
    every write of the tree is conditional on the size its writer read."""
    changes = {**changes, "entity": "audit_tree"}
    return db.Update(
        keys.audit_tree(scope_id),
        "SET " + ", ".join(f"#{k} = :{k}" for k in changes),
        condition="attribute_not_exists(PK) OR #size = :seen" if size == 0 else "#size = :seen",
        names={f"#{k}": k for k in changes} | {"#size": "size"},
        values={f":{k}": v for k, v in changes.items()} | {":seen": size},
        on_fail=db.Contended("the tree moved"),
    )


def seal(ops: list[db.Op]) -> None:
    """The sealer's own write (not a mutation of anyone's data: no audit event of its own)."""
    db.transact(ops)


def publish_head(scope_id: str, head: dict[str, Any], *, legacy: dict[str, Any] | None = None) -> None:
    """Keep the signed head `head` and make it the tree's latest, while the tree still has its size."""
    changes: dict[str, Any] = {"signed": head}
    if legacy is not None:
        changes["legacy"] = legacy
    db.transact(
        [
            db.Put(
                {
                    **keys.audit_signed_head(scope_id, int(head["tree_size"])),
                    "entity": "audit_signed_head",
                    "head": head,
                }
            ),
            _tree_update(scope_id, int(head["tree_size"]), changes),
        ]
    )


# --------------------------------------------------------------------------- the one migration


def legacy_head(scope_id: str) -> dict[str, Any] | None:
    return db.get(keys.audit_legacy_head(scope_id))


def legacy_page(scope_id: str, *, limit: int) -> list[dict[str, Any]]:
    """The first `limit` events still in a pre-Merkle chain (sequence order; each is moved away as
    it is migrated, so the next page starts at the front again)."""
    return db.query(keys.audit_partition(scope_id), prefix=keys.AUDIT_LEGACY_PREFIX, limit=limit).items


def migrate_ops(scope_id: str, item: dict[str, Any], *, leaf_index: int, sealed_at: str) -> list[db.Op]:
    """Move one chained event to its ID's key as leaf `leaf_index` (off the outbox: its webhooks
    went out long ago), keeping what the chain said of it under `legacy_*`."""
    moved = {k: v for k, v in item.items() if k not in {keys.PK, keys.SK, "outbox", "seq", "prev_hash", "hash"}}
    moved |= {
        **keys.audit_event(scope_id, str(item["id"])),
        "legacy_seq": item.get("seq"),
        "legacy_prev_hash": item.get("prev_hash"),
        "legacy_hash": item.get("hash"),
        "leaf_index": leaf_index,
        "sealed_at": sealed_at,
    }
    return [
        db.Put.new(moved, on_fail=db.Contended("migrated meanwhile")),
        db.Delete(
            {keys.PK: item[keys.PK], keys.SK: item[keys.SK]},
            condition="attribute_exists(PK)",
            on_fail=db.Contended("migrated meanwhile"),
        ),
    ]


def retire_legacy_head(scope_id: str) -> None:
    db.delete_many([keys.audit_legacy_head(scope_id)])


def oldest_unsealed_at(scope_id: str) -> str | None:
    """When the scope's oldest event not yet sealed was written (None: all are sealed): /metrics'
    sealing lag."""
    page = db.query(keys.audit_unsealed(scope_id), index=keys.GSI1, limit=1, attributes=["created_at"])
    return str(page.items[0]["created_at"]) if page.items else None
