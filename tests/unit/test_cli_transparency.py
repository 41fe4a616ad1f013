"""The CLI's local verification of the audit log (strongroom_cli.transparency), against the
independent RFC 9162 reference (tests/unit/rfc9162.py) and tree heads signed here with
`cryptography` keys. The log it checks is `Routes`: the audit routes of one org answered from the
reference, with a signed truth and served leaves that a test may tamper with."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from strongroom_cli import transparency
from strongroom_cli.config import ConfigError
from unit import rfc9162

ORG = "org_01HTRANSPARENCY"
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def canonical(value: Any) -> bytes:
    """JCS for what these tests hold (ASCII strings, small integers): sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def events(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"evt_{i:04d}", "action": "secret.updated", "actor": {"type": "user", "id": "usr_1"}, "n": i}
        for i in range(n)
    ]


def sign(entries: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = KEY, org: str = ORG) -> dict[str, Any]:
    """A tree head over `entries`, signed by `key`, computed by the reference."""
    body = {
        "org_id": org,
        "tree_size": len(entries),
        "root_hash": rfc9162.mth([canonical(e) for e in entries]).hex(),
        "timestamp": "2026-12-02T10:00:00Z",
    }
    signature = key.sign(canonical(body), ec.ECDSA(hashes.SHA256()))
    return {**body, "signature": base64.b64encode(signature).decode(), "key_id": "alias/strongroom-audit"}


