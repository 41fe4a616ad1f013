"""Template patterns, run by RE2: matching takes time linear in the value, whatever the pattern.

Python's `re` backtracks: `(a+)+$` against 25 characters took seconds and held the process. RE2
has no backtracking, so it also has no backreferences (`\\1`) and no lookaround (`(?=…)`,
`(?<=…)`); a pattern that needs them is refused when the template is written (422 naming the
field), and one stored before is reported by `GET E/validate` as unusable, never run by `re`.
`re2` is imported on first use only: most functions of the layer never match a pattern.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from strongroom.errors import Unprocessable


class UnsupportedPattern(Exception):
    """The pattern is not one RE2 runs; `issue` says why (never the pattern or a value)."""

    def __init__(self, issue: str) -> None:
        super().__init__(issue)
        self.issue = issue


@cache
def _options() -> Any:
    import re2  # noqa: PLC0415

    options = re2.Options()
    options.log_errors = False  # RE2 would print the pattern to stderr
    return options


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 program for `pattern`, or UnsupportedPattern."""
    import re2  # noqa: PLC0415

    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        raw = exc.args[0] if exc.args else b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        # RE2 says "<what>: <the offending part>"; keep the what, not the pattern's text
        raise UnsupportedPattern(text.split(":", 1)[0] or "not supported by RE2") from None


def require_supported(pattern: str, field: str = "pattern") -> None:
    """422 naming `field` when RE2 cannot run `pattern` (backreferences, lookaround, `\\Z`…)."""
    try:
        compile_pattern(pattern)
    except UnsupportedPattern as exc:
        raise Unprocessable(
            "patterns run on RE2 (linear time): backreferences, lookaround and \\Z (write \\z) are not available",
            code="pattern_unsupported",
            details={"fields": [{"field": field, "location": "body", "issue": exc.issue}]},
        ) from None


def fullmatch(compiled: Any, value: str) -> bool:
    return compiled.fullmatch(value) is not None
