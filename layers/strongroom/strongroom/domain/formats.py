"""Export and import formats for an environment's secrets.

Export (`render`), every format read back to exactly the same values:
- `dotenv`: for python-dotenv (interpolating or not) AND a POSIX shell (`set -a; . ./.env`), the
  file read from disk. Each value is written in the first of these that both read back exactly:
  `'v'` (no `'` or `\\`), `"v"` with `\\` and `"` escaped (no `$` or backtick). A value neither
  form holds (a `'` or `\\` with a `$` or backtick; `${…}`, which python-dotenv expands inside any
  quotes; a carriage return, which python-dotenv reads as a newline), and a key that is not a shell
  name (`.`, `-`), is left out and listed by name in a comment: use `shell` or `json` for those.
  Nothing is ever written in a form a shell would read as code.
- `shell`: `export KEY='v'`, each `'` written `'\\''`; POSIX `sh -c 'set -a; . file'` reads it.
  Keys that are not shell names (`.`, `-`) cannot be exported there and are listed in a comment.
- `json`: one object, keys sorted.
- `yaml`: one mapping of double-quoted scalars (JSON string syntax, which YAML 1.1 and 1.2 read),
  with every character YAML does not allow raw written as an escape.

Import (`parse`): `dotenv` through python-dotenv's own parser, without interpolation (`${…}` are
Strongroom references, kept as written); `json`: an object of strings, read with the limits of
`jsontext` (nesting, lone surrogates). Values must be Unicode text (no NUL, no lone surrogate).
Errors name the line or key, never a value.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Literal

from strongroom.errors import Unprocessable
from strongroom.http import jsontext

ExportFormat = Literal["dotenv", "json", "yaml", "shell"]
ImportFormat = Literal["dotenv", "json"]
CONTENT_TYPES: dict[str, str] = {
    "dotenv": "text/plain; charset=utf-8",
    "shell": "text/x-shellscript; charset=utf-8",
    "json": "application/json",
    "yaml": "application/yaml; charset=utf-8",
}
# Exports before 2026-12-02 wrote `${` as `${:-$}{` (an unnamed variable defaulting to `$`, which
# python-dotenv reads as `$`); `parse` still reads it back as `$`.
DOTENV_DOLLAR = "${:-$}"
SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NOT_SHELL_NAMES = "not shell variable names"
NOT_DOTENV_VALUES = "no quoting python-dotenv and a POSIX shell both read back; use format=shell or json"
# Superset of what python-dotenv interpolates (`${name}`, `${name:-default}`), in any quotes.
_DOTENV_EXPANDED = re.compile(r"\$\{[^}]*\}")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")
# Characters YAML does not allow raw in a double-quoted scalar (beyond the C0 set json escapes).
_YAML_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def render(values: Mapping[str, str], fmt: ExportFormat) -> str:
    names = sorted(values)
    if fmt == "json":
        return _json_object(values, names)
    if fmt == "yaml":
        if not names:
            return "{}\n"
        return "".join(f"{_yaml_string(k)}: {_yaml_string(values[k])}\n" for k in names)
    if fmt == "shell":
        lines = [f"export {k}={_shell_quote(values[k])}\n" for k in names if SHELL_NAME.match(k)]
        return "".join(lines) + _not_exported(NOT_SHELL_NAMES, [k for k in names if not SHELL_NAME.match(k)])
    return _dotenv(values, names)


def _json_object(values: Mapping[str, str], names: list[str]) -> str:
    """Exactly `json.dumps({k: values[k] for k in names}, ensure_ascii=False, indent=2) + "\\n"`
    for a flat object of strings, each string through json's own (C) encoder once: json.dumps
    with `indent` runs its pure-Python encoder, item by item."""
    if not names:
        return "{}\n"
    quote = _encode_string
    return "{\n" + ",\n".join([f"  {quote(k)}: {quote(values[k])}" for k in names]) + "\n}\n"


_encode_string = json.encoder.encode_basestring  # what dumps(ensure_ascii=False) quotes strings with


def _not_exported(why: str, names: list[str]) -> str:
    return f"# not exported ({why}): {' '.join(names)}\n" if names else ""


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _dotenv(values: Mapping[str, str], names: list[str]) -> str:
    lines: list[str] = []
    unquotable: list[str] = []
    for name in (k for k in names if SHELL_NAME.match(k)):
        quoted = _dotenv_quote(values[name])
        if quoted is None:
            unquotable.append(name)
        else:
            lines.append(f"{name}={quoted}\n")
    not_names = [k for k in names if not SHELL_NAME.match(k)]
    return "".join(lines) + _not_exported(NOT_SHELL_NAMES, not_names) + _not_exported(NOT_DOTENV_VALUES, unquotable)


def _dotenv_quote(value: str) -> str | None:
    """`value` in a form python-dotenv and a POSIX shell both read back exactly, or None.

    Single quotes: a shell decodes nothing inside them, python-dotenv decodes `\\\\` and `\\'`.
    Double quotes: both decode `\\\\` and `\\"`, but a shell also expands `$` and backticks, whose
    escapes (`\\$`, `\\``) python-dotenv keeps as written. No form hides `${…}` from python-dotenv's
    interpolation or keeps a carriage return through its universal-newline file reading."""
    if "\r" in value or _DOTENV_EXPANDED.search(value):
        return None
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if "$" not in value and "`" not in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return None


def _yaml_string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _YAML_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def parse(content: str, fmt: ImportFormat) -> dict[str, str]:
    """KEY -> value; the last of a repeated key wins. Unprocessable naming lines or keys."""
    values = _parse_json(content) if fmt == "json" else _parse_dotenv(content)
    bad = sorted(k for k in values if not KEY.match(k))
    if bad:
        raise Unprocessable(
            "some keys are not valid secret names",
            code="invalid_keys",
            details={"keys": [k[:100] for k in bad[:20]], "pattern": KEY.pattern},
        )
    nul = sorted(k for k, v in values.items() if "\x00" in v)
    if nul:
        raise Unprocessable("values may not contain NUL characters", code="invalid_values", details={"keys": nul[:20]})
    unpaired = sorted(k for k, v in values.items() if jsontext.has_lone_surrogate(v))
    if unpaired:
        raise Unprocessable(
            "values may not hold lone surrogates (not Unicode text)",
            code="invalid_values",
            details={"keys": unpaired[:20]},
        )
    return values


_JSON_REFUSALS: dict[jsontext.Reason, str] = {
    "invalid": "the content is not valid JSON",
    "too_deep": f"the content nests deeper than {jsontext.MAX_DEPTH} levels",
    "lone_surrogate": "the content holds a lone surrogate (not Unicode text)",
}


def _parse_json(content: str) -> dict[str, str]:
    try:
        data = jsontext.loads(content)
    except jsontext.Refused as refused:
        raise Unprocessable(_JSON_REFUSALS[refused.reason], code="invalid_content") from None
    if not isinstance(data, dict):
        raise Unprocessable("the content must be a JSON object of strings", code="invalid_content")
    not_strings = sorted(str(k) for k, v in data.items() if not isinstance(v, str))
    if not_strings:
        raise Unprocessable(
            "every value must be a string",
            code="invalid_content",
            details={"keys": [k[:100] for k in not_strings[:20]]},
        )
    return {str(k): v for k, v in data.items()}


def _parse_dotenv(content: str) -> dict[str, str]:
    from dotenv.parser import parse_stream  # noqa: PLC0415 - only imports need it

    values: dict[str, str] = {}
    broken: list[int] = []
    empty: list[str] = []
    for binding in parse_stream(io.StringIO(content)):
        if binding.error:
            broken.append(binding.original.line)
        elif binding.key is None:
            continue  # a blank line or a comment
        elif binding.value is None:
            empty.append(binding.key)
        else:
            values[binding.key] = binding.value.replace(DOTENV_DOLLAR, "$")
    if broken:
        raise Unprocessable(
            "some lines are not dotenv assignments", code="invalid_content", details={"lines": broken[:20]}
        )
    if empty:
        raise Unprocessable(
            "some keys have no `=`; write KEY= for an empty value",
            code="invalid_content",
            details={"keys": [k[:100] for k in empty[:20]]},
        )
    return values
