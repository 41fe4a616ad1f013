"""JSON text from outside (request bodies, imported content), read with the limits every input shares:

- nesting at most MAX_DEPTH levels (objects and arrays), so nothing downstream recurses deeply, and
  a body deep enough to exhaust the parser is refused like any other, not a RecursionError;
- strings (object keys included) that are Unicode text: JSON lets `\\ud800` stand alone, but a lone
  surrogate is no character, cannot be encoded as UTF-8, and would fail wherever it is stored.

`loads` raises `Refused` (a ValueError) naming which rule failed; callers turn that into their own
error (the request body: 400; an import's content: 422). No value is ever quoted.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

MAX_DEPTH = 32
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # after parsing, a pair is one character: these stand alone

Reason = Literal["invalid", "too_deep", "lone_surrogate"]


class Refused(ValueError):
    def __init__(self, reason: Reason, issue: str) -> None:
        super().__init__(issue)
        self.reason: Reason = reason
        self.issue = issue


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of `text`, or Refused."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused("too_deep", f"nested deeper than {max_depth} levels") from None
    except ValueError:
        raise Refused("invalid", "not valid JSON") from None
    check(data, max_depth=max_depth)
    return data


def has_lone_surrogate(text: str) -> bool:
    return _LONE_SURROGATE.search(text) is not None


def check(data: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refused when `data` (parsed JSON) nests deeper than max_depth or holds a lone surrogate.
    Iterative, so it cannot itself run out of stack."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                raise Refused("lone_surrogate", "lone surrogate")
        elif isinstance(value, dict | list):
            if depth + 1 > max_depth:
                raise Refused("too_deep", f"nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                stack.extend((inner, depth + 1) for inner in value.values())
            else:
                stack.extend((inner, depth + 1) for inner in value)
