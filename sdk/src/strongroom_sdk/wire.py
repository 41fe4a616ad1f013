"""One HTTP/1.1 exchange with the Strongroom API, standard library only, shared by the SDK and
the CLI's `run` (which must start fast: no `socket.py`, `urllib`, `http.client` for plain HTTP,
`typing` or `dataclasses` at import).

`send(method, url, headers, body)` sends the request now and returns a function that waits for
the answer `(status, headers lower-cased, body)`, so that a caller can work while the server
does. Plain HTTP goes over a raw socket (`Connection: close`); https over `http.client` with the
default TLS context (certificates and host names verified). Nothing follows a redirect.
"""

from __future__ import annotations

import _socket

TYPE_CHECKING = False  # typing costs `run` 2 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

    Response = tuple[int, dict[str, str], bytes]

TIMEOUT = 10.0
_HOST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_IPV6 = frozenset("0123456789abcdefABCDEF:.")


class WireError(ValueError):
    """A URL, a header or an answer this client will not handle (not a network failure: OSError)."""


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of an absolute http(s) URL (urllib.parse costs `run` 5 ms).

    Strict, because the host decides where a credential goes: a scheme other than http(s), user
    info (`http://127.0.0.1@elsewhere`), a host that is not a DNS name or an IP literal, a port
    that is not a number, or a backslash, space or fragment: WireError."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if authority.startswith("["):  # [IPv6]:port
        host, bracket, port = authority[1:].partition("]")
        ok_host = bool(bracket) and bool(host) and all(c in _IPV6 for c in host)
        if port and not port.startswith(":"):
            ok_host = False
        port = port.removeprefix(":")
    else:
        host, _, port = authority.partition(":")
        ok_host = bool(host) and all(c in _HOST for c in host)
    ok_port = not port or (port.isascii() and port.isdigit() and 0 < int(port) < 65536)
    ok_path = all(c.isascii() and c.isprintable() and c not in " \\#" for c in path)
    if not (sep and scheme in {"http", "https"} and ok_host and ok_port and ok_path):
        raise WireError(f"{url!r} is not an http(s) URL of a host (http://HOST[:PORT][/PATH])")
    default = 443 if scheme == "https" else 80
    return scheme, host, int(port) if port else default, slash + path


def send(url: str, headers: dict[str, str], *, method: str = "GET", body: bytes = b"") -> Callable[[], Response]:
    """Send a request now; the returned function waits for the answer."""
    scheme, host, port, target = split_url(url)
    all_headers = {"Accept": "application/json", **headers}
    if body:
        all_headers.setdefault("Content-Type", "application/json")
    if not all(v.isascii() and v.isprintable() for v in all_headers.values()):
        raise WireError("a header holds characters an HTTP header cannot carry")
    if scheme == "https":
        import http.client  # noqa: PLC0415 - TLS needs it (and ssl); plain HTTP does not

        conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
        conn.request(method, target, body=body or None, headers=all_headers)

        def receive_tls() -> Response:
            try:
                resp = conn.getresponse()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
            except http.client.HTTPException as exc:  # a malformed answer: as if unreachable
                raise OSError(f"bad HTTP answer: {type(exc).__name__}") from None
            finally:
                conn.close()

        return receive_tls
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    sock = connect(host, port)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    except OSError:
        sock.close()
        raise

    def receive() -> Response:
        try:
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        finally:
            sock.close()
        return parse_response(b"".join(chunks))

    return receive


def connect(host: str, port: int) -> _socket.socket:
    """socket.create_connection without socket.py: each address in turn, with a timeout."""
    name = host.encode("ascii") if host.isascii() else host.encode("idna")  # str would load the idna codec
    error: OSError = OSError(f"{host}: no address")
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(TIMEOUT)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    try:
        status = int(status_line.split(" ", 2)[1])
        if parsed.get("transfer-encoding", "").lower() == "chunked":
            body = dechunk(body)
        elif "content-length" in parsed:
            body = body[: int(parsed["content-length"])]
    except (IndexError, ValueError):
        raise WireError(f"not an HTTP answer: {status_line[:80]!r}") from None
    return status, parsed, body


def dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
