"""Strongroom's Python SDK: an environment's secrets for a service token or a machine identity.

The names below load `strongroom_sdk.client` when first used (PEP 562), so that importing only
the wire code (`from strongroom_sdk import wire`, as the CLI's `run` does on its fast path) does
not pay for the client's imports (json, re, enum, pathlib, threading, …)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs `run` 2 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from strongroom_sdk.client import (
        Client,
        Forbidden,
        Identity,
        NotFound,
        StrongroomError,
        Unauthorized,
        Unavailable,
    )

__all__ = ["Client", "Forbidden", "Identity", "NotFound", "StrongroomError", "Unauthorized", "Unavailable"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name in __all__:
        from strongroom_sdk import client  # noqa: PLC0415 - loaded on first use

        return getattr(client, name)
    raise AttributeError(f"module 'strongroom_sdk' has no attribute {name!r}")