def resign(head: dict[str, Any], key: ec.EllipticCurvePrivateKey = KEY) -> dict[str, Any]:
    body = {k: head[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")}
    signature = key.sign(canonical(body), ec.ECDSA(hashes.SHA256()))
    return {**head, "signature": base64.b64encode(signature).decode()}


class Routes:
    """GET …/audit/{tree-head, public-key, leaves, events/{id}, events/{id}/proof, consistency}."""

    def __init__(self, n: int, key: ec.EllipticCurvePrivateKey = KEY) -> None:
        self.truth = events(n)  # what the signed tree holds
        self.served = [{"leaf_index": i, "event": copy.deepcopy(e)} for i, e in enumerate(self.truth)]
        self.tree_head = sign(self.truth, key)
        self.pem = pem(key)
        self.calls: list[tuple[str, Any]] = []

    def _data(self, size: int) -> list[bytes]:
        return [canonical(e) for e in self.truth[:size]]

    def _index(self, event_id: str) -> int:
        return next(i for i, e in enumerate(self.truth) if e["id"] == event_id)

    def head(self) -> Any:
        return self.tree_head

    def public_key(self) -> Any:
        return self.pem

    def leaves(self, start: int, limit: int) -> Any:
        assert 1 <= limit <= 1000
        self.calls.append(("leaves", (start, limit)))
        return {"data": self.served[start : start + limit], "tree_size": self.tree_head["tree_size"]}

    def event(self, event_id: str) -> Any:
        i = self._index(event_id)
        return {"event": self.truth[i], "leaf_index": i}

    def proof(self, event_id: str, tree_size: int) -> Any:
        self.calls.append(("proof", event_id))
        i = self._index(event_id)
        path = rfc9162.path(i, self._data(tree_size))
        return {"leaf_index": i, "tree_size": tree_size, "audit_path": [p.hex() for p in path]}

    def consistency(self, first: int, second: int) -> Any:
        self.calls.append(("consistency", (first, second)))
        return {"proof": [p.hex() for p in rfc9162.proof(first, self._data(second))]}


def check(routes: Routes, **kwargs: Any) -> dict[str, Any]:
    verdict, _ = transparency.verify(routes, **kwargs)
    return verdict.output()


def _flip(values: list[bytes], at: int) -> list[bytes]:
    changed = list(values)
    changed[at] = bytes([changed[at][0] ^ 0x80]) + changed[at][1:]
    return changed


# --------------------------------------------------------------------------- hashing and verifiers


def test_jcs_is_rfc_8785() -> None:
    assert transparency.jcs({"b": 1, "a": "\u00e9", "c": [True, None]}) == b'{"a":"\xc3\xa9","b":1,"c":[true,null]}'
    event = events(1)[0]
    assert transparency.jcs(event) == canonical(event)
    assert transparency.leaf_hash(event) == rfc9162.sha256(b"\x00" + canonical(event))


@pytest.mark.parametrize("n", [*range(41), 1001])
def test_the_root_of_leaf_hashes_is_the_reference_mth(n: int) -> None:
    data = [canonical(e) for e in events(n)]
    assert transparency.root_of([rfc9162.sha256(b"\x00" + d) for d in data]) == rfc9162.mth(data)


@pytest.mark.parametrize("n", range(1, 25))
def test_inclusion_verifier_agrees_with_the_reference(n: int) -> None:
    data = [canonical(e) for e in events(n)]
    root = rfc9162.mth(data)
    for i in range(n):
        leaf, path = rfc9162.sha256(b"\x00" + data[i]), rfc9162.path(i, data)
        assert transparency.verify_inclusion(i, n, leaf, path, root)
        assert len(transparency.inclusion_ranges(i, n)) == len(path)
        for at in range(len(path)):
            assert not transparency.verify_inclusion(i, n, leaf, _flip(path, at), root)
        for wrong in {i - 1, i + 1, n} - {-1}:
            assert not transparency.verify_inclusion(wrong, n, leaf, path, root)
        assert not transparency.verify_inclusion(i, n, leaf, path, _flip([root], 0)[0])
        assert not transparency.verify_inclusion(i, n, leaf, [*path, root], root)


@pytest.mark.parametrize("second", range(1, 25))
def test_consistency_verifier_agrees_with_the_reference(second: int) -> None:
    data = [canonical(e) for e in events(second)]
    second_root = rfc9162.mth(data)
    for first in range(1, second):
        first_root, proof = rfc9162.mth(data[:first]), rfc9162.proof(first, data)
        assert transparency.verify_consistency(first, second, first_root, second_root, proof)
        assert rfc9162.verify_consistency(first, second, first_root, second_root, proof)
        for at in range(len(proof)):
            assert not transparency.verify_consistency(first, second, first_root, second_root, _flip(proof, at))
        assert not transparency.verify_consistency(first, second, first_root, second_root, proof[:-1])
        assert not transparency.verify_consistency(first, second, second_root, second_root, proof)
        assert not transparency.verify_consistency(second, first, second_root, first_root, proof)
    # the cases the RFC leaves to the caller
    assert transparency.verify_consistency(second, second, second_root, second_root, [])
    assert not transparency.verify_consistency(second, second, _flip([second_root], 0)[0], second_root, [])
    assert transparency.verify_consistency(0, second, transparency.EMPTY_ROOT, second_root, [])
    assert not transparency.verify_consistency(0, second, transparency.EMPTY_ROOT, second_root, [second_root])


def test_signed_bytes_are_the_jcs_of_the_four_signed_fields() -> None:
    head = sign(events(3))
    assert transparency.signed_bytes(head) == canonical(
        {k: head[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")}
    )
    assert transparency.verify_head(head, pem(KEY))
    assert not transparency.verify_head(head, pem(OTHER_KEY))
    assert not transparency.verify_head({**head, "tree_size": 4}, pem(KEY))
    assert not transparency.verify_head({**head, "signature": "not base64!"}, pem(KEY))


# --------------------------------------------------------------------------- a whole log


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 33, 2001])
def test_an_honest_log_verifies(n: int) -> None:
    routes = Routes(n)
    out = check(routes)
    assert out == {
        "ok": True,
        "tree_size": n,
        "root_hash": routes.tree_head["root_hash"],
        "checked": n,
        "key_id": "alias/strongroom-audit",
        "reason": None,
    }
    pages = [args for name, args in routes.calls if name == "leaves"]
    assert [start for start, _ in pages] == list(range(0, n, 1000))


def test_a_head_signed_by_another_key_is_rejected() -> None:
    routes = Routes(5, key=OTHER_KEY)
    routes.pem = pem(KEY)  # the org's key, served; the head is signed by some other key
    out = check(routes)
    assert (out["ok"], out["reason"].split(":")[0]) == (False, "signature")
    # and with the org's key given by the user, the same
    routes.pem = pem(OTHER_KEY)
    assert check(routes, pinned_key=pem(KEY))["reason"].startswith("signature")


def test_a_head_edited_after_signing_is_rejected() -> None:
    routes = Routes(5)
    routes.tree_head = {**routes.tree_head, "root_hash": sign(events(6))["root_hash"]}
    assert check(routes)["reason"].startswith("signature")


def test_a_key_other_than_the_one_seen_first_is_refused() -> None:
    routes = Routes(5, key=OTHER_KEY)  # a valid head, by a new key
    out = check(routes, remembered_key=pem(KEY))
    assert (out["ok"], out["reason"].split(":")[0]) == (False, "public key")
    # the same key in another PEM wrapping is the same key
    rewrapped = pem(OTHER_KEY).replace("\n", "\r\n")
    assert check(routes, remembered_key=rewrapped)["ok"] is True


@pytest.mark.parametrize("index", [0, 1, 5, 18, 19])
def test_an_edited_event_is_named(index: int) -> None:
    routes = Routes(20)
    routes.served[index]["event"]["action"] = "secret.read"
    out = check(routes)
    assert (out["ok"], out["reason"].split(":")[0]) == (False, f"leaf {index}")
    assert out["checked"] == index  # the leaves before it were proven


def test_the_first_wrong_leaf_costs_logarithmic_proofs() -> None:
    routes = Routes(1000)
    routes.served[637]["event"]["n"] = -1
    routes.served[901]["event"]["n"] = -1
    assert check(routes)["reason"].startswith("leaf 637:")
    assert len([name for name, _ in routes.calls if name == "proof"]) <= 2 + 10


def test_a_reordered_pair_is_named() -> None:
    routes = Routes(20)
    routes.served[7]["event"], routes.served[8]["event"] = routes.served[8]["event"], routes.served[7]["event"]
    assert check(routes)["reason"].startswith("leaf 7:")


def test_a_removed_leaf_is_named() -> None:
    # renumbered, as if it never was
    routes = Routes(20)
    del routes.served[4]
    for i, item in enumerate(routes.served):
        item["leaf_index"] = i
    assert check(routes)["reason"].startswith("leaf 4:")
    # or leaving a gap
    routes = Routes(20)
    del routes.served[4]
    assert check(routes)["reason"].startswith("leaf 4:")
    # or the last one, missing
    routes = Routes(20)
    del routes.served[19]
    assert check(routes)["reason"].startswith("leaf 19:")


def test_leaves_served_under_other_indexes_are_named() -> None:
    routes = Routes(20)
    routes.served[6]["leaf_index"] = 7  # the right events, one labelled as another leaf
    assert check(routes)["reason"].startswith("leaf 6:")
    routes = Routes(20)
    routes.served.insert(9, routes.served[8])  # a leaf served twice
    assert check(routes)["reason"].startswith("leaf 9:")


def test_a_wrong_root_is_named() -> None:
    # Given a head, validly signed, over a root that no tree of these leaves has
    routes = Routes(20)
    routes.tree_head = resign({**routes.tree_head, "root_hash": sign(events(21))["root_hash"]})
    # Then no path verifies, no leaf can be blamed: the root is
    out = check(routes)
    assert (out["ok"], out["reason"].split(":")[0]) == (False, "root")


def test_a_consistent_remembered_head_passes_and_an_inconsistent_one_fails() -> None:
    routes = Routes(20)
    for old in (sign(events(0)), sign(events(1)), sign(events(10)), sign(events(16)), sign(events(20))):
        assert check(routes, remembered_head=old)["ok"] is True
    # a head of a log whose leaf 3 was different (rewritten since)
    rewritten = events(10)
    rewritten[3]["action"] = "secret.deleted"
    out = check(routes, remembered_head=sign(rewritten))
    assert (out["ok"], out["reason"].split(":")[0]) == (False, "consistency")
    # a head of the same size, another root
    assert check(routes, remembered_head=sign([*events(19), {"id": "evt_z"}]))["reason"].startswith("consistency")
    # a log truncated below what was verified before (no proof asked: none can exist)
    routes.calls.clear()
    assert check(routes, remembered_head=sign(events(25)))["reason"].startswith("consistency")
    assert not [name for name, _ in routes.calls if name == "consistency"]


def test_a_remembered_head_of_another_org_is_refused() -> None:
    out = check(Routes(5), remembered_head=sign(events(5), org="org_other"))
    assert out["reason"].startswith("org")


def test_one_event_is_checked_by_its_inclusion_proof() -> None:
    routes = Routes(20)
    out = check(routes, event_id="evt_0013")
    assert (out["ok"], out["checked"]) == (True, 1)
    assert not [name for name, _ in routes.calls if name == "leaves"]
    # an event served other than the signed tree holds it
    routes.event = lambda event_id: {"event": {**events(20)[13], "n": 99}, "leaf_index": 13}  # type: ignore[method-assign]
    assert check(routes, event_id="evt_0013")["reason"].startswith("inclusion")
    # another event than the one asked for, with its own (valid) proof
    routes.event = lambda event_id: {"event": events(20)[12], "leaf_index": 12}  # type: ignore[method-assign]
    honest_proof = routes.proof
    routes.proof = lambda event_id, tree_size: honest_proof("evt_0012", tree_size)  # type: ignore[method-assign]
    assert check(routes, event_id="evt_0013")["reason"].startswith("inclusion")
    routes.proof = honest_proof  # type: ignore[method-assign]
    # not sealed yet
    routes.event = lambda event_id: {"event": events(20)[13], "leaf_index": None}  # type: ignore[method-assign]
    assert check(routes, event_id="evt_0013")["reason"].startswith("inclusion")


def test_a_refused_proof_proves_nothing() -> None:
    routes = Routes(20)
    routes.proof = lambda event_id, tree_size: {"error": {"code": "not_found"}}  # type: ignore[method-assign]
    assert check(routes, event_id="evt_0003")["reason"].startswith("inclusion")
    routes.served[3]["event"]["n"] = 0
    assert check(routes)["reason"].startswith("root:")  # nothing proven: no leaf to name


@pytest.mark.parametrize(
    "head",
    [
        None,
        [],
        {"tree_size": 1},
        {**sign(events(1)), "tree_size": -1},
        {**sign(events(1)), "tree_size": True},
        {**sign(events(1)), "root_hash": "AB" * 32},
        {**sign(events(1)), "root_hash": "ab"},
        {**sign(events(1)), "signature": None},
    ],
)
def test_a_malformed_head_is_an_answer_error(head: Any) -> None:
    routes = Routes(1)
    routes.tree_head = head
    out = check(routes)
    assert (out["ok"], out["reason"].split(":")[0]) == (False, "answer")


def test_a_served_key_that_is_not_p256_is_an_answer_error() -> None:
    routes = Routes(1)
    routes.pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    assert check(routes)["reason"].startswith("answer")
    routes.pem = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert check(routes)["reason"].startswith("answer")


# --------------------------------------------------------------------------- what is remembered


def test_the_first_key_and_the_last_head_are_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    api = "http://127.0.0.1:3000"
    assert transparency.remembered(api, "acme") == {}
    transparency.remember(api, "acme", key=pem(KEY), head=sign(events(3)))
    last = sign(events(5))
    transparency.remember(api, "acme", key=pem(OTHER_KEY), head={**last, "extra": "not kept"})
    entry = transparency.remembered(api, "acme")
    assert entry["public_key"] == pem(KEY)  # never replaced
    assert entry["head"] == last
    assert transparency.remembered(api, "other") == {}
    assert transparency.remembered("https://elsewhere", "acme") == {}
    assert (tmp_path / "strongroom" / "trust.json").stat().st_mode & 0o777 == 0o600
    (tmp_path / "strongroom" / "trust.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"trust\.json"):
        transparency.remembered(api, "acme")


# --------------------------------------------------------------------------- the command's wiring


@pytest.fixture
def run_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`strongroom audit verify` in-process (click's runner), its routes `Routes` (no HTTP)."""
    from click.testing import CliRunner

    from strongroom_cli import commands

    for name in ("STRONGROOM_TOKEN", "STRONGROOM_ORG", "STRONGROOM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    served: dict[str, Routes] = {}
    monkeypatch.setattr(commands, "AuditLog", lambda state, org: served["routes"])

    def run(routes: Routes, *args: str) -> tuple[int, dict[str, Any]]:
        served["routes"] = routes
        result = CliRunner().invoke(commands.cli, ["--org", "acme", "audit", "verify", "--json", *args])
        return result.exit_code, json.loads(result.stdout)

    return run


def test_the_command_remembers_the_first_key_and_the_last_head(run_verify: Any, tmp_path: Path) -> None:
    routes = Routes(10)
    assert run_verify(routes) == (0, check(Routes(10)) | {"root_hash": routes.tree_head["root_hash"]})
    # the log grows: consistent with the remembered head
    grown = Routes(30)
    code, out = run_verify(grown)
    assert (code, out["ok"], out["checked"]) == (0, True, 30)
    assert ("consistency", (10, 30)) in grown.calls
    # rewritten below what was verified: refused, and nothing new is remembered
    rewritten = Routes(40)
    rewritten.truth[3]["action"] = "rewritten"
    rewritten.served[3]["event"]["action"] = "rewritten"
    rewritten.tree_head = sign(rewritten.truth)
    code, out = run_verify(rewritten)
    assert (code, out["ok"], out["reason"].split(":")[0]) == (1, False, "consistency")
    trust = json.loads((tmp_path / "config" / "strongroom" / "trust.json").read_text(encoding="utf-8"))
    assert trust["http://127.0.0.1:3000 acme"]["head"]["tree_size"] == 30
    # another key later: refused
    code, out = run_verify(Routes(30, key=OTHER_KEY))
    assert (code, out["reason"].split(":")[0]) == (1, "public key")


def test_the_command_takes_a_pinned_key_and_one_event(run_verify: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "org.pem"
    key_file.write_text(pem(OTHER_KEY), encoding="utf-8")
    code, out = run_verify(Routes(5), "--public-key", str(key_file))
    assert (code, out["reason"].split(":")[0]) == (1, "signature")
    key_file.write_text(pem(KEY), encoding="utf-8")
    code, out = run_verify(Routes(5), "--public-key", str(key_file), "--event", "evt_0002")
    assert (code, out["ok"], out["checked"]) == (0, True, 1)
    # a pinned key is not remembered as the key seen first
    assert "public_key" not in transparency.remembered("http://127.0.0.1:3000", "acme")
