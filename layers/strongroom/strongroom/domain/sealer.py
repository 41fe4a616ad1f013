"""The sealer: orders a scope's audit events into its Merkle tree (RFC 9162) and signs its heads.

Fed by the table's stream (INSERTs of audit events; template.yaml `AuditSealerFunction`), which
hands one shard, and so one scope's partition, to one invocation at a time. The stream is only a
doorbell: for each scope a record names, the sealer lists the scope's unsealed event IDs (GSI1
`AUDIT#<scope>#UNSEALED`), takes each listed event from the stream record that carried it (as
inserted) or else reads it consistently (as any event the records name but the eventually
consistent index does not list yet), and appends them as leaves, oldest ID first, as many a
transaction as fit in 100 items: each event is written back with its `leaf_index` (on the
condition that it has none), the new complete nodes are written, and the tree item moves on the
condition of the size it had, so two sealers can never fork a tree (the loser's transaction
writes nothing; it reads everything again and goes on). Then it signs the new head with the
audit KMS key (only the sealer may) and keeps it. A run that fails is retried by the stream;
events it left unsealed are taken by the next run of their scope.

The one migration: a scope whose events still form the pre-Merkle hash chain (a `HEAD` item) has
them moved, in chain order, to the first leaves of its tree before any newer event, with the
chain checked on the way (domain/audit_legacy.py) and what was found kept on the tree item.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from strongroom import clock
from strongroom.data import audit as data
from strongroom.data import counters, db
from strongroom.domain import audit, audit_legacy, merkle
from strongroom.observability import logger
from strongroom.security import signing

MAX_ITEMS = 100  # a TransactWriteItems: events, their nodes and the tree's move (about 33 events)
MIGRATION_STEP = 12  # a migrated event is two items (its new key, the old one's delete)
BATCH = 1000  # unsealed events a run of one scope reads at most
ATTEMPTS = 6


@dataclass
class _Nodes:
    """The complete nodes a run knows: the old tree's peaks (read once) and those it created."""

    scope: str
    known: dict[merkle.Position, bytes] = field(default_factory=dict)

    @classmethod
    def at(cls, scope: str, size: int) -> _Nodes:
        peaks = set(merkle.peaks(size))
        nodes = cls(scope, data.nodes(scope, peaks) if peaks else {})
        missing = peaks - set(nodes.known)
        if missing:
            raise RuntimeError(f"the tree of {scope} lacks nodes {sorted(missing)}")
        return nodes

    def get(self, position: merkle.Position) -> bytes:
        return self.known[position]


@dataclass
class _Step:
    """One transaction's worth of leaves appended to a tree of `size_before` leaves."""

    size_before: int
    size: int
    nodes: list[tuple[merkle.Position, bytes]] = field(default_factory=list)
    leaf_events: dict[int, str] = field(default_factory=dict)
    root: str = ""  # the root at `size`, once `ops` built the step

    def append(self, store: _Nodes, event: dict[str, Any]) -> int:
        index = self.size
        created = merkle.append(index, merkle.leaf_hash(audit.leaf_data(event)), store.get)
        store.known.update(created)
        self.nodes += created
        self.leaf_events[index] = str(event["id"])
        self.size += 1
        return index

    def ops(self, scope: str, store: _Nodes, at: str, extra: dict[str, Any] | None = None) -> list[db.Op]:
        self.root = root = merkle.root(self.size, store.get).hex()
        return data.tree_ops(
            scope,
            self.nodes,
            self.leaf_events,
            size_before=self.size_before,
            size_after=self.size,
            root_hash=root,
            at=at,
            extra=extra,
        )


def seal(scopes: Iterable[str], hinted: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, int]:
    """Seal every unsealed event of each scope (`hinted`: the events its stream records carry, as
    inserted); the sealed counts."""
    out: dict[str, int] = {}
    for scope in dict.fromkeys(scopes):
        out[scope] = _with_retries(scope, (hinted or {}).get(scope, []))
    return out


def _with_retries(scope: str, hinted: list[dict[str, Any]]) -> int:
    for attempt in range(ATTEMPTS):
        try:
            # After a lost race, what the records said is stale: read every event again.
            return seal_scope(scope, hinted if attempt == 0 else [])
        except db.Contended:  # another sealer moved the tree: go on from where it got
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1) * random.random())  # noqa: S311 - jitter
    return 0


