"""DynamoDB's per-request atomicity, for moto.

Real DynamoDB applies each request atomically: a conditional write, an update expression or a
transaction is all-or-nothing against every concurrent request. moto evaluates a condition and
then writes, in Python, with no lock, so two threads can both pass `attribute_not_exists(PK)`.
Serving moto's DynamoDB requests one at a time (one process-wide lock around the request
dispatch) restores the guarantee. It serializes the emulator; it does not fake any behaviour.

moto 5.2 also backs up a whole table with `copy.deepcopy` once per *item* of a
TransactWriteItems, before writing anything, so the copies are identical, and each copy includes
the table's stream shard, every stream record since the table was created. A 95-key change took
seconds, and a test session grew past 18 GB (CI was OOM-killed). `copy_tables_once` makes one
copy per table per transaction and leaves the stream shard out of it: the shard is shared with
the copy, and a cancelled transaction truncates the records its applied items had added, so
the stream carries committed writes only, as DynamoDB's does.

And moto's BaseModel appends every instance it ever creates to a class-level list
(`instances_tracked`, for resetting a mock between tests), deep copies included, so every
backup stayed alive (213 table copies after 230 transactions; 5.8 GB after 800 writes). A
long-running local stack never resets, so DynamoDB's models (items, tables, streams, indexes)
are not tracked here.
"""

from __future__ import annotations

import threading
from typing import Any

LOCK = threading.RLock()
_installed = False
_install_lock = threading.Lock()


def make_dynamodb_atomic() -> None:
    """Wrap moto's DynamoDB request dispatch in the process-wide lock (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415 - moto loads lazily

        original = DynamoHandler.call_action

        def call_action(self: Any) -> Any:
            # LOCK is looked up at call time, so that a test can swap it to show what it prevents.
            with LOCK:
                return original(self)

        call_action.__wrapped__ = original  # type: ignore[attr-defined]
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        copy_tables_once()
        _installed = True


def copy_tables_once() -> None:
    """One rollback copy per table per TransactWriteItems, without its stream (see the module
    docstring). Requests run one at a time (LOCK), so swapping the module's `copy` for the call
    is safe; only Table objects are treated apart, every other deepcopy is real."""
    import copy  # noqa: PLC0415
    from types import SimpleNamespace  # noqa: PLC0415

    from moto.core.model_instances import model_data  # noqa: PLC0415
    from moto.dynamodb import models  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    for model in model_data.get("dynamodb", {}).values():  # Item, Table, StreamRecord, indexes…
        model.instances_tracked = _Untracked()
    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, "copies_tables_once", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        copies: dict[int, Any] = {}
        streams: list[tuple[Any, int]] = []  # (shard, its length before the transaction)

        def deepcopy(obj: Any, memo: Any = None) -> Any:
            if not isinstance(obj, Table):
                return copy.deepcopy(obj, memo)
            if id(obj) not in copies:
                shard = obj.stream_shard
                obj.stream_shard = None
                try:
                    backup = copy.deepcopy(obj, memo)
                finally:
                    obj.stream_shard = shard
                backup.stream_shard = shard
                if shard is not None:
                    streams.append((shard, len(shard.items)))
                copies[id(obj)] = backup
            return copies[id(obj)]

        models.copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except BaseException:
            for shard, length in streams:
                del shard.items[length:]
                shard.table = self.tables.get(shard.table.name, shard.table)
            raise
        finally:
            models.copy = copy  # type: ignore[attr-defined]

    transact_write_items.copies_tables_once = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _Untracked(list[Any]):
    """moto's instance registry for a model class, keeping nothing."""

    def append(self, _item: Any) -> None:
        return


def is_installed() -> bool:
    return _installed
