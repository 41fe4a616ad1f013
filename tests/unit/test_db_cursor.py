"""Pagination cursors: opaque, URL-safe, round-trip the last evaluated key, and refuse any
alteration, a cursor made for another listing, or one signed by another deployment."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.data import db
from strongroom.errors import Invalid

SCOPE = "table|ORG#org_01|MEMBER#|"
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # encode/decode read the signing key from settings(); no AWS is involved.
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refused(scope: str, cursor: str) -> Invalid:
    with pytest.raises(Invalid) as err:
        db.decode_cursor(scope, cursor)
    assert err.value.status == 400
    assert [f["field"] for f in err.value.details["fields"]] == ["cursor"]
    return err.value


_text = st.text(min_size=1, max_size=60)
table_keys = st.fixed_dictionaries({"PK": _text, "SK": _text})
index_keys = st.fixed_dictionaries({"PK": _text, "SK": _text, "GSI1PK": _text, "GSI1SK": _text})


@given(st.one_of(table_keys, index_keys), _text)
def test_round_trip(last_key: dict[str, str], scope: str) -> None:
    low_level = {name: {"S": value} for name, value in last_key.items()}
    cursor = db.encode_cursor(scope, low_level)
    assert URL_SAFE.match(cursor)
    assert db.decode_cursor(scope, cursor) == low_level


def _sample() -> str:
    return db.encode_cursor(SCOPE, {"PK": {"S": "ORG#org_01"}, "SK": {"S": "MEMBER#usr_01"}})


def test_every_single_byte_flip_is_refused() -> None:
    raw = _raw(_sample())
    for position in range(len(raw)):
        for bit in (0x01, 0x80):
            forged = bytearray(raw)
            forged[position] ^= bit
            _refused(SCOPE, _cursor(bytes(forged)))


@given(st.data())
def test_any_altered_byte_is_refused(data: st.DataObject) -> None:
    raw = bytearray(_raw(_sample()))
    position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    _refused(SCOPE, _cursor(bytes(raw)))


def test_a_payload_rewritten_to_another_key_is_refused() -> None:
    raw = _raw(_sample())
    forged = raw[:16] + raw[16:].replace(b"usr_01", b"usr_02")
    assert forged != raw
    _refused(SCOPE, _cursor(forged))


@pytest.mark.parametrize("cut", [1, 5, 17])
def test_a_truncated_cursor_is_refused(cut: int) -> None:
    raw = _raw(_sample())
    _refused(SCOPE, _cursor(raw[:-cut]))


@pytest.mark.parametrize(
    "other_scope",
    [
        "table|ORG#org_02|MEMBER#|",  # another org's member list
        "table|ORG#org_01|INVITE#|",  # the same org, another listing
        "GSI1|ORG#org_01|MEMBER#|",  # another index
        "table|ORG#org_01|MEMBER#|#status = :active",  # the same listing, filtered
        "",
    ],
)
def test_a_cursor_from_another_listing_is_refused(other_scope: str) -> None:
    issue = _refused(other_scope, _sample()).details["fields"][0]["issue"]
    assert "another listing" in issue


def test_a_cursor_signed_by_another_deployment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = _sample()
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "another-deployment-key-9876543210")
    _refused(SCOPE, cursor)


@pytest.mark.parametrize("garbage", ["", "!!!!", "a", "AAAA", "%00", "x" * 2048, "eyJQSyI6IkEifQ"])
def test_garbage_is_refused(garbage: str) -> None:
    _refused(SCOPE, garbage)