def seal_scope(scope: str, hinted: list[dict[str, Any]]) -> int:
    """One pass over a scope: migrate a legacy chain first, seal what is unsealed (BATCH events a
    read, until none is left), sign the head. The unsealed list gives the IDs; an event a stream
    record carried is taken from the record, any other is read (consistently)."""
    legacy = _migrate(scope) if data.legacy_head(scope) is not None else None
    tree = data.tree(scope) or data.Tree()
    size, root, sealed = tree.size, str(tree.root_hash), 0
    carried = {str(e["id"]): e for e in hinted if e.get("leaf_index") is None}
    appended = [str(e["created_at"]) for e in carried.values() if e.get("created_at")]
    if appended:  # the backlog /metrics shows: kept until this scope is caught up (a failed run leaves it)
        counters.sealing_behind(scope, min(appended))
    while True:
        listed = data.unsealed_ids(scope, limit=BATCH)
        known = {i: carried[i] for i in listed if i in carried}
        unread = [i for i in dict.fromkeys([*listed, *carried]) if i not in known]
        if unread:
            known |= data.events(scope, unread)
        pending = sorted((e for e in known.values() if e.get("leaf_index") is None), key=lambda e: str(e["id"]))
        if pending:
            size, root = _append(scope, size, pending)
            sealed += len(pending)
        if len(listed) < BATCH:
            break
        carried = {}
    if appended:  # every event listed, or carried by the records, is sealed
        counters.sealing_caught_up(scope)
    if size and (tree.signed is None or int(tree.signed["tree_size"]) != size or legacy is not None):
        head = signing.sign_head(scope, size, root)
        data.publish_head(scope, head, legacy=legacy)
        logger.info("audit tree head signed", extra={"scope": scope, "tree_size": size, "sealed": sealed})
    return sealed


def _cost(index: int) -> int:
    """Items appending leaf `index` adds to a transaction: the event, its leaf, one node per merge."""
    return 2 + ((index ^ (index + 1)).bit_length() - 1)


def _append(scope: str, size: int, pending: list[dict[str, Any]]) -> tuple[int, str]:
    """Append `pending` as leaves after `size`, as many a transaction as fit in MAX_ITEMS; the new
    size and root."""
    store = _Nodes.at(scope, size)
    queue, root = list(pending), ""
    while queue:
        step = _Step(size_before=size, size=size)
        sealed: list[tuple[dict[str, Any], int]] = []
        items = 1  # the tree's move
        while queue and items + _cost(step.size) <= MAX_ITEMS:
            items += _cost(step.size)
            event = queue.pop(0)
            sealed.append((event, step.append(store, event)))
        at = clock.now_iso()
        data.seal(data.leaf_ops(sealed, sealed_at=at) + step.ops(scope, store, at))
        size, root = step.size, step.root
    return size, root


def _migrate(scope: str) -> dict[str, Any]:
    """Move a pre-Merkle chain into the first leaves, in chain order; what the check found."""
    tree = data.tree(scope) or data.Tree()
    found = dict(tree.legacy or {"events": 0, "next_seq": 1, "prev_hash": audit_legacy.GENESIS, "broken_seq": None})
    size = tree.size
    while page := data.legacy_page(scope, limit=MIGRATION_STEP):
        store = _Nodes.at(scope, size)
        step = _Step(size_before=size, size=size)
        at = clock.now_iso()
        ops: list[db.Op] = []
        for item in page:
            if found["broken_seq"] is None and not audit_legacy.follows(item, found["next_seq"], found["prev_hash"]):
                found["broken_seq"] = found["next_seq"]
            found = {**found, "events": found["events"] + 1, "next_seq": int(item.get("seq", 0)) + 1}
            found["prev_hash"] = str(item.get("hash", ""))
            ops += data.migrate_ops(scope, item, leaf_index=step.append(store, item), sealed_at=at)
        data.seal(ops + step.ops(scope, store, at, extra={"legacy": found}))
        size = step.size
    head = data.legacy_head(scope) or {}
    found["head_matches"] = int(head.get("seq", 0)) == found["next_seq"] - 1 and head.get("hash") == found["prev_hash"]
    found["chain_ok"] = found["broken_seq"] is None and found["head_matches"]
    data.retire_legacy_head(scope)
    logger.info("audit chain migrated", extra={"scope": scope, "events": found["events"], "ok": found["chain_ok"]})
    return found


def scopes_of(records: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """The scopes a batch of stream records names, and the events (as inserted) per scope."""
    hinted: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        image = db.deserialize(record.get("dynamodb", {}).get("NewImage", {}))
        if image.get("entity") == audit.ENTITY and image.get("scope_id") and image.get("id"):
            hinted.setdefault(str(image["scope_id"]), []).append(image)
    return list(hinted), hinted
