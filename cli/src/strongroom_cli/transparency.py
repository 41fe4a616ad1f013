"""Local verification of an org's audit log (`strongroom audit verify`), trusting only the org's
public key: the server's answers are checked, never believed.

The log is an RFC 9162 Merkle tree: leaf = SHA-256(0x00 || JCS(event)) (JCS is RFC 8785),
node = SHA-256(0x01 || left || right), the empty tree's root SHA-256(""). The server signs tree
heads `{org_id, tree_size, root_hash, timestamp}` (ECDSA P-256 / SHA-256, base64 DER, over their
JCS). Hashes travel as lower-case hex. This module is standalone: the CLI does not import the
server's layer, so the math here is written again from the RFC (sections 2.1.3.2 and 2.1.4.2 for
the verifiers) and tested against an independent reference.

`verify(log, ...)` does the whole check against a `Log` (the routes, or anything answering like
them): the head's signature, every leaf (or one event's inclusion proof), and the consistency of
the head with the one remembered from an earlier run. What a run trusts from the last one (the
org's key, first seen; the last verified head) lives in `trust.json` in the CLI's config folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any, Protocol

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from strongroom_cli.config import ConfigError, config_dir, write_private

EMPTY_ROOT = hashlib.sha256(b"").digest()
HEAD_FIELDS = ("org_id", "tree_size", "root_hash", "timestamp")  # what the signature covers
PAGE = 1000  # leaves per request (the route's maximum)


class Malformed(Exception):
    """An answer that is not of the documented shape."""


# --------------------------------------------------------------------------- hashing


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON."""
    return rfc8785.dumps(value)


