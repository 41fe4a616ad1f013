"""`strongroom run`'s own HTTP/1.1 client, as pure logic: URLs, answers and refusals."""

from __future__ import annotations

import pytest

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
