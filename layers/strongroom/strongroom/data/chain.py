"""The audited write path: every mutation's ops and exactly one audit event, written atomically in
one TransactWriteItems (a mutation without ops, e.g. an audited read, is one PutItem). The event
is its own item, created once: no item every writer of a scope contends for. The sealer orders
events into the scope's Merkle tree afterwards (domain/sealer.py). The one interface mutations
use: `transact(ops, audit=event)`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from strongroom.data import db
from strongroom.domain.audit import AuditEvent
from strongroom.observability import metrics

ATTEMPTS = 4  # a concurrent transaction on one of the change's own items (TransactionConflict)


def transact(ops: Sequence[db.Op], *, audit: AuditEvent) -> None:
    """Write `ops` and `audit` atomically. A failed condition of `ops` raises that op's `on_fail`;
    a transaction cancelled by a concurrent one on the same items is retried a few times."""
    event = db.Put.new(audit.to_item())
    for attempt in range(ATTEMPTS):
        try:
            if ops:
                db.transact([*ops, event])
            else:
                db.put_plain(event.item, condition="attribute_not_exists(PK)")
        except db.Contended:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(min(0.005 * (attempt + 1), 0.05) * random.random())  # noqa: S311 - jitter
            continue
        # One CloudWatch metric (EMF, flushed with the request's) per business event, named by
        # the event's action: every mutation writes exactly one audit event, here.
        metrics.add_metric(name=metric_name(audit.action), unit="Count", value=1)
        return


def metric_name(action: str) -> str:
    """`secret.created` → `SecretCreated`, `user.2fa_enabled` → `User2faEnabled`."""
    return "".join(part[:1].upper() + part[1:] for part in action.replace("_", ".").split(".") if part)