def leaf_hash(event: dict[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + jcs(event)).digest()


def event_hash(event: dict[str, Any]) -> bytes | None:
    """The leaf hash of a served event, or None when it has no JCS form (a number out of range)."""
    try:
        return leaf_hash(event)
    except rfc8785.CanonicalizationError:
        return None


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The root of leaves appended one by one, in O(log n) memory: the complete subtrees so far
    (largest first) are folded right to left, which is the RFC's MTH."""

    def __init__(self) -> None:
        self._peaks: list[tuple[int, bytes]] = []  # (leaf count, hash)
        self.size = 0

    def append(self, leaf: bytes) -> None:
        self._peaks.append((1, leaf))
        self.size += 1
        while len(self._peaks) > 1 and self._peaks[-2][0] == self._peaks[-1][0]:
            (count, left), (_, right) = self._peaks[-2], self._peaks[-1]
            self._peaks[-2:] = [(2 * count, node_hash(left, right))]

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        digest = self._peaks[-1][1]
        for _, left in reversed(self._peaks[:-1]):
            digest = node_hash(left, digest)
        return digest


def root_of(leaves: list[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    tree = Tree()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


# --------------------------------------------------------------------------- RFC 9162 verifiers


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until LSB(fn) is set or fn is 0."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: `leaf` (a leaf hash) is leaf number `index` of the tree of `size` whose
    root is `root`."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2: the tree of `first` leaves is a prefix of the tree of `second`. Also the
    cases the RFC's algorithm leaves to its caller: an empty first tree is a prefix of any tree,
    and a tree is consistent with itself when the roots are equal (both with an empty proof)."""
    if first == 0:
        return second >= 0 and not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs make up PATH(index, D[size]), nearest sibling first."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        ranges.append((mid, hi) if index < mid else (lo, mid))
        lo, hi = (lo, mid) if index < mid else (mid, hi)
    return ranges[::-1]


# --------------------------------------------------------------------------- signed tree heads


def from_hex(value: Any) -> bytes:
    """A lower-case hex SHA-256 from an answer (else Malformed)."""
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise Malformed("a hash is not 64 lower-case hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Malformed("a hash is not 64 lower-case hex digits") from None


def hexes(values: Any) -> list[bytes]:
    if not isinstance(values, list):
        raise Malformed("a proof is not a list of hashes")
    return [from_hex(v) for v in values]


def check_head(head: Any) -> dict[str, Any]:
    """The tree head, if it has the documented shape (else Malformed)."""
    if not isinstance(head, dict):
        raise Malformed("the tree head is not an object")
    size = head.get("tree_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise Malformed("the tree head's tree_size is not a count")
    from_hex(head.get("root_hash"))
    for name in ("org_id", "timestamp", "signature", "key_id"):
        if not isinstance(head.get(name), str):
            raise Malformed(f"the tree head's {name} is not a string")
    return head


def signed_bytes(head: dict[str, Any]) -> bytes:
    """What the head's signature covers: the JCS of its four signed fields."""
    return jcs({name: head[name] for name in HEAD_FIELDS})


def public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The org's P-256 public key from PEM text (else Malformed)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        raise Malformed("the public key is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise Malformed("the public key is not an ECDSA P-256 key")
    return key


def same_key(a: str, b: str) -> bool:
    """Whether two PEM texts hold the same public key (however they are wrapped)."""
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public_key(a).public_bytes(*der) == public_key(b).public_bytes(*der)


def verify_head(head: dict[str, Any], pem: str) -> bool:
    """The head's signature verifies with this key."""
    try:
        signature = base64.b64decode(head["signature"], validate=True)
        public_key(pem).verify(signature, signed_bytes(head), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- the log


class Log(Protocol):
    """The audit routes of one org, as parsed JSON (or PEM text)."""

    def head(self) -> Any: ...
    def public_key(self) -> Any: ...
    def leaves(self, start: int, limit: int) -> Any: ...
    def event(self, event_id: str) -> Any: ...
    def proof(self, event_id: str, tree_size: int) -> Any: ...
    def consistency(self, first: int, second: int) -> Any: ...


class Verdict:
    """What `verify` found: the output fields, and what the next run may trust."""

    def __init__(self, head: dict[str, Any] | None, *, checked: int = 0, reason: str | None = None) -> None:
        self.head = head
        self.checked = checked
        self.reason = reason

    @property
    def ok(self) -> bool:
        return self.reason is None

    def output(self) -> dict[str, Any]:
        head = self.head or {}
        return {
            "ok": self.ok,
            "tree_size": head.get("tree_size"),
            "root_hash": head.get("root_hash"),
            "checked": self.checked,
            "key_id": head.get("key_id"),
            "reason": self.reason,
        }


class Leaves:
    """The served leaves, hashed in order: the hashes, the event IDs, and where (if anywhere)
    the served sequence stopped being leaf 0, 1, 2, … of the signed tree."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.ids: list[str] = []
        self.broken: int | None = None  # the first index that is missing or out of sequence

    def read(self, log: Log, size: int) -> None:
        while len(self.hashes) < size and self.broken is None:
            start = len(self.hashes)
            page = log.leaves(start, min(PAGE, size - start))
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list) or not data:
                self.broken = start
                return
            for item in data[: size - start]:
                if not self._take(item):
                    self.broken = len(self.hashes)
                    return

    def _take(self, item: Any) -> bool:
        if not isinstance(item, dict) or item.get("leaf_index") != len(self.hashes):
            return False
        event = item.get("event")
        if not isinstance(event, dict):
            return False
        digest = event_hash(event)
        if digest is None:
            return False
        self.hashes.append(digest)
        self.ids.append(str(event.get("id", "")))
        return True

    def mth(self, start: int, end: int) -> bytes | None:
        return root_of(self.hashes[start:end]) if end <= len(self.hashes) else None


def served_path(log: Log, event_id: str, index: int, size: int) -> list[bytes] | None:
    """The served audit path of leaf `index` at `size`, when the answer is about that leaf."""
    try:
        answer = log.proof(event_id, size)
        if answer.get("leaf_index") != index or answer.get("tree_size") != size:
            return None
        return hexes(answer.get("audit_path"))
    except (Malformed, AttributeError):
        return None


PathOf = Callable[[int], list[bytes] | None]


def _proven(leaves: Leaves, at: int, size: int, root: bytes, path_of: PathOf) -> list[bytes] | None:
    """The served audit path of leaf `at` if it verifies with our hash of that leaf, else None."""
    if at >= len(leaves.hashes):
        return None
    path = path_of(at)
    return path if path is not None and verify_inclusion(at, size, leaves.hashes[at], path, root) else None


def _anchor(leaves: Leaves, size: int, root: bytes, path_of: PathOf) -> tuple[int, list[bytes]] | None:
    """A leaf whose served path verifies (the last one we have, else leaf 0): it ties the signed
    root to our leaves. None when neither does, which a wrong root explains as well as wrong leaves."""
    for at in dict.fromkeys((len(leaves.hashes) - 1, 0)):
        path = _proven(leaves, at, size, root, path_of)
        if path is not None:
            return at, path
    return None


def first_wrong_leaf(leaves: Leaves, size: int, root: bytes, path_of: PathOf) -> int | None:
    """The first leaf that cannot be proven to be the signed tree's, found by descent in O(log n)
    proofs. A served audit path that verifies with our hash of its leaf proves that leaf and each
    sibling hash on it, so every leaf left of the leftmost sibling whose hash differs from ours is
    proven, and the first wrong leaf is in that sibling: probe its first leaf, and so on. The
    first leaf whose path does not verify (or is not served) is the answer. None when no leaf
    can be blamed (no path verifies at all: the signed root itself may be the wrong part)."""
    anchor = _anchor(leaves, size, root, path_of)
    if anchor is None:
        return None
    at, path, floor = *anchor, -1
    while True:
        ranges = zip(inclusion_ranges(at, size), path, strict=True)
        wrong = [start for (start, end), p in ranges if leaves.mth(start, end) != p]
        if not wrong or min(wrong) <= floor:
            return None  # a verified path that agrees with our leaves: nothing to blame
        at = floor = min(wrong)
        proven = _proven(leaves, at, size, root, path_of)
        if proven is None:
            return at
        path = proven


def _check_leaves(log: Log, head: dict[str, Any]) -> Verdict:
    size, root = head["tree_size"], from_hex(head["root_hash"])
    leaves = Leaves()
    leaves.read(log, size)
    if leaves.broken is None and root_of(leaves.hashes) == root:
        return Verdict(head, checked=size)
    wrong = first_wrong_leaf(leaves, size, root, lambda i: served_path(log, leaves.ids[i], i, size))
    if wrong is None or (leaves.broken is not None and leaves.broken < wrong):
        wrong = leaves.broken
    if wrong is None:
        return Verdict(head, checked=len(leaves.hashes), reason="root: the leaves do not hash to the signed root")
    return Verdict(head, checked=wrong, reason=f"leaf {wrong}: not the leaf the signed tree holds")


def _check_event(log: Log, head: dict[str, Any], event_id: str, answer: Any) -> Verdict:
    """One event's inclusion proof against the head (`answer` is its `{event, leaf_index}`)."""
    event = answer.get("event") if isinstance(answer, dict) else None
    index = answer.get("leaf_index") if isinstance(answer, dict) else None
    if not isinstance(event, dict) or event.get("id") != event_id:
        return Verdict(head, reason=f"inclusion: the server did not answer with event {event_id}")
    if not isinstance(index, int) or not 0 <= index < head["tree_size"]:
        return Verdict(head, reason="inclusion: the event is not sealed into the signed tree yet")
    path = served_path(log, event_id, index, head["tree_size"])
    if path is None or not verify_inclusion(
        index, head["tree_size"], leaf_hash(event), path, from_hex(head["root_hash"])
    ):
        return Verdict(head, checked=1, reason=f"inclusion: event {event_id} is not leaf {index} of the signed tree")
    return Verdict(head, checked=1)


def _consistent(log: Log, old: dict[str, Any], new: dict[str, Any]) -> bool:
    first, second = old["tree_size"], new["tree_size"]
    if first > second:
        return False
    try:
        proof = hexes(log.consistency(first, second).get("proof")) if 0 < first < second else []
    except (Malformed, AttributeError):
        return False
    return verify_consistency(first, second, from_hex(old["root_hash"]), from_hex(new["root_hash"]), proof)


def _key(log: Log, pinned: str | None, remembered: str | None) -> tuple[str, str | None]:
    """The key to verify with, and why it cannot be used (None when it can)."""
    if pinned is not None:
        return pinned, None
    served = log.public_key()
    if not isinstance(served, str):
        raise Malformed("the public key is not PEM text")
    public_key(served)
    if remembered is not None and not same_key(served, remembered):
        return served, "public key: the org's key is not the one this CLI saw first (pass --public-key to choose)"
    return served, None


def verify(
    log: Log,
    *,
    pinned_key: str | None = None,
    remembered_key: str | None = None,
    remembered_head: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> tuple[Verdict, str | None]:
    """Check the log; returns the verdict and the key it verified with (to remember when ok)."""
    try:
        answer = log.event(event_id) if event_id is not None else None  # before the head: sealed first
        head = check_head(log.head())
        pem, refused = _key(log, pinned_key, remembered_key)
    except Malformed as exc:
        return Verdict(None, reason=f"answer: {exc}"), None
    if refused:
        return Verdict(head, reason=refused), None
    if not verify_head(head, pem):
        return Verdict(head, reason="signature: the tree head is not signed by the org's key"), None
    if remembered_head is not None and remembered_head.get("org_id") != head["org_id"]:
        return Verdict(head, reason="org: the tree head is of another org than the one remembered"), None
    verdict = _check_leaves(log, head) if event_id is None else _check_event(log, head, event_id, answer)
    if verdict.ok and remembered_head is not None and not _consistent(log, remembered_head, head):
        verdict.reason = (
            f"consistency: the log of {head['tree_size']} leaves does not extend the one of "
            f"{remembered_head['tree_size']} leaves verified before"
        )
    return verdict, pem


# --------------------------------------------------------------------------- what a run remembers


def _trust_file() -> str:
    return os.path.join(config_dir(), "trust.json")


def _trust_all() -> dict[str, Any]:
    try:
        with open(_trust_file(), encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # never start trusting afresh because the file broke
        raise ConfigError(f"{_trust_file()} is unreadable ({exc}): fix or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{_trust_file()} is not a JSON object: fix or remove it")
    return data


def _entry_name(api_url: str, org: str) -> str:
    return f"{api_url} {org}"


def remembered(api_url: str, org: str) -> dict[str, Any]:
    """`{public_key, head}` remembered for this org on this API ({} the first time)."""
    entry = _trust_all().get(_entry_name(api_url, org))
    return entry if isinstance(entry, dict) else {}


def remember(api_url: str, org: str, *, key: str | None, head: dict[str, Any]) -> None:
    """Keep the first key seen (never replaced) and the last verified head."""
    data = _trust_all()
    entry = data.get(_entry_name(api_url, org))
    entry = dict(entry) if isinstance(entry, dict) else {}
    if key is not None and "public_key" not in entry:
        entry["public_key"] = key
    entry["head"] = {name: head[name] for name in (*HEAD_FIELDS, "signature", "key_id")}
    data[_entry_name(api_url, org)] = entry
    write_private(_trust_file(), json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
