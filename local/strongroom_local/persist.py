"""The local stack's saved state: moto's backends in a data directory, kept across restarts and
`kill -9` (docs/decisions.md, "2026-12-02: the local stack keeps its data (#11)").

    data-dir/lock           flock'ed by the one server using the directory (its pid inside)
    data-dir/snapshot.pickle  every persisted moto backend + the provisioned Resources (atomic rename)
    data-dir/journal.log    records appended since the snapshot, fsync'ed before the call returns

Every AWS call that can change state (everything but Get/Describe/List/Query/Scan/Decrypt/...) runs
under one lock and appends one record before it returns to the handler, so before the handler can
answer: a DynamoDB item write records the *images* of the items it touched (O(items written),
whatever the table's size); any other mutating call records the pickled backend of its service
(KMS keys with their key material and policies, SQS queues with their messages, Secrets Manager),
skipped when the bytes equal the last record of that service (an empty ReceiveMessage poll). Records
are images, not operations: replaying one twice, or an old one before a newer one, ends in the same
state, so no randomness (KMS key material, ids) is replayed and a snapshot written while an old
journal is still there is safe. A torn last record (kill -9 mid-write) fails its length/CRC and is
cut off. On start: snapshot, then the journal, then a fresh snapshot and an empty journal;
the journal is compacted the same way when it passes COMPACT_BYTES.

DynamoDB stream records are not kept: the stream workers read the shard from its start, so kept
records would run the fan-out and purge steps again after every restart.
"""

from __future__ import annotations

import fcntl
import io
import os
import pickle
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SNAPSHOT = "snapshot.pickle"
JOURNAL = "journal.log"
LOCKFILE = "lock"
FORMAT = 1
COMPACT_BYTES = 32 * 1024 * 1024
# The services the local stack provisions; any other service a handler changes is added when it does.
SERVICES = ("dynamodb", "kms", "sqs", "secretsmanager")
_HEADER = struct.Struct(">II")  # payload length, CRC32 of the payload
_READ_ONLY = (
    "Get",
    "BatchGet",
    "TransactGet",
    "Describe",
    "List",
    "Query",
    "Scan",
    "Decrypt",
    "Encrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateRandom",
    "GenerateMac",
    "VerifyMac",
    "Sign",
    "Verify",
    "GetCallerIdentity",
)
_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class DataDirInUse(RuntimeError):
    """Another server holds the data directory's lock."""


class CorruptState(RuntimeError):
    """The snapshot cannot be read (not a torn journal tail, which is cut off)."""


def is_read_only(action: str) -> bool:
    return action.startswith(_READ_ONLY)


# --------------------------------------------------------------------------- pickling moto


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key  # noqa: PLC0415

    return load_der_private_key(der, password=None)


def _new_lock() -> Any:
    return threading.Lock()


def _new_rlock() -> Any:
    return threading.RLock()


_LOCK_TYPES = {type(threading.Lock()): _new_lock, type(threading.RLock()): _new_rlock}


class _Pickler(pickle.Pickler):
    """moto's KMS keys hold cryptography private keys (saved as DER) and SQS queues hold locks
    (saved as new, unlocked locks)."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _LOCK_TYPES:
            return _LOCK_TYPES[kind], ()
        if kind.__module__.startswith("cryptography.") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization as s  # noqa: PLC0415

            der = obj.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
            return _load_private_key, (der,)
        return NotImplemented


def dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def _backend_state(service: str) -> dict[str, dict[str, Any]]:
    """{account: {region: backend}} of the service's backends that exist."""
    from moto.backends import get_backend  # noqa: PLC0415

    backends = get_backend(service)  # type: ignore[call-overload]
    return {account: dict(regions) for account, regions in backends.items()}


def _install_backend_state(service: str, state: dict[str, dict[str, Any]]) -> None:
    from moto.backends import get_backend  # noqa: PLC0415

    backends = get_backend(service)  # type: ignore[call-overload]
    for account, regions in state.items():
        for region, backend in regions.items():
            backends[account][region] = backend
    if service == "dynamodb":
        _drop_streams(state)


