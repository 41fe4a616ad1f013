"""An independent reference of RFC 9162 section 2.1, written from the RFC's text and nothing else
(it imports no Strongroom code), to check `strongroom.domain.merkle` and the CLI against.

Trees are lists of leaf *data* (byte strings); MTH, PATH and PROOF follow the recursive
definitions of 2.1.1, 2.1.3.1 and 2.1.4.1 literally (slow, and clear); the verifiers follow the
numbered steps of 2.1.3.2 and 2.1.4.2. Hashes are bytes.
"""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# --------------------------------------------------------------------------- 2.1.1 MTH


def mth(entries: list[bytes]) -> bytes:
    """MTH({}) = SHA-256(); MTH({d(0)}) = SHA-256(0x00 || d(0));
    MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + entries[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


# --------------------------------------------------------------------------- 2.1.3.1 PATH


def path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, {d(0)}) = {}; for n > 1, m < k: PATH(m, D[0:k]) : MTH(D[k:n]);
    m >= k: PATH(m - k, D[k:n]) : MTH(D[0:k])."""
    n = len(entries)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


# --------------------------------------------------------------------------- 2.1.4.1 PROOF


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return _subproof(m, entries, b=True)


def _subproof(m: int, entries: list[bytes], *, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}; for m < n:
    m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]); m > k: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])."""
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, entries[:k], b=b), mth(entries[k:])]
    return [*_subproof(m - k, entries[k:], b=False), mth(entries[:k])]


# --------------------------------------------------------------------------- 2.1.3.2 verify inclusion


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, inclusion_path: list[bytes], root: bytes) -> bool:
    """`leaf` is the leaf's hash, SHA-256(0x00 || d)."""
    if leaf_index >= tree_size:  # 1
        return False
    fn, sn = leaf_index, tree_size - 1  # 2
    r = leaf  # 3
    for p in inclusion_path:  # 4
        if sn == 0:  # 4a
            return False
        if fn & 1 or fn == sn:  # 4b
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1  # 4c
        sn >>= 1
    return sn == 0 and r == root  # 5


# --------------------------------------------------------------------------- 2.1.4.2 verify consistency


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency: list[bytes]
) -> bool:
    """Verify PROOF(first, D[second]) between the two roots (for 0 < first < second: the RFC's
    algorithm has no case for an empty proof)."""
    if not consistency:  # 1
        return False
    consistency = list(consistency)
    if first & (first - 1) == 0:  # 2: first is an exact power of 2
        consistency.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # 3
    while fn & 1:  # 4
        fn >>= 1
        sn >>= 1
    fr = sr = consistency[0]  # 5
    for c in consistency[1:]:  # 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0  # 7
