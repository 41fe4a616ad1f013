"""`strongroom run`'s own HTTP/1.1 client and its arguments: URLs, answers and refusals."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cli.conftest import Run
from cli.listener import Capture, json_answer
from strongroom_cli import run


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://127.0.0.1:3000/runtime/v1/secrets?format=json",
            ("http", "127.0.0.1", 3000, "/runtime/v1/secrets?format=json"),
        ),
        ("https://api.example.com/v1/x", ("https", "api.example.com", 443, "/v1/x")),
        ("http://localhost", ("http", "localhost", 80, "")),
        ("http://[::1]:8080/a", ("http", "::1", 8080, "/a")),
        ("https://[2001:db8::1]/a", ("https", "2001:db8::1", 443, "/a")),
    ],
)
def test_urls_split_like_urllib(url: str, expected: tuple[str, str, int, str]) -> None:
    assert run._split(url) == expected


def test_answers_parse_with_length_chunks_or_neither() -> None:
    plain = b'HTTP/1.1 200 OK\r\nETag: "abc"\r\nContent-Length: 2\r\n\r\n{}trailing'
    assert run._parse_response(plain) == (200, {"etag": '"abc"', "content-length": "2"}, b"{}")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert run._parse_response(chunked)[2] == b"abcde"
    assert run._parse_response(b"HTTP/1.1 304 Not Modified\r\n\r\n") == (304, {}, b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage",
        b"HTTP/1.1 abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_what_is_not_http_is_an_error_not_a_trace(raw: bytes) -> None:
    with pytest.raises(run.RunError, match="not an HTTP answer"):
        run._parse_response(raw)


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(run.RunError) as refused:
        run._send("http://127.0.0.1:9/x", {"Authorization": "Bearer a\r\nX-Injected: 1"})
    assert refused.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [["--bogus", "--", "true"], ["--env", "e", "-x", "true"], ["--fallback", "--project=p", "--bogus=1", "--", "true"]],
)
def test_an_unknown_option_before_the_command_is_an_error(argv: list[str]) -> None:
    with pytest.raises(run.RunError) as refused:
        run._parse(argv)
    assert refused.value.code == 2
    assert "no such option" in str(refused.value)


def test_options_then_the_command_with_or_without_the_separator() -> None:
    assert run._parse(["--env", "e", "--json", "--", "ls", "-l"]) == ({"env": "e"}, {"json": True}, ["ls", "-l"])
    assert run._parse(["--fallback", "--org=o", "ls", "--bogus"]) == (
        {"org": "o"},
        {"fallback": True},
        ["ls", "--bogus"],
    )
    assert run._parse(["--env=", "--", "true"]) == ({"env": ""}, {}, ["true"])
    with pytest.raises(run.RunError):  # not an option of run: refused, never ignored
        run._parse(["--daemon", "--", "true"])


def _decoy(folder: Path, name: str) -> Path:
    """An executable called `name` on PATH that leaves a mark if anything runs it."""
    mark = folder / f"{name.strip('-')}.ran"
    program = folder / name
    program.write_text(f"#!/bin/sh\ntouch '{mark}'\n", encoding="utf-8")
    program.chmod(0o755)
    return mark


def test_run_with_an_unknown_option_executes_nothing(offline_cli: Run, tmp_path: Path) -> None:
    server = Capture(answer=json_answer(b'{"secrets": {"A": "1"}, "version": "v1"}'))
    try:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        mark = _decoy(bin_dir, "--bogus")
        env = {
            "STRONGROOM_TOKEN": "sr_svc_test",
            "STRONGROOM_API_URL": server.url,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        }
        done = offline_cli("run", "--bogus", "--", "true", env=env)
        assert not mark.exists(), "`--bogus` was executed"
        assert done.returncode == 2, done.stderr
        assert "no such option: --bogus" in done.stderr
        assert server.received == []  # refused before anything was sent
    finally:
        server.close()


def test_the_groups_options_before_run_reach_it(offline_cli: Run) -> None:
    server = Capture(answer=json_answer(b'{"secrets": {"A": "from-server"}, "version": "v1"}'))
    try:
        printed = offline_cli(
            "--json", "--api-url", server.url, "run", "--", sys.executable, "-c", "import os; print(os.environ['A'])",
            env={"STRONGROOM_TOKEN": "sr_svc_test"},
        )  # fmt: skip
        assert (printed.returncode, printed.stdout) == (0, "from-server\n"), printed.stderr
        assert b"GET /runtime/v1/secrets?format=json " in server.seen()
    finally:
        server.close()
