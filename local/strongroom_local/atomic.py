"""DynamoDB's per-request atomicity, for moto.

Real DynamoDB applies each request atomically: a conditional write, an update expression or a
transaction is all-or-nothing against every concurrent request. moto evaluates a condition and
then writes, in Python, with no lock, so two threads can both pass `attribute_not_exists(PK)`.
Serving moto's DynamoDB requests one at a time (one process-wide lock around the request
dispatch) restores the guarantee. It serializes the emulator; it does not fake any behaviour.
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
        _installed = True


def is_installed() -> bool:
    return _installed
