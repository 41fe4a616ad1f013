"""DynamoDB's per-request atomicity, for moto.

Real DynamoDB applies each request atomically: a conditional write, an update expression or a
transaction is all-or-nothing against every concurrent request. moto evaluates a condition and
then writes, in Python, with no lock, so two threads can both pass `attribute_not_exists(PK)`.
Serving moto's DynamoDB requests one at a time (one process-wide lock around the request
dispatch) restores the guarantee. It serializes the emulator; it does not fake any behaviour.

moto 5.2 also backs up a whole table with `copy.deepcopy` once per *item* of a
TransactWriteItems, before writing anything (the copies are identical), stream shard included:
a 95-key change took seconds, every transaction cost O(table), and a test session grew past
18 GB (CI was OOM-killed). Here a transaction instead keeps copies of the items it touches and
the stream's length; if it is cancelled, those items are put back as they were and the stream is
truncated, so the table and its stream show committed writes only, as DynamoDB's do, at a cost
of O(items in the transaction).

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
    """Transactions back up only the items they touch (see the module docstring). Requests run
    one at a time (LOCK), so swapping the module's `copy` for the call is safe; only Table
    objects are treated apart, every other deepcopy is real."""
    import copy  # noqa: PLC0415
    from types import SimpleNamespace  # noqa: PLC0415

    from moto.core.model_instances import model_data  # noqa: PLC0415
    from moto.dynamodb import models  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    models_of_dynamodb: dict[str, Any] = model_data.get("dynamodb", {})
    for model in models_of_dynamodb.values():  # Item, Table, StreamRecord, indexes…
        model.instances_tracked = _Untracked()
    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, "copies_tables_once", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        # Keep a copy of just the items the transaction touches (not the table) and the stream's
        # length; moto's own backup becomes the table itself, so its "restore" changes nothing.
        saved, streams = _backup(self, transact_items)

        def deepcopy(obj: Any, memo: Any = None) -> Any:
            return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

        models.copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[attr-defined,assignment]
        try:
            original(self, transact_items)
        except BaseException:
            _restore(saved, streams)
            raise
        finally:
            models.copy = copy  # type: ignore[attr-defined]

    transact_write_items.copies_tables_once = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _key(table: Any, op: dict[str, Any]) -> tuple[Any, Any] | None:
    """(hash key, range key or None) of the item `op` names in `table`, or None without its hash key."""
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    attrs = op.get("Key") or op.get("Item") or {}
    if table.hash_key_attr not in attrs:
        return None
    range_attr = table.range_key_attr
    range_key = DynamoType(attrs[range_attr]) if range_attr and range_attr in attrs else None
    return DynamoType(attrs[table.hash_key_attr]), range_key


def _backup(
    backend: Any, transact_items: list[dict[str, Any]]
) -> tuple[list[tuple[Any, Any, Any, Any]], list[tuple[Any, int]]]:
    """(table, hash key, range key, a copy of the item or None) of each item the transaction
    touches, once; and (shard, length) of each touched table's stream."""
    import copy  # noqa: PLC0415

    saved: list[tuple[Any, Any, Any, Any]] = []
    seen: set[tuple[str, Any, Any]] = set()
    streams: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        op: dict[str, Any] = next(iter(entry.values()), {})
        table = backend.tables.get(op.get("TableName", ""))
        key = _key(table, op) if table is not None else None
        if table is None or key is None or (table.name, *key) in seen:
            continue
        seen.add((table.name, *key))
        try:
            current = table.get_item(*key)
        except Exception:  # noqa: BLE001 - moto validates the key later and refuses the request
            current = None
        saved.append((table, key[0], key[1], copy.deepcopy(current) if current is not None else None))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    return saved, list(streams.values())


def _restore(saved: list[tuple[Any, Any, Any, Any]], streams: list[tuple[Any, int]]) -> None:
    """Put the touched items back as they were and drop the stream records added since."""
    for table, hash_key, range_key, old in saved:
        if range_key is None:
            if old is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = old
        elif old is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = old
    for shard, length in streams:
        del shard.items[length:]


class _Untracked(list[Any]):
    """moto's instance registry for a model class, keeping nothing."""

    def append(self, _item: Any) -> None:
        return


def is_installed() -> bool:
    return _installed
