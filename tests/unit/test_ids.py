"""Identifiers: prefixed, fixed length, Crockford base32, time-sortable across milliseconds,
unique. The expected layout (48-bit ms time, then 80 random bits) is decoded here by hand."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom import ids

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"  # no i, l, o, u
DESIGN_PREFIXES = ("org", "prj", "env", "usr", "tok", "whk", "evt")
MAX_MS = 2**48 - 1


def _time_of(identifier: str) -> int:
    """The millisecond timestamp of an id: its first 10 base32 characters after the prefix."""
    value = 0
    for char in identifier.split("_", 1)[1][:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


@pytest.mark.parametrize("prefix", DESIGN_PREFIXES)
def test_prefix_length_and_alphabet(prefix: str) -> None:
    value = ids.new_id(prefix)
    assert value.startswith(f"{prefix}_")
    assert len(value) == len(prefix) + 1 + 26
    assert set(value[len(prefix) + 1 :]) <= set(CROCKFORD)
    assert ids.is_id(value, prefix)


def test_every_prefix_the_design_names_is_known() -> None:
    assert set(DESIGN_PREFIXES) <= set(ids.PREFIXES)


@pytest.mark.parametrize("prefix", ["zzz", "", "ORG", "org_", "organization"])
def test_unknown_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        ids.new_id(prefix)


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("acme-inc", "org"),  # a slug
        ("org_", "org"),
        ("org_0123456789abcdefghjkmnpqr", "org"),  # 27 characters
        ("org_0123456789abcdefghjkmnp", "org"),  # 25 characters
        ("org_0123456789abcdefghjkmnpi", "org"),  # 'i' is not Crockford
        ("org_0123456789ABCDEFGHJKMNPQ", "org"),  # upper case
        ("prj_0123456789abcdefghjkmnpq", "org"),  # another prefix
        (" org_0123456789abcdefghjkmnpq", "org"),
        ("org_0123456789abcdefghjkmnpq\n", "org"),
    ],
)
def test_is_id_refuses_what_is_not_an_id_of_that_kind(value: str, prefix: str) -> None:
    assert ids.is_id(value, prefix) is False


@given(st.sampled_from(ids.PREFIXES), st.integers(min_value=0, max_value=MAX_MS))
def test_the_time_part_is_the_creation_millisecond(prefix: str, now_ms: int) -> None:
    assert _time_of(ids.new_id(prefix, now_ms=now_ms)) == now_ms


@given(
    st.sampled_from(ids.PREFIXES),
    st.integers(min_value=0, max_value=MAX_MS - 1),
    st.integers(min_value=1, max_value=MAX_MS),
)
def test_ids_sort_by_creation_time_across_milliseconds(prefix: str, earlier: int, gap: int) -> None:
    later = min(earlier + gap, MAX_MS)
    assert ids.new_id(prefix, now_ms=earlier) < ids.new_id(prefix, now_ms=later)


def test_ids_made_one_after_another_by_the_clock_sort_in_creation_order() -> None:
    made = []
    for _ in range(5):
        made.append(ids.new_id("evt"))
        time.sleep(0.002)
    assert made == sorted(made)
    assert abs(_time_of(made[0]) - int(time.time() * 1000)) < 60_000


def test_ten_thousand_ids_in_the_same_millisecond_are_unique() -> None:
    made = [ids.new_id("tok", now_ms=1_700_000_000_000) for _ in range(10_000)]
    assert len(set(made)) == 10_000
    assert all(re.fullmatch(r"tok_[0-9a-hjkmnp-tv-z]{26}", m) for m in made)
    assert {_time_of(m) for m in made} == {1_700_000_000_000}
