"""Export formats read back to exactly the values exported (hypothesis): dotenv by python-dotenv
(interpolating, as `load_dotenv` does) and by our own import; shell by a POSIX `sh`; json and
yaml by their parsers. And imports refuse what they cannot read, naming lines or keys."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile

import dotenv
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom import formats
from strongroom.errors import Unprocessable

names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,30}\Z")
# Names a shell can export, minus the variables sh itself sets or reads.
SH_OWN = {"PWD", "OLDPWD", "SHLVL", "_", "IFS", "PATH", "PPID", "OPTIND", "PS1", "PS2", "PS4", "HOME", "ENV", "LC_ALL"}
shell_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,30}\Z").filter(lambda n: n not in SH_OWN)
# Any text a value may hold: everything but NUL (models refuse it) and lone surrogates (not UTF-8).
values = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=60)
# Values with the characters the quoting rules turn on, often.
nasty = st.lists(st.sampled_from([*"ab'\"\\$`{}#= \n\r\t!*?;&|<>()~é😀", "${X}", "${:-$}", "\\'"]), max_size=20).map(
    "".join
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(names, values | nasty, max_size=8))
def test_dotenv_json_and_yaml_read_back_exactly(secrets: dict[str, str]) -> None:
    text = formats.render(secrets, "dotenv")
    assert dotenv.dotenv_values(stream=io.StringIO(text)) == secrets
    assert formats.parse(text, "dotenv") == secrets
    assert json.loads(formats.render(secrets, "json")) == secrets
    assert formats.parse(formats.render(secrets, "json"), "json") == secrets
    assert (yaml.safe_load(formats.render(secrets, "yaml")) or {}) == secrets


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(shell_names, values | nasty, max_size=6))
def test_shell_reads_back_exactly(secrets: dict[str, str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False, encoding="utf-8") as handle:
        handle.write(formats.render(secrets, "shell"))
    try:
        dump = f"exec {sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
        out = subprocess.run(
            ["sh", "-c", f'set -a; . "{handle.name}"; {dump}'],
            capture_output=True,
            check=True,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
        )
    finally:
        os.unlink(handle.name)
    environ = json.loads(out.stdout)
    assert {k: environ.get(k) for k in secrets} == secrets


def test_shell_lists_names_it_cannot_export() -> None:
    text = formats.render({"OK": "1", "a.b": "2", "c-d": "3"}, "shell")
    assert text.splitlines() == ["export OK='1'", "# not exported (not shell variable names): a.b c-d"]


def test_dotenv_prefers_quotes_a_shell_reads_too() -> None:
    text = formats.render({"A": "plain", "B": "it's", "C": "it's $HOME"}, "dotenv")
    assert text.splitlines() == ["A='plain'", 'B="it\'s"', "C='it\\'s $HOME'"]


@pytest.mark.parametrize(
    ("content", "fmt", "code", "details"),
    [
        ("A=1\nnot an assignment\nB=2\n", "dotenv", "invalid_content", {"lines": [2]}),
        ("A\n", "dotenv", "invalid_content", {"keys": ["A"]}),
        ("1A=x\n", "dotenv", "invalid_keys", {"keys": ["1A"], "pattern": formats.KEY.pattern}),
        ('{"A": 1}', "json", "invalid_content", {"keys": ["A"]}),
        ('{"A": "a\\u0000"}', "json", "invalid_values", {"keys": ["A"]}),
        ("[]", "json", "invalid_content", {}),
    ],
)
def test_imports_refuse_what_they_cannot_read(content: str, fmt: str, code: str, details: dict[str, object]) -> None:
    with pytest.raises(Unprocessable) as caught:
        formats.parse(content, fmt)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.details) == (code, details)


def test_a_repeated_dotenv_key_keeps_the_last_value() -> None:
    assert formats.parse("A=1\nA=2\n", "dotenv") == {"A": "2"}


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ('{"A": "\\ud800"}', "json"),  # a lone high surrogate, escaped
        ('{"A": "x\\udfffy"}', "json"),  # a lone low surrogate
        ('{"\\ud83d": "a"}', "json"),  # half a pair, in a key
        ("A=\ud800\n", "dotenv"),  # text that is not Unicode, whatever its format
    ],
    ids=["json-high", "json-low", "json-key", "dotenv"],
)
def test_imports_refuse_lone_surrogates(content: str, fmt: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        formats.parse(content, fmt)  # type: ignore[arg-type]
    assert caught.value.code in {"invalid_content", "invalid_keys", "invalid_values"}
    assert caught.value.status == 422


def test_imports_keep_escaped_surrogate_pairs() -> None:
    assert formats.parse('{"A": "\\ud83d\\ude00"}', "json") == {"A": "😀"}


def test_a_deeply_nested_json_import_is_refused() -> None:
    depth = 100_000  # past the parser's own recursion limit
    content = '{"A": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(Unprocessable) as caught:
        formats.parse(content, "json")
    assert (caught.value.code, caught.value.status) == ("invalid_content", 422)
