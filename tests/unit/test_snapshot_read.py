"""The read side of a snapshot (domain/resolve.py): the reference index it records (`refs`, the
names whose values hold `${`), read back or computed for a snapshot written before it had one;
the merged view of an environment and its ancestors; and the warm function's cache of opened
snapshots, never served for another environment, scope or revision."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.data.projects import EnvironmentRecord
from strongroom.data.secrets import SnapshotRecord
from strongroom.domain import formats, resolve
from strongroom.domain.resolve import Opened, SnapshotCache, View
from strongroom.security import crypto

SCOPE = crypto.Scope("org_a", "prj_a", "env_a")
NOW = "2026-12-02T10:00:00.000Z"
KEY = bytes(range(32))


def _live(value: str, version: int = 1) -> dict[str, Any]:
    return {"value": value, "version": version, "created_at": NOW, "updated_at": NOW, "updated_by": "usr_w"}


def _snapshot(body: dict[str, Any], *, revision: int = 3) -> SnapshotRecord:
    nonce = os.urandom(12)
    plain = json.dumps(body).encode()
    blob = nonce + AESGCM(KEY).encrypt(nonce, plain, SCOPE.aad("snapshot", 1, revision))
    return SnapshotRecord(
        revision=revision, blob=blob, key_version=1, wrapped_key=b"w", kms_key_id="k", count=1, updated_at=NOW
    )


def _env(env_id: str, parent: str | None = None) -> EnvironmentRecord:
    return EnvironmentRecord.model_validate(
        {
            "id": env_id,
            "org_id": "org_a",
            "project_id": "prj_a",
            "slug": env_id,
            "name": env_id,
            "parent_id": parent,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


def _with_key(monkeypatch: Any) -> None:
    monkeypatch.setattr(crypto, "unwrap", lambda *_a, **_k: KEY)


def test_the_reference_index_is_read_from_the_snapshot(monkeypatch: Any) -> None:
    _with_key(monkeypatch)
    live = {"A": _live("plain"), "B": _live("x ${A}")}
    opened, size = resolve.open_body(SCOPE, _snapshot({"live": live, "trash": {}, "refs": ["B"]}))
    assert opened.refs == frozenset({"B"})
    assert opened.stamp == (3, 1, NOW)
    assert dict(opened.live) == live
    assert size > 0


def test_a_snapshot_written_before_the_index_gets_it_from_its_values(monkeypatch: Any) -> None:
    _with_key(monkeypatch)
    live = {"A": _live("plain"), "B": _live("x ${A}"), "C": _live("$${literal}"), "D": _live("$ {no}")}
    opened, _ = resolve.open_body(SCOPE, _snapshot({"live": live, "trash": {}}))
    assert opened.refs == frozenset({"B", "C"})
    assert resolve.reference_index(live) == ["B", "C"]


def test_the_opened_live_values_are_read_only(monkeypatch: Any) -> None:
    _with_key(monkeypatch)
    opened, _ = resolve.open_body(SCOPE, _snapshot({"live": {"A": _live("a")}, "trash": {}, "refs": []}))
    with pytest.raises(TypeError):  # a warm function shares it between requests
        opened.live["B"] = _live("b")  # type: ignore[index]


def test_a_view_is_own_over_inherited_and_indexes_only_the_winning_values() -> None:
    parent, child = _env("env_p"), _env("env_c", "env_p")
    inherited = Opened((1, 1, NOW), {"A": _live("${B}"), "B": _live("b"), "C": _live("${B}")}, frozenset({"A", "C"}))
    own = Opened((1, 1, NOW), {"A": _live("own a"), "D": _live("${C}")}, frozenset({"D"}))
    view = View([(child, own), (parent, inherited)], child)
    assert sorted(view) == ["A", "B", "C", "D"]
    assert view.refs == frozenset({"C", "D"})  # A is the child's own, without a reference
    assert view.raw("A") == "own a"
    assert view["A"].source.id == "env_c"
    assert view["B"].source.id == "env_p"
    only_parent = View([(child, Opened((0, 0, ""), {}, frozenset())), (parent, inherited)], child)
    assert only_parent["B"].source.id == "env_p"
    assert only_parent.refs == frozenset({"A", "C"})
    assert len(View([], child)) == 0


def _opened(revision: int, *, updated_at: str = NOW) -> Opened:
    return Opened((revision, 1, updated_at), {"A": _live(f"r{revision}")}, frozenset())


def test_the_cache_serves_only_the_exact_revision_of_the_same_scope() -> None:
    cache = SnapshotCache()
    cache.put(SCOPE, _opened(3), 100)
    assert cache.get(SCOPE, (3, 1, NOW)) is not None
    assert cache.get(crypto.Scope("org_b", "prj_a", "env_a"), (3, 1, NOW)) is None  # another org's scope
    assert cache.get(crypto.Scope("org_a", "prj_a", "env_b"), (3, 1, NOW)) is None  # another environment
    cache.put(SCOPE, _opened(3), 100)
    assert cache.get(SCOPE, (4, 1, NOW)) is None  # another revision: dropped
    assert not cache.holds("env_a")
    cache.put(SCOPE, _opened(3), 100)
    assert cache.get(SCOPE, (3, 2, NOW)) is None  # another key version
    cache.put(SCOPE, _opened(3), 100)
    assert cache.get(SCOPE, (3, 1, "2026-12-02T11:00:00.000Z")) is None  # the same number written again


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = SnapshotCache()
    for n in range(SnapshotCache.MAX_ENTRIES + 5):
        cache.put(crypto.Scope("org_a", "prj_a", f"env_{n}"), _opened(1), 10)
    assert not cache.holds("env_0")
    assert cache.holds(f"env_{SnapshotCache.MAX_ENTRIES + 4}")
    cache.clear()
    cache.put(crypto.Scope("org_a", "prj_a", "env_big"), _opened(1), SnapshotCache.MAX_BYTES + 1)
    assert not cache.holds("env_big")  # too large to keep
    half = SnapshotCache.MAX_BYTES // 2 + 1
    cache.put(crypto.Scope("org_a", "prj_a", "env_1"), _opened(1), half)
    cache.put(crypto.Scope("org_a", "prj_a", "env_2"), _opened(1), half)
    assert not cache.holds("env_1")
    assert cache.holds("env_2")


def test_the_json_export_is_what_json_dumps_writes() -> None:
    values = {"b": 'q"\\\n\t\u2028\x01é', "a": "\U0001f600 \x7f", "c": ""}
    expected = json.dumps(dict(sorted(values.items())), ensure_ascii=False, indent=2) + "\n"
    assert formats.render(values, "json") == expected
    assert formats.render({}, "json") == json.dumps({}, indent=2) + "\n"
