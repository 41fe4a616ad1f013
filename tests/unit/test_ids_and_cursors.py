"""IDs sort by time and never collide; cursors round-trip and refuse tampering or reuse elsewhere."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom import db, ids
from strongroom.errors import Invalid


def test_ids_are_prefixed_and_shaped() -> None:
    value = ids.new_id("org")
    assert re.fullmatch(r"org_[0-9a-z]{26}", value)
    assert ids.is_id(value, "org")
    assert not ids.is_id(value, "prj")
    assert not ids.is_id("acme-inc", "org")


def test_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        ids.new_id("zzz")


@given(st.integers(min_value=0, max_value=2**48 - 2), st.integers(min_value=1, max_value=10**9))
def test_ids_sort_by_creation_time(earlier: int, gap: int) -> None:
    later = min(earlier + gap, 2**48 - 1)
    assert ids.new_id("evt", now_ms=earlier) < ids.new_id("evt", now_ms=later)


def test_ids_are_unique() -> None:
    made = {ids.new_id("tok", now_ms=1_700_000_000_000) for _ in range(10_000)}
    assert len(made) == 10_000


@pytest.fixture(autouse=True)
def cursor_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")


keys_strategy = st.fixed_dictionaries({"PK": st.text(min_size=1, max_size=40), "SK": st.text(min_size=1, max_size=40)})


@given(keys_strategy)
def test_cursor_round_trip(last_key: dict[str, str]) -> None:
    raw = db.serialize(last_key)
    cursor = db.encode_cursor("table|ORG#x|MEMBER#|", raw)
    assert db.decode_cursor("table|ORG#x|MEMBER#|", cursor) == raw


def test_a_flipped_byte_is_refused() -> None:
    cursor = db.encode_cursor("scope", db.serialize({"PK": "ORG#a", "SK": "MEMBER#b"}))
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(Invalid):
        db.decode_cursor("scope", forged)


def test_a_cursor_from_another_listing_is_refused() -> None:
    cursor = db.encode_cursor("table|ORG#mine|MEMBER#|", db.serialize({"PK": "ORG#mine", "SK": "MEMBER#b"}))
    with pytest.raises(Invalid):
        db.decode_cursor("table|ORG#theirs|MEMBER#|", cursor)


def test_a_cursor_signed_with_another_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = db.encode_cursor("scope", db.serialize({"PK": "a", "SK": "b"}))
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "another-deployment-key-9876543210")
    with pytest.raises(Invalid):
        db.decode_cursor("scope", cursor)


@pytest.mark.parametrize("garbage", ["", "!!!!", "a", "AAAA"])
def test_garbage_cursors_are_400(garbage: str) -> None:
    with pytest.raises(Invalid) as err:
        db.decode_cursor("scope", garbage)
    assert err.value.status == 400
