"""Export formats read back to exactly the values exported (hypothesis): dotenv by python-dotenv
(from a file, interpolating or not), by our own import and by /bin/sh and bash sourcing it
(`set -a; . ./file`), which never run a command whatever the values; shell by /bin/sh and bash;
json and yaml by their parsers. And imports refuse what they cannot read, naming lines or keys."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import dotenv
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from strongroom.domain import formats
from strongroom.errors import Unprocessable

names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,30}\Z")
# The variables sh itself sets or reads (it cannot read them back as exported).
SH_OWN = {"PWD", "OLDPWD", "SHLVL", "_", "IFS", "PATH", "PPID", "OPTIND", "PS1", "PS2", "PS4", "HOME", "ENV", "LC_ALL"}
# Any text a value may hold: everything but NUL (models refuse it) and lone surrogates (not UTF-8).
values = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=60)
# Values with the characters the quoting rules turn on, often.
nasty = st.lists(st.sampled_from([*"ab'\"\\$`{}#= \n\r\t!*?;&|<>()~é😀", "${X}", "${:-$}", "\\'"]), max_size=20).map(
    "".join
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(names, values | nasty, max_size=8))
def test_json_and_yaml_read_back_exactly(secrets: dict[str, str]) -> None:
    assert json.loads(formats.render(secrets, "json")) == secrets
    assert formats.parse(formats.render(secrets, "json"), "json") == secrets
    assert (yaml.safe_load(formats.render(secrets, "yaml")) or {}) == secrets


# --------------------------------------------------------------------------- sourced by a shell

# The shells that source exports: /bin/sh (dash on Debian, the strictest common sh), and bash.
SHELLS = ["/bin/sh", *([bash] if (bash := shutil.which("bash")) else [])]
# Variables bash itself sets, computes on each read, or holds read-only (it cannot read them back).
BASH_OWN = {"BASHOPTS", "BASHPID", "EUID", "UID", "PPID", "SHELLOPTS", "GROUPS", "RANDOM", "SRANDOM", "SECONDS"}
BASH_OWN |= {"LINENO", "HISTCMD", "FUNCNAME", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "COMP_WORDBREAKS"}


def _not_the_shells(name: str) -> bool:
    return name not in SH_OWN | BASH_OWN and not name.startswith("BASH")


CANARY = "PWNED"  # what an executed payload creates in the shell's working directory
# Fragments that turn into a command (each creates CANARY) if a shell ever reads a value as code.
attacks = st.sampled_from(
    [
        f"$(touch {CANARY})",
        f"`touch {CANARY}`",
        f"x'$(touch {CANARY}) #",
        f"'; touch {CANARY}; '",
        f'"; touch {CANARY}; "',
        f"\\'$(touch {CANARY})'",
        f"${{X:-$(touch {CANARY})}}",
        f"\ntouch {CANARY}\n",
        f"'\ntouch {CANARY} #",
        f">{CANARY}",
        f"\\\n>{CANARY}",
    ]
)
adversarial = st.lists(attacks | nasty | values, max_size=4).map("".join)


def _listed_as_not_exported(text: str) -> list[str]:
    """The names the export's `# not exported (why): A B` comments list."""
    listed = []
    for line in text.splitlines():
        if line.startswith("# not exported ("):
            listed += line.split("): ", 1)[1].split()
    return listed


