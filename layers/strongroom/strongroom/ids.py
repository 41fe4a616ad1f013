"""Prefixed, time-sortable identifiers (ULID layout: 48-bit ms time + 80 random bits)."""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case

PREFIXES = (
    *("org", "prj", "env", "usr", "inv", "tok", "pat", "whk", "evt", "dlv"),
    *("rol", "req", "chg", "ses", "idn", "grt", "sct"),
    *("pol", "chr"),  # governance: approval policies, change requests (access requests are req_)
    *("agt", "job", "wrp", "dsc"),  # agents, their jobs, sealed wraps, discovered secrets
    *("fld",),  # folders inside environments
    "shr",  # an org's shared secrets (domain/shared_scope.py): derived from the org's ID, never minted
    "int",  # integrations (syncs to AWS Secrets Manager, SSM, GitHub Actions)
)
ID_RE = re.compile(r"^(?P<prefix>[a-z]{3})_[0-9a-hjkmnp-tv-z]{26}$")


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_encode(ms, 10)}{_encode(secrets.randbits(80), 16)}"


def is_id(value: str, prefix: str) -> bool:
    match = ID_RE.match(value)
    return bool(match and match.group("prefix") == prefix)


def derived_id(prefix: str, digest: bytes) -> str:
    """An ID of the usual shape made from a digest (the same thing always gets the same ID): a
    discovered secret's, from its org, cluster, provider and ref."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{_encode(int.from_bytes(digest[:17]), 26)}"
