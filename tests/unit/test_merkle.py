"""strongroom.domain.merkle against the independent RFC 9162 reference in tests/unit/rfc9162.py:
for every tree of 1-40 leaves, every index and every (first, second) pair, the module's roots and
proofs (from nodes that `append` stored in a dict) are the reference's and verify with the
reference's verifiers; altered proofs, wrong roots and wrong indexes do not. The reference is
itself checked against values worked out by hand and published test vectors, so it can fail too."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.domain import merkle
from unit import rfc9162

SIZES = range(1, 41)


def _data(n: int) -> list[bytes]:
    return [f"event {i}".encode() for i in range(n)]


class Store:
    """The nodes `append` created, in a dict, and which ones each read asked for."""

    def __init__(self) -> None:
        self.nodes: dict[merkle.Position, bytes] = {}
        self.asked: list[merkle.Position] = []
        self.size = 0

    def get(self, position: merkle.Position) -> bytes:
        self.asked.append(position)
        return self.nodes[position]

    def extend(self, entries: list[bytes]) -> None:
        for data in entries:
            for position, digest in merkle.append(self.size, merkle.leaf_hash(data), self.get):
                assert position not in self.nodes  # a complete node is written once
                self.nodes[position] = digest
            self.size += 1


def _tree(n: int) -> tuple[list[bytes], Store]:
    entries = _data(n)
    store = Store()
    store.extend(entries)
    return entries, store


TREES = {n: _tree(n) for n in (0, *SIZES)}


def _flip(proof: list[bytes], at: int) -> list[bytes]:
    changed = list(proof)
    changed[at] = bytes([changed[at][0] ^ 1]) + changed[at][1:]
    return changed


# --------------------------------------------------------------------------- the reference itself


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_the_reference_matches_values_worked_out_by_hand() -> None:
    # Given three leaves, hashed by hand per RFC 9162 2.1.1
    a, b, c = b"a", b"b", b"c"
    ha, hb, hc = _h(b"\x00a"), _h(b"\x00b"), _h(b"\x00c")
    hab = _h(b"\x01" + ha + hb)
    # Then the reference's MTH, PATH and PROOF are those values
    assert rfc9162.mth([]) == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert rfc9162.mth([a]) == ha
    assert rfc9162.mth([a, b]) == hab
    assert rfc9162.mth([a, b, c]) == _h(b"\x01" + hab + hc)
    assert rfc9162.path(0, [a, b, c]) == [hb, hc]
    assert rfc9162.path(1, [a, b, c]) == [ha, hc]
    assert rfc9162.path(2, [a, b, c]) == [hab]
    assert rfc9162.proof(1, [a, b, c]) == [hb, hc]
    assert rfc9162.proof(2, [a, b, c]) == [hc]
    assert rfc9162.proof(1, [a, b]) == [hb]
    # And its verifiers accept them and refuse a swapped pair
    root = rfc9162.mth([a, b, c])
    assert rfc9162.verify_inclusion(1, 3, hb, [ha, hc], root)
    assert not rfc9162.verify_inclusion(1, 3, hb, [hc, ha], root)
    assert rfc9162.verify_consistency(2, 3, hab, root, [hc])
    assert rfc9162.verify_consistency(1, 3, ha, root, [hb, hc])
    assert not rfc9162.verify_consistency(1, 3, ha, root, [hc, hb])


# The RFC 6962 / 9162 test vectors of the certificate-transparency projects: eight leaves and the
# root of each prefix of them.
VECTOR_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("n", range(1, 9))
def test_the_reference_and_the_module_give_the_published_roots(n: int) -> None:
    store = Store()
    store.extend(VECTOR_LEAVES[:n])
    assert rfc9162.mth(VECTOR_LEAVES[:n]).hex() == VECTOR_ROOTS[n - 1]
    assert merkle.root(n, store.get).hex() == VECTOR_ROOTS[n - 1]


# --------------------------------------------------------------------------- roots and nodes


def test_the_empty_tree() -> None:
    assert merkle.root(0, Store().get) == rfc9162.mth([]) == merkle.EMPTY_ROOT
    assert merkle.peaks(0) == []


@pytest.mark.parametrize("n", SIZES)
def test_every_stored_node_is_the_mth_of_its_leaves(n: int) -> None:
    entries, store = TREES[n]
    for (level, index), digest in store.nodes.items():
        assert digest == rfc9162.mth(entries[index << level : (index + 1) << level])
    # and the stored nodes are exactly the complete subtrees of the tree
    expected = {(lv, i) for lv in range(n.bit_length()) for i in range(n >> lv)}
    assert set(store.nodes) == expected


@pytest.mark.parametrize("n", SIZES)
def test_root_of_every_prefix(n: int) -> None:
    entries, store = TREES[max(SIZES)]
    assert merkle.root(n, store.get) == rfc9162.mth(entries[:n])


@pytest.mark.parametrize("n", SIZES)
def test_peaks_are_the_binary_decomposition(n: int) -> None:
    found = merkle.peaks(n)
    sizes = [1 << level for level, _ in found]
    assert sum(sizes) == n
    assert sizes == sorted(sizes, reverse=True)
    assert len(set(sizes)) == len(sizes)
    starts = [index << level for level, index in found]
    assert starts == [sum(sizes[:i]) for i in range(len(sizes))]


@pytest.mark.parametrize("n", SIZES)
def test_append_asks_only_for_peaks_of_the_old_tree(n: int) -> None:
    # Given a tree of n - 1 leaves
    _, store = _tree(n - 1)
    store.asked.clear()
    # When leaf n - 1 is appended
    created = merkle.append(n - 1, merkle.leaf_hash(b"new"), store.get)
    # Then the leaf's node comes first, each merge after it, and only old peaks were read
    assert created[0] == ((0, n - 1), merkle.leaf_hash(b"new"))
    assert [level for (level, _), _ in created] == list(range(len(created)))
    assert set(store.asked) <= set(merkle.peaks(n - 1))
    assert len(store.asked) == len(created) - 1


# --------------------------------------------------------------------------- inclusion


@pytest.mark.parametrize("n", SIZES)
def test_inclusion_proofs_equal_the_reference_and_verify(n: int) -> None:
    entries, store = TREES[n]
    root = merkle.root(n, store.get)
    for index in range(n):
        proof = merkle.inclusion_proof(index, n, store.get)
        assert proof == rfc9162.path(index, entries)
        leaf = merkle.leaf_hash(entries[index])
        assert rfc9162.verify_inclusion(index, n, leaf, proof, root)


@pytest.mark.parametrize("n", SIZES)
def test_altered_inclusion_proofs_fail(n: int) -> None:
    entries, store = TREES[n]
    root = merkle.root(n, store.get)
    for index in range(n):
        proof = merkle.inclusion_proof(index, n, store.get)
        leaf = merkle.leaf_hash(entries[index])
        for at in range(len(proof)):
            assert not rfc9162.verify_inclusion(index, n, leaf, _flip(proof, at), root)
        if proof:
            assert not rfc9162.verify_inclusion(index, n, leaf, proof[:-1], root)
        if len(proof) > 1:
            assert not rfc9162.verify_inclusion(index, n, leaf, proof[::-1], root)
        assert not rfc9162.verify_inclusion(index, n, leaf, [*proof, root], root)
        assert not rfc9162.verify_inclusion(index, n, leaf, proof, _flip([root], 0)[0])
        assert not rfc9162.verify_inclusion(index, n, merkle.leaf_hash(b"other"), proof, root)
        for wrong in {index - 1, index + 1} & set(range(n)):
            assert not rfc9162.verify_inclusion(wrong, n, leaf, proof, root)
        assert not rfc9162.verify_inclusion(n, n, leaf, proof, root)


@pytest.mark.parametrize("n", SIZES)
def test_needed_names_every_node_an_inclusion_proof_reads(n: int) -> None:
    _, store = TREES[n]
    for index in range(n):
        wanted = merkle.needed(merkle.inclusion_ranges(index, n))
        assert wanted <= set(store.nodes)
        store.asked.clear()
        merkle.inclusion_proof(index, n, store.get)
        assert set(store.asked) == wanted


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize("second", SIZES)
def test_consistency_proofs_equal_the_reference_and_verify(second: int) -> None:
    entries, store = TREES[second]
    second_root = merkle.root(second, store.get)
    assert merkle.consistency_proof(0, second, store.get) == []
    assert merkle.consistency_proof(second, second, store.get) == []
    for first in range(1, second):
        proof = merkle.consistency_proof(first, second, store.get)
        assert proof == rfc9162.proof(first, entries)
        first_root = merkle.root(first, store.get)
        assert rfc9162.verify_consistency(first, second, first_root, second_root, proof)


@pytest.mark.parametrize("second", SIZES)
def test_altered_consistency_proofs_fail(second: int) -> None:
    entries, store = TREES[second]
    second_root = merkle.root(second, store.get)
    for first in range(1, second):
        proof = merkle.consistency_proof(first, second, store.get)
        first_root = merkle.root(first, store.get)
        for at in range(len(proof)):
            assert not rfc9162.verify_consistency(first, second, first_root, second_root, _flip(proof, at))
        assert not rfc9162.verify_consistency(first, second, first_root, second_root, proof[:-1])
        assert not rfc9162.verify_consistency(first, second, _flip([first_root], 0)[0], second_root, proof)
        assert not rfc9162.verify_consistency(first, second, first_root, _flip([second_root], 0)[0], proof)
        # a first tree whose last leaf was rewritten is not a prefix of the second
        rewritten = [*entries[: first - 1], b"rewritten"]
        assert not rfc9162.verify_consistency(first, second, rfc9162.mth(rewritten), second_root, proof)


@pytest.mark.parametrize("second", SIZES)
def test_needed_names_every_node_a_consistency_proof_reads(second: int) -> None:
    _, store = TREES[second]
    for first in range(second + 1):
        wanted = merkle.needed(merkle.consistency_ranges(first, second))
        assert wanted <= set(store.nodes)
        store.asked.clear()
        merkle.consistency_proof(first, second, store.get)
        assert set(store.asked) == wanted


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "call",
    [
        lambda: merkle.range_nodes(0, 0),
        lambda: merkle.range_nodes(5, 4),
        lambda: merkle.range_nodes(-1, 1),
        lambda: merkle.range_nodes(1, 3),  # length 2 starting at an odd leaf
        lambda: merkle.range_nodes(2, 6),  # length 4 starting at 2
        lambda: merkle.peaks(-1),
        lambda: merkle.root(-1, Store().get),
        lambda: merkle.append(-1, b"", Store().get),
        lambda: merkle.inclusion_ranges(3, 3),
        lambda: merkle.inclusion_ranges(-1, 3),
        lambda: merkle.consistency_ranges(4, 3),
        lambda: merkle.consistency_ranges(-1, 3),
    ],
)
def test_ranges_outside_the_tree_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        call()


def test_every_range_of_the_rfc_definitions_is_accepted() -> None:
    for second in SIZES:
        for first in range(second + 1):
            for start, end in merkle.consistency_ranges(first, second):
                assert merkle.range_nodes(start, end)
        for index in range(second):
            for start, end in merkle.inclusion_ranges(index, second):
                assert merkle.range_nodes(start, end)


# --------------------------------------------------------------------------- larger trees


BIG = _data(5000)
BIG_STORE = Store()
BIG_STORE.extend(BIG)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), size=st.integers(min_value=41, max_value=5000))
def test_larger_trees_match_the_reference(data: st.DataObject, size: int) -> None:
    entries = BIG[:size]
    root = merkle.root(size, BIG_STORE.get)
    assert root == rfc9162.mth(entries)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = merkle.inclusion_proof(index, size, BIG_STORE.get)
    assert proof == rfc9162.path(index, entries)
    assert rfc9162.verify_inclusion(index, size, merkle.leaf_hash(entries[index]), proof, root)
    assert not rfc9162.verify_inclusion(index, size, merkle.leaf_hash(entries[index]), _flip(proof, 0), root)
    first = data.draw(st.integers(min_value=1, max_value=size - 1), label="first")
    consistency = merkle.consistency_proof(first, size, BIG_STORE.get)
    assert consistency == rfc9162.proof(first, entries)
    first_root = merkle.root(first, BIG_STORE.get)
    assert rfc9162.verify_consistency(first, size, first_root, root, consistency)
    assert not rfc9162.verify_consistency(first, size, first_root, root, _flip(consistency, len(consistency) - 1))