def _sourced(shell: str, text: str) -> dict[str, str]:
    """The variables a shell ends with after `set -a; . ./file` beyond its own, read with `env -0`.
    Fails if sourcing printed anything, failed, or created a file (a command ran)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "exported").write_bytes(text.encode("utf-8"))
        out = subprocess.run(
            [shell, "-c", "set -a; . ./exported; exec env -0"],
            capture_output=True,
            check=False,
            cwd=folder,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
        )
        assert sorted(os.listdir(folder)) == ["exported"], f"{shell} ran a command while sourcing the export"
    assert (out.returncode, out.stderr) == (0, b""), (shell, out.stderr)
    environ = dict(item.split("=", 1) for item in out.stdout.decode("utf-8").split("\0") if item)
    own = _shell_own(shell)
    return {k: v for k, v in environ.items() if k not in own}


@functools.cache
def _shell_own(shell: str) -> frozenset[str]:
    out = subprocess.run(
        [shell, "-c", "exec env -0"],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
    )
    return frozenset(item.split("=", 1)[0] for item in out.stdout.decode().split("\0") if item)


def _dotenv_file(text: str, *, interpolate: bool) -> dict[str, str | None]:
    """python-dotenv reading the export from a file, as `load_dotenv` does (universal newlines)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, ".env")
        path.write_bytes(text.encode("utf-8"))
        return dotenv.dotenv_values(path, interpolate=interpolate)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names.filter(_not_the_shells), adversarial, max_size=6))
@example({"K": f"x'$(touch {CANARY}) #"})  # issue #9: exported as 'x\'$(touch PWNED) #'
@example({"K": "it's $HOME", "R": "${X}", "CR": "a\rb", "a.b": "1", "OK": "it's"})
def test_dotenv_reads_back_the_same_in_python_dotenv_and_in_a_shell(secrets: dict[str, str]) -> None:
    """Every key is either read back exactly by python-dotenv (interpolating or not), our import,
    /bin/sh and bash, or listed by name in a comment; no shell ever runs a command."""
    text = formats.render(secrets, "dotenv")
    refused = _listed_as_not_exported(text)
    exported = {k: v for k, v in secrets.items() if k not in refused}
    assert sorted([*exported, *refused]) == sorted(secrets), "a key is both exported and refused, or neither"
    # A value with none of the characters quoting turns on is never refused.
    assert [k for k in refused if formats.SHELL_NAME.match(k) and set(secrets[k]).isdisjoint("'\\$`\r")] == []
    assert _dotenv_file(text, interpolate=True) == exported
    assert _dotenv_file(text, interpolate=False) == exported
    assert formats.parse(text, "dotenv") == exported
    for shell in SHELLS:
        assert _sourced(shell, text) == exported, shell


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(names.filter(_not_the_shells), adversarial, max_size=6))
@example({"K": f"x'$(touch {CANARY}) #", "a.b": "1"})
def test_shell_reads_back_exactly_in_sh_and_bash(secrets: dict[str, str]) -> None:
    """`export K='v'` for every shell name, whatever the value; other names listed in a comment."""
    text = formats.render(secrets, "shell")
    refused = _listed_as_not_exported(text)
    assert sorted(refused) == sorted(k for k in secrets if not formats.SHELL_NAME.match(k))
    exported = {k: v for k, v in secrets.items() if k not in refused}
    for shell in SHELLS:
        assert _sourced(shell, text) == exported, shell


def test_shell_lists_names_it_cannot_export() -> None:
    text = formats.render({"OK": "1", "a.b": "2", "c-d": "3"}, "shell")
    assert text.splitlines() == ["export OK='1'", "# not exported (not shell variable names): a.b c-d"]


def test_dotenv_quotes_each_value_in_a_form_both_readers_share_or_lists_it() -> None:
    secrets = {
        "A": "plain $HOME `x`",
        "B": "it's",
        "C": "it's $HOME",
        "D": 'C:\\new\\ "q"',
        "E": "${HOME}",
        "F": "a\r\nb",
        "G": "line 1\nline 2",
        "a.b": "x",
    }
    assert formats.render(secrets, "dotenv").splitlines() == [
        "A='plain $HOME `x`'",
        'B="it\'s"',
        'D="C:\\\\new\\\\ \\"q\\""',
        "G='line 1",
        "line 2'",
        "# not exported (not shell variable names): a.b",
        "# not exported (no quoting python-dotenv and a POSIX shell both read back; use format=shell or json): C E F",
    ]


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