def _drop_streams(state: dict[str, dict[str, Any]]) -> None:
    for regions in state.values():
        for backend in regions.values():
            for table in backend.tables.values():
                if table.stream_shard is not None:
                    table.stream_shard.items = []


# --------------------------------------------------------------------------- DynamoDB item images


def _table(account: str, region: str, name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    return dynamodb_backends[account][region].tables.get(name)


def _touched(body: dict[str, Any], action: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table name, Key or Item) of each item the call names."""
    if action in {"PutItem", "UpdateItem", "DeleteItem"}:
        yield str(body.get("TableName", "")), body.get("Key") or body.get("Item") or {}
    elif action == "BatchWriteItem":
        for name, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                op = request.get("PutRequest") or request.get("DeleteRequest") or {}
                yield name, op.get("Key") or op.get("Item") or {}
    else:  # TransactWriteItems
        for entry in body.get("TransactItems") or []:
            for kind, op in entry.items():
                if kind != "ConditionCheck":
                    yield str(op.get("TableName", "")), op.get("Key") or op.get("Item") or {}


def _images(account: str, region: str, body: dict[str, Any], action: str) -> list[tuple[str, Any, Any, Any]]:
    """(table, hash key, range key or None, the item now or None) of each item the call named."""
    from strongroom_local.atomic import _key  # noqa: PLC0415

    out: list[tuple[str, Any, Any, Any]] = []
    seen: set[tuple[str, Any, Any]] = set()
    for name, attrs in _touched(body, action):
        table = _table(account, region, name)
        key = _key(table, {"Key": attrs}) if table is not None else None
        if table is None or key is None or (name, *key) in seen:
            continue
        seen.add((name, *key))
        hash_key, range_key = key
        found = table.items.get(hash_key)
        item = found.get(range_key) if range_key is not None and found is not None else found
        out.append((name, hash_key, range_key, item))
    return out


def _apply_images(account: str, region: str, images: list[tuple[str, Any, Any, Any]]) -> None:
    for name, hash_key, range_key, item in images:
        table = _table(account, region, name)
        if table is None:
            continue
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items.setdefault(hash_key, {})[range_key] = item


# --------------------------------------------------------------------------- the store


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """One data directory, locked for this process; `attach` starts recording moto's changes."""

    def __init__(self, directory: Path, *, compact_bytes: int = COMPACT_BYTES) -> None:
        self.directory = Path(directory)
        self.compact_bytes = compact_bytes
        self.lock = threading.RLock()
        self.services: set[str] = set(SERVICES)
        self.resources: Any = None
        self._lock_fd: int | None = None
        self._journal: Any = None
        self._last: dict[str, bytes] = {}
        self.writes = 0

    # ------------------------------------------------------------------ lifecycle

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.directory} is in use by another strongroom_local (pid {holder}); "
                "stop it, or give this one another --data-dir (or --ephemeral)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def release(self) -> None:
        detach(self)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def has_state(self) -> bool:
        return (self.directory / SNAPSHOT).exists()

    def load(self) -> Any:
        """Install the saved backends on the active moto and return the saved Resources."""
        try:
            saved = pickle.loads((self.directory / SNAPSHOT).read_bytes())  # noqa: S301 - our own file
        except Exception as exc:
            raise CorruptState(f"cannot read {self.directory / SNAPSHOT}: {exc}") from exc
        if saved.get("format") != FORMAT:
            raise CorruptState(f"{self.directory / SNAPSHOT} is of another format; delete the directory to reset")
        self.services = set(saved["services"])
        for service, state in saved["backends"].items():
            _install_backend_state(service, state)
        self.resources = saved["resources"]
        self._replay()
        return self.resources

    def _replay(self) -> None:
        path = self.directory / JOURNAL
        if not path.exists():
            return
        data = path.read_bytes()
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                break  # a torn tail: the call it records never returned
            self._apply(pickle.loads(payload))  # noqa: S301 - our own file
            offset += _HEADER.size + length
        if offset != len(data):
            with path.open("r+b") as f:
                f.truncate(offset)

    def _apply(self, record: tuple[Any, ...]) -> None:
        if record[0] == "items":
            _, account, region, images = record
            _apply_images(account, region, images)
        else:
            _, service, state = record
            self.services.add(service)
            _install_backend_state(service, state)

    def snapshot(self, resources: Any = None) -> None:
        """Every persisted backend in one file (temp + fsync + rename), then an empty journal."""
        with self.lock:
            if resources is not None:
                self.resources = resources
            state = {
                "format": FORMAT,
                "services": sorted(self.services),
                "backends": {service: _backend_state(service) for service in sorted(self.services)},
                "resources": self.resources,
            }
            blob = dumps(state)
            tmp = self.directory / f"{SNAPSHOT}.tmp"
            with tmp.open("wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / SNAPSHOT)
            _fsync_dir(self.directory)
            # The old journal's records are images older than the snapshot: replaying them on it
            # (a crash before this truncation) ends in the same state.
            if self._journal is not None:
                self._journal.close()
            self._journal = (self.directory / JOURNAL).open("wb")
            os.fsync(self._journal.fileno())
            _fsync_dir(self.directory)
            self._last.clear()

    # ------------------------------------------------------------------ recording

    def record(self, service: str, action: str, account: str, region: str, body: Any) -> None:
        """Called under self.lock right after a mutating call, before it returns."""
        if service == "dynamodb" and action in _ITEM_WRITES:
            images = _images(account, region, body if isinstance(body, dict) else {}, action)
            if not images:
                return
            self._append(dumps(("items", account, region, images)))
            return
        self.services.add(service)
        payload = dumps(("backend", service, _backend_state(service)))
        if self._last.get(service) == payload:
            return
        self._last[service] = payload
        self._append(payload)

    def _append(self, payload: bytes) -> None:
        if self._journal is None:
            raise RuntimeError("the store has no journal open (snapshot() first)")
        self._journal.write(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self.writes += 1
        if self._journal.tell() > self.compact_bytes:
            self.snapshot()


# --------------------------------------------------------------------------- the moto hook

_active: Store | None = None
_depth = threading.local()
_hook_lock = threading.Lock()
_hooked: list[tuple[type, Any]] = []


def attach(store: Store) -> None:
    """Record every mutating moto call into `store` from now on."""
    global _active  # noqa: PLW0603 - one stack per process
    with _hook_lock:
        _active = store
        if _hooked:
            return
        from moto.core.responses import BaseResponse  # noqa: PLC0415
        from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

        # DynamoHandler's own call_action (atomic.py's lock) wraps BaseResponse's: both are
        # wrapped, the outer one records, whichever was installed first.
        for cls in (BaseResponse, DynamoHandler):
            original = cls.__dict__.get("call_action")
            if original is None:
                continue
            cls.call_action = _recording(original)  # type: ignore[method-assign]
            _hooked.append((cls, original))


def detach(store: Store) -> None:
    global _active  # noqa: PLW0603
    with _hook_lock:
        if _active is store:
            _active = None


def _recording(original: Any) -> Any:
    def call_action(self: Any) -> Any:
        store = _active
        if store is None or getattr(_depth, "inside", False):
            return original(self)
        action = self._get_action()
        if is_read_only(action):
            return original(self)
        with store.lock:
            _depth.inside = True
            try:
                result = original(self)
            finally:
                _depth.inside = False
            # Failed calls too: an image of an unchanged item, or an unchanged backend (skipped), is harmless.
            store.record(str(self.service_name), action, self.current_account, self.region, _json(self))
        return result

    call_action.__wrapped__ = original  # type: ignore[attr-defined]
    return call_action


def _json(response: Any) -> Any:
    import json  # noqa: PLC0415

    if response.service_name != "dynamodb":
        return None
    body = response.body  # DynamoHandler's body is the parsed request
    if isinstance(body, dict):
        return body
    try:
        return json.loads(body or "{}")
    except (TypeError, ValueError):
        return None
