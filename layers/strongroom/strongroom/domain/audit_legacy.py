"""The hash chain the audit log was before the Merkle log (#11), kept only to check it once, while
the sealer migrates a scope's chained events into the first leaves of its tree (domain/sealer.py).

Each chained event carried `seq` (1, 2, …, gapless), `prev_hash` and `hash` = SHA-256(previous
hash + "\\n" + its canonical JSON): sorted keys, no whitespace, ASCII, of CHAINED_FIELDS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from strongroom.domain.audit import EVENT_FIELDS

GENESIS = "0" * 64
CHAINED_FIELDS = (*EVENT_FIELDS, "seq", "prev_hash")  # canonical() sorts keys: the order is not hashed


def canonical(body: dict[str, Any]) -> bytes:
    fields = {k: body[k] for k in CHAINED_FIELDS if k in body and body[k] is not None}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(body)).hexdigest()


def follows(item: dict[str, Any], seq: int, prev_hash: str) -> bool:
    """Whether the chained event `item` is number `seq` after `prev_hash`, unaltered."""
    return (
        int(item.get("seq", 0)) == seq
        and item.get("prev_hash") == prev_hash
        and item.get("hash") == chain_hash(prev_hash, item)
    )
