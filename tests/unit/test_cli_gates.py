"""The CI gates' pure parts: the keys of a dotenv file, the key diff, a validation report's words."""

from __future__ import annotations

import pytest

from strongroom_cli import gates


def test_dotenv_keys_skip_comments_exports_and_multiline_values() -> None:
    text = '# c\n\nA=1\nexport B="x\ny"\nC=\'one\ntwo\nthree\'\n  D = spaced\nE="escaped \\" quote"\nF=last\n'
    assert gates.dotenv_keys(text) == ["A", "B", "C", "D", "E", "F"]


@pytest.mark.parametrize(("text", "line"), [("A=1\nnot a pair\n", 2), ("=1\n", 1), ("1A=x\n", 1), ("A B=1\n", 1)])
def test_a_line_that_is_not_a_pair_is_named(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=f"line {line} "):
        gates.dotenv_keys(text)


def test_key_diff_names_missing_extra_and_present() -> None:
    assert gates.key_diff(["A", "B", "B"], ["B", "C"]) == [
        {"key": "A", "action": "missing"},
        {"key": "B", "action": "present"},
        {"key": "C", "action": "extra"},
    ]
    assert gates.key_diff([], []) == []


def test_failures_name_keys_and_never_values() -> None:
    assert gates.failures({"valid": True, "missing": []}) == ""
    report = {"valid": False, "missing": ["A"], "mismatched": [{"key": "B", "pattern": "x.*"}], "unsupported": ["C"]}
    assert gates.failures(report) == "missing: A; not matching their pattern: B; patterns that cannot run: C"
