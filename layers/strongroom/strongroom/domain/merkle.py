"""Merkle-tree math of the org audit log, RFC 9162 section 2.1 (pure: no I/O, no store).

Hashing: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), the empty tree's
root = SHA-256("").

Storage keeps complete subtrees only: a Position `(level, index)` is the perfect subtree of the
leaves [index * 2**level, (index + 1) * 2**level), and its stored hash is that subtree's MTH.
Such a node never changes once its last leaf is appended, so appending writes each node once
(`append`). Every range the RFC's recursive definitions split a tree into (roots, audit paths,
consistency proofs) starts at a multiple of the largest power of two not above its length, so it
is a short run of complete nodes (`range_nodes`) whose hashes fold, right to left, into its MTH
(`range_hash`). A reader asks `needed(ranges)` for every node of a proof at once, fetches them in
one batch, then calls `inclusion_proof` / `consistency_proof` with a `get` over what it fetched.

Input that cannot name a range of the tree (a negative size, an index past the end, a range the
RFC never produces) raises ValueError; callers validate what clients send before they get here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

Position = tuple[int, int]
Get = Callable[[Position], bytes]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """k of the RFC: the largest power of two smaller than `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Position]:
    """The complete nodes, left to right, whose hashes give MTH(D[start:end]).

    The range must be one the RFC's recursive definitions produce: non-empty, and `start` a
    multiple of the largest power of two <= end - start (else ValueError)."""
    length = end - start
    if start < 0 or length < 1:
        raise ValueError(f"not a range of leaves: [{start}, {end})")
    top = length.bit_length() - 1
    if start % (1 << top):
        raise ValueError(f"[{start}, {end}) is not a subtree range of RFC 9162")
    nodes: list[Position] = []
    at = start
    for level in range(top, -1, -1):
        if length >> level & 1:
            nodes.append((level, at >> level))
            at += 1 << level
    return nodes


def peaks(size: int) -> list[Position]:
    """The complete subtrees of a tree of `size` leaves, left to right (one per bit of size)."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return range_nodes(0, size) if size else []


def append(size: int, leaf: bytes, get: Get) -> list[tuple[Position, bytes]]:
    """The complete nodes made by appending `leaf` (already leaf-hashed) as leaf number `size`:
    the leaf's own node first, then each merge upward. `get` is asked only for the left
    siblings of those merges, which are peaks of the tree of `size` leaves."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    created: list[tuple[Position, bytes]] = [((0, size), leaf)]
    level, index, digest = 0, size, leaf
    while index & 1:
        digest = node_hash(get((level, index - 1)), digest)
        level, index = level + 1, index >> 1
        created.append(((level, index), digest))
    return created


def range_hash(start: int, end: int, get: Get) -> bytes:
    """MTH(D[start:end]), folding its complete nodes right to left as the RFC's k-split does."""
    nodes = range_nodes(start, end)
    digest = get(nodes[-1])
    for position in reversed(nodes[:-1]):
        digest = node_hash(get(position), digest)
    return digest


def root(size: int, get: Get) -> bytes:
    """MTH of the first `size` leaves (the empty tree's hash for 0)."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return range_hash(0, size, get) if size else EMPTY_ROOT


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs, in order, are PATH(index, D[size]) (RFC 9162 2.1.3.1):
    the sibling nearest the leaf first, the top-level sibling last."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    siblings: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append((mid, hi))
            hi = mid
        else:
            siblings.append((lo, mid))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs, in order, are PROOF(first, D[second]) (RFC 9162 2.1.4.1);
    empty when first == second or first == 0."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in {0, second}:
        return []
    parts: list[tuple[int, int]] = []
    lo, hi, whole = 0, second, True  # SUBPROOF(first - lo, D[lo:hi], whole)
    while first - lo != hi - lo:
        mid = lo + _split(hi - lo)
        if first <= mid:
            parts.append((mid, hi))
            hi = mid
        else:
            parts.append((lo, mid))
            lo, whole = mid, False
    if not whole:
        parts.append((lo, hi))
    parts.reverse()
    return parts


def needed(ranges: Iterable[tuple[int, int]]) -> set[Position]:
    """Every stored node the MTHs of `ranges` read (to fetch them in one batch)."""
    return {position for start, end in ranges for position in range_nodes(start, end)}


def inclusion_proof(index: int, size: int, get: Get) -> list[bytes]:
    """PATH(index, D[size]) from the stored nodes."""
    return [range_hash(start, end, get) for start, end in inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, get: Get) -> list[bytes]:
    """PROOF(first, D[second]) from the stored nodes."""
    return [range_hash(start, end, get) for start, end in consistency_ranges(first, second)]
