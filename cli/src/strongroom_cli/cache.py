"""The local, encrypted cache of the last values `run` received for an environment, so that an
unchanged environment costs one 304 and `run --fallback` works with the server unreachable.

One file per (API URL, environment, credential), named by a hash; its content is AES-256-GCM
under a key derived (HKDF-SHA256) from the credential, with the file name as associated data:
without the token the cache is noise, and a file moved to another name does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from strongroom_cli.config import cache_dir

NONCE = 12


def _aesgcm(key: bytes) -> Any:
    """AES-GCM from cryptography's compiled core (3 ms to import instead of 14 ms through its
    public module, which `run` would pay on every start); the public class if that moves."""
    try:
        from cryptography.hazmat.bindings._rust import openssl  # noqa: PLC0415

        return openssl.aead.AESGCM(key)
    except (ImportError, AttributeError):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        return AESGCM(key)


def _hkdf(secret: bytes, info: bytes) -> bytes:
    prk = hmac.new(b"strongroom-cli-cache", secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _name(url: str, credential: str) -> str:
    return hashlib.sha256(f"{url}\n{hashlib.sha256(credential.encode()).hexdigest()}".encode()).hexdigest()[:40]


def _path(url: str, credential: str) -> Path:
    return cache_dir() / f"{_name(url, credential)}.bin"


def load(url: str, credential: str) -> dict[str, Any] | None:
    """{"etag", "values", "saved_at"} or None (missing, unreadable or not ours)."""
    path = _path(url, credential)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    key = _hkdf(credential.encode(), b"cache")
    try:
        plain = _aesgcm(key).decrypt(blob[:NONCE], blob[NONCE:], path.name.encode())
        data: dict[str, Any] = json.loads(plain)
    except Exception:  # noqa: BLE001 - InvalidTag (not ours, or altered) or bad JSON: no cache
        return None
    return data


def save(url: str, credential: str, etag: str, values: dict[str, str]) -> None:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = _path(url, credential)
    key = _hkdf(credential.encode(), b"cache")
    nonce = os.urandom(NONCE)
    body = json.dumps({"etag": etag, "values": values, "saved_at": time.time()}).encode()
    blob = nonce + _aesgcm(key).encrypt(nonce, body, path.name.encode())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    tmp.replace(path)
