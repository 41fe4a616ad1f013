"""The audited write path: every mutation's ops and exactly one audit event, written atomically,
the event appended to its scope's hash chain (strongroom.domain.audit) by advancing the chain head in
the same transaction. The one interface mutations use, kept small so that the audit protocol
behind it can change (#11) without touching a caller: `transact(ops, audit=event)`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from strongroom.data import db, keys
from strongroom.domain.audit import GENESIS, AuditEvent
from strongroom.errors import Conflict

CHAIN_ATTEMPTS = 12


class _HeadMoved(db.Contended):
    """Another event joined the scope's audit chain first: read the head again and retry."""

    def __init__(self) -> None:
        super().__init__("the audit chain moved; retry")


def transact(ops: Sequence[db.Op], *, audit: AuditEvent) -> None:
    """Write `ops` and `audit` atomically. A lost race for the chain head (and only that) is
    retried with the new head; a failed condition of `ops` raises that op's `on_fail`."""
    for attempt in range(CHAIN_ATTEMPTS):
        head = db.get(keys.audit_head(audit.scope_id))
        seq = int(head["seq"]) + 1 if head else 1
        prev_hash = str(head["hash"]) if head else GENESIS
        item = audit.to_item(seq, prev_hash)
        head_op = db.Put(
            {**keys.audit_head(audit.scope_id), "entity": "audit_head", "seq": seq, "hash": item["hash"]},
            condition="attribute_not_exists(PK)" if head is None else "seq = :seq",
            values={} if head is None else {":seq": seq - 1},
            on_fail=_HeadMoved(),
        )
        try:
            db.transact([*ops, db.Put.new(item, on_fail=_HeadMoved()), head_op])  # a taken seq: the head moved
            return
        except db.Contended:
            time.sleep(min(0.005 * (attempt + 1), 0.05) * random.random())  # noqa: S311 - jitter
    raise Conflict("the audit log of this scope is busy; retry", headers={"Retry-After": "1"})
