"""The decisions of the change path, without a store or KMS: what one change of an environment
writes (`secrets.decide`: the new snapshot, a version item per changed secret, the new data key,
the audit metadata, or the 413 refusal; whether it fits one transaction) and what a point-in-time restore changes
(`secrets.state_at`, `secrets.restore_plan`)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.data.secrets import DataKeyRecord, SnapshotRecord, VersionHeader
from strongroom.domain import secrets
from strongroom.domain.secrets import KeyInUse, Plan, State
from strongroom.errors import PayloadTooLarge
from strongroom.security import crypto

SCOPE = crypto.Scope("org_scope", "prj_scope", "env_scope")
NOW = "2026-12-02T10:00:00.000Z"
EARLIER = "2026-11-01T09:00:00.000Z"
WHO = "usr_writer"


def _aad(*parts: str | int) -> bytes:
    """The AAD layout of crypto.Scope.aad, written out: each field length-prefixed (2 bytes)."""
    fields = [SCOPE.org_id, SCOPE.project_id, SCOPE.environment_id, *map(str, parts)]
    return b"".join(len(f.encode()).to_bytes(2, "big") + f.encode() for f in fields)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:12], blob[12:], aad)


def _key(version: int = 1, *, new: bool = False) -> KeyInUse:
    record = DataKeyRecord(version=version, wrapped_key=b"wrapped-new", kms_key_id="kms-new", created_at=NOW)
    plaintext = os.urandom(32)
    if new:
        return KeyInUse(plaintext, version, b"wrapped-new", "kms-new", record)
    return KeyInUse(plaintext, version, b"wrapped-old", "kms-old")


def _state(
    live: dict[str, dict[str, Any]], trash: dict[str, dict[str, Any]], *, revision: int, chunks: int = 0
) -> State:
    snap = SnapshotRecord(
        revision=revision,
        blob=b"read",
        chunks=chunks,
        key_version=1,
        wrapped_key=b"wrapped-old",
        kms_key_id="kms-old",
        count=len(live),
        updated_at=EARLIER,
    )
    return State(snap, b"k" * 32, live, trash)


def _live(value: str, version: int, created_at: str = EARLIER) -> dict[str, Any]:
    return {"value": value, "version": version, "created_at": created_at, "updated_at": created_at, "updated_by": "x"}


def _plan(changes: dict[str, str | None], **kwargs: Any) -> Plan:
    return Plan(changes, "secrets.batch_changed", "environment", "env_scope", {"count": len(changes)}, **kwargs)


def test_a_first_value_is_version_1_of_revision_1_under_a_new_data_key() -> None:
    key = _key(new=True)
    plan = Plan({"API_KEY": "s3cret"}, "secret.created", "secret", "API_KEY", {"key": "API_KEY"}, "first")

    change = secrets.decide(State(None, None, {}, {}), plan, key, scope=SCOPE, now=NOW, who=WHO)

    (version,) = change.versions
    assert (version.key, version.version, version.action, version.key_version) == ("API_KEY", 1, "set", 1)
    assert (version.comment, version.created_at, version.created_by) == ("first", NOW, WHO)
    assert version.blob is not None
    assert _open(key.plaintext, version.blob, _aad("value", "API_KEY", 1, 1)) == b"s3cret"
    snap = change.snapshot
    assert (snap.revision, snap.key_version, snap.count, snap.updated_at) == (1, 1, 1, NOW)
    assert (snap.wrapped_key, snap.kms_key_id) == (b"wrapped-new", "kms-new")
    assert json.loads(_open(key.plaintext, snap.blob, _aad("snapshot", 1, 1))) == {
        "live": {"API_KEY": {"value": "s3cret", "version": 1, "created_at": NOW, "updated_at": NOW, "updated_by": WHO}},
        "trash": {},
        "refs": [],
    }
    assert change.data_key == key.record
    assert change.audit_metadata == {"key": "API_KEY", "revision": 1}
    assert change.numbers == {"API_KEY": 1}


def test_an_update_keeps_its_creation_time_and_a_deletion_goes_to_the_trash() -> None:
    key = _key()
    trashed = {"version": 3, "deleted_at": EARLIER, "deleted_by": "x"}
    state = _state({"A": _live("old", 2), "B": _live("b", 1)}, {"C": trashed}, revision=4)

    change = secrets.decide(state, _plan({"A": "new", "B": None}), key, scope=SCOPE, now=NOW, who=WHO)

    assert [(v.key, v.version, v.action, v.key_version, v.blob is None) for v in change.versions] == [
        ("A", 3, "set", 1, False),
        ("B", 2, "delete", None, True),
    ]
    assert change.data_key is None
    assert (change.snapshot.revision, change.snapshot.count) == (5, 1)
    assert (change.snapshot.wrapped_key, change.snapshot.kms_key_id) == (b"wrapped-old", "kms-old")
    body = json.loads(_open(key.plaintext, change.snapshot.blob, _aad("snapshot", 1, 5)))
    assert body == {
        "live": {"A": {"value": "new", "version": 3, "created_at": EARLIER, "updated_at": NOW, "updated_by": WHO}},
        "trash": {"B": {"version": 2, "deleted_at": NOW, "deleted_by": WHO}, "C": trashed},
        "refs": [],
    }
    assert change.audit_metadata == {"count": 2, "revision": 5}


def test_a_secret_set_again_after_its_deletion_continues_its_numbering() -> None:
    key = _key()
    state = _state({}, {"C": {"version": 3, "deleted_at": EARLIER, "deleted_by": "x"}}, revision=7)

    change = secrets.decide(state, _plan({"C": "back"}), key, scope=SCOPE, now=NOW, who=WHO)

    assert change.numbers == {"C": 4}
    body = json.loads(_open(key.plaintext, change.snapshot.blob, _aad("snapshot", 1, 8)))
    assert body["trash"] == {}
    assert body["live"]["C"]["created_at"] == NOW


def test_a_rotation_writes_the_new_data_key_and_no_version() -> None:
    key = _key(version=2, new=True)
    state = _state({"A": _live("a", 1)}, {}, revision=2)

    change = secrets.decide(state, _plan({}, rotate_key=True), key, scope=SCOPE, now=NOW, who=WHO)

    assert change.versions == []
    assert change.data_key == key.record
    assert (change.snapshot.revision, change.snapshot.key_version) == (3, 2)
    body = json.loads(_open(key.plaintext, change.snapshot.blob, _aad("snapshot", 2, 3)))
    assert body == {"live": {"A": _live("a", 1)}, "trash": {}, "refs": []}


def test_a_change_of_thousands_of_secrets_is_decided_as_one() -> None:
    plan = _plan({f"K{n:05d}": "v" for n in range(5000)})

    change = secrets.decide(State(None, None, {}, {}), plan, _key(new=True), scope=SCOPE, now=NOW, who=WHO)

    assert len(change.versions) == 5000
    assert change.snapshot.revision == 1
    assert not secrets.fits_one_transaction(State(None, None, {}, {}), change)


def test_the_audit_note_of_a_change_is_bounded_whatever_its_size() -> None:
    names = [f"K{n:05d}" for n in range(11_000)]

    note = secrets.keys_note(reversed(names))

    assert note["keys"] == names[:100]
    assert note["count"] == 11_000
    assert note["keys_sha256"] == hashlib.sha256("\n".join(names).encode()).hexdigest()
    assert len(json.dumps(note)) < 2_000


def test_an_environment_past_3_mb_of_ciphertext_is_refused() -> None:
    state = _state({"BIG": _live("x" * 3_000_000, 1)}, {}, revision=1)

    with pytest.raises(PayloadTooLarge) as refused:
        secrets.decide(state, _plan({"SMALL": "y"}), _key(), scope=SCOPE, now=NOW, who=WHO)

    assert refused.value.code == "environment_full"
    assert refused.value.details == {"max_bytes": 3_000_000}


def test_a_change_within_100_items_fits_one_transaction() -> None:
    # 95 versions + the new data key + the snapshot item + the audit event (2 reserved) = 99 items.
    change = secrets.decide(
        State(None, None, {}, {}),
        _plan({f"K{n:02d}": "v" for n in range(95)}),
        _key(new=True),
        scope=SCOPE,
        now=NOW,
        who=WHO,
    )

    assert secrets.fits_one_transaction(State(None, None, {}, {}), change)


def test_a_change_past_100_items_does_not_fit_one_transaction() -> None:
    # 95 versions + the snapshot item + the 5 parts of the previous revision, deleted + 3 reserved
    # (the audit event, a key check, the platform's secrets counter) = 104 items: the change is
    # written ahead and published; 91 versions make exactly 100.
    state = _state({}, {}, revision=3, chunks=5)

    change = secrets.decide(state, _plan({f"K{n:02d}": "v" for n in range(95)}), _key(), scope=SCOPE, now=NOW, who=WHO)

    assert not secrets.fits_one_transaction(state, change)
    fewer = secrets.decide(state, _plan({f"K{n:02d}": "v" for n in range(91)}), _key(), scope=SCOPE, now=NOW, who=WHO)
    assert secrets.fits_one_transaction(state, fewer)


def test_a_change_past_the_bytes_of_one_transaction_does_not_fit_one() -> None:
    # 60 values of 33,000 characters in a new environment: ~1.98 MB of versions and a ~1.99 MB
    # snapshot (6 items of at most 350 KB), past 3.9 MB in all, while the items fit.
    values = {f"K{n:02d}": "v" * 33_000 for n in range(60)}

    change = secrets.decide(State(None, None, {}, {}), _plan(values), _key(new=True), scope=SCOPE, now=NOW, who=WHO)

    assert not secrets.fits_one_transaction(State(None, None, {}, {}), change)


# --------------------------------------------------------------------------- point-in-time restore

T1, T2, T3 = "2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z", "2026-11-03T00:00:00.000Z"
AT = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _head(key: str, version: int, action: str, at: str) -> VersionHeader:
    return VersionHeader(key=key, version=version, action=action, created_at=at)


def test_the_state_at_an_instant_holds_the_versions_set_then() -> None:
    history = [
        _head("A", 1, "set", T1),
        _head("A", 2, "set", T3),  # after the instant
        _head("B", 1, "set", T1),
        _head("B", 2, "delete", T2),  # deleted by then
        _head("C", 1, "set", T3),  # created after
        _head("D", 1, "set", T1),
        _head("D", 2, "set", T2),
    ]

    then = secrets.state_at(history, AT)

    assert {k: h.version for k, h in then.items()} == {"A": 1, "D": 2}


def test_a_restore_brings_values_back_and_trashes_what_is_newer() -> None:
    then = {"A": _head("A", 1, "set", T1), "B": _head("B", 1, "set", T1), "D": _head("D", 2, "set", T2)}
    state = _state({"A": _live("two", 2), "C": _live("c", 1), "D": _live("d", 2)}, {}, revision=9)

    assert secrets.moved_since(state, then) == ["A", "B"]
    plan = secrets.restore_plan(state, then, {"A": "one", "B": "b"}, at=AT, env_id="env_scope")

    assert plan.changes == {"A": "one", "B": "b", "C": None}
    assert (plan.action, plan.resource_type, plan.resource_id) == ("environment.restored", "environment", "env_scope")
    assert plan.metadata == {
        "at": "2026-11-02T12:00:00.000Z",
        "keys": ["A", "B", "C"],
        "count": 3,
        "keys_sha256": hashlib.sha256(b"A\nB\nC").hexdigest(),
    }


def test_a_restore_leaves_a_value_that_is_the_same_again() -> None:
    then = {"A": _head("A", 1, "set", T1)}
    state = _state({"A": _live("same", 3)}, {}, revision=9)

    plan = secrets.restore_plan(state, then, {"A": "same"}, at=AT, env_id="env_scope")

    assert plan.changes == {}
    assert plan.metadata["count"] == 0
