"""A TCP listener that records every byte a CLI process sends it: a stand-in for a host that
must not see a token, or for a server that gives one fixed answer."""

from __future__ import annotations

import contextlib
import socket
import threading

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def json_answer(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


class Capture:
    """A TCP listener that records what each connection sends, and gives each the same answer."""

    def __init__(self, host: str = "127.0.0.1", answer: bytes = NOT_FOUND) -> None:
        self.answer = answer
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.listener.settimeout(0.2)
        port = self.listener.getsockname()[1]
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.received: list[bytes] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                        data += chunk
                self.received.append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(self.answer)

    def seen(self) -> bytes:
        return b"".join(self.received)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self.listener.close()
