"""The local, encrypted cache of the last values `run` received for an environment, so that an
unchanged environment costs one 304 and `run --fallback` works with the server unreachable.

One file per (API URL, credential), named `<owner>-<hash>.bin`: `owner` is a domain-separated
hash of the credential (not the SHA-256 the server stores), so that `logout` can remove that
credential's files without knowing every URL they were for. The file's modification time is when
the server last confirmed its values (a 200 writes it, a 304 touches it): `--cache-max-age`
measures that. Layout:

    b"SR2\\n" ETag b"\\n" nonce(12) AES-256-GCM(values)

The ETag stays readable so that `run` can send its request before it pays for AES (see run.py);
it is not secret (environment IDs and revision numbers) and it is bound as associated data with
the file name, so an edited ETag or a file moved to another name does not decrypt. The key is
HKDF-SHA256 of the credential: without the token the values are noise. The values are
`key NUL value NUL …` (keys are [A-Za-z_][A-Za-z0-9_]*; the API refuses NUL in values, and an
environment variable cannot hold one either), which needs no JSON parser to read.

Standard library only at import, and the small built-in SHA-256 (`_sha2`) rather than hashlib,
whose OpenSSL binding costs `run` 2 ms to load.
"""

from __future__ import annotations

import os
import time

from strongroom_cli.config import cache_dir, write_private

TYPE_CHECKING = False  # typing costs `run` 2 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from typing import Protocol

    class _AEAD(Protocol):
        def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
        def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    from hashlib import sha256
else:
    try:
        from _sha2 import sha256
    except ImportError:  # a CPython built without its own hashes
        from hashlib import sha256

MAGIC = b"SR2\n"
NONCE = 12
_BLOCK = 64  # SHA-256's block size, for HMAC


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """RFC 2104 HMAC-SHA256 (hmac.new would load OpenSSL through hashlib)."""
    if len(key) > _BLOCK:
        key = sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def derive_key(credential: str) -> bytes:
    """HKDF-SHA256 (RFC 5869), one 32-byte block: extract with a fixed salt, expand with "cache"."""
    prk = hmac_sha256(b"strongroom-cli-cache", credential.encode())
    return hmac_sha256(prk, b"cache\x01")


def owner(credential: str) -> str:
    """The file-name prefix of a credential's cache files."""
    return sha256(b"strongroom-cli-cache-owner\n" + credential.encode()).hexdigest()[:16]


def name(url: str, credential: str) -> str:
    credential_hash = sha256(credential.encode()).hexdigest()
    return f"{owner(credential)}-{sha256(f'{url}\n{credential_hash}'.encode()).hexdigest()[:40]}.bin"


def path(url: str, credential: str) -> str:
    return os.path.join(cache_dir(), name(url, credential))


def aesgcm(key: bytes) -> _AEAD:
    """AES-GCM from cryptography's compiled core (3 ms to import instead of 14 ms through its
    public module); the public class if that ever moves."""
    try:
        from cryptography.hazmat.bindings._rust import openssl  # noqa: PLC0415

        aead: _AEAD = openssl.aead.AESGCM(key)
    except (ImportError, AttributeError):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        aead = AESGCM(key)
    return aead


def _aad(file: str, etag: str) -> bytes:
    """What the ciphertext is bound to: the file's name and the ETag stored beside it."""
    return os.path.basename(file).encode() + b"\n" + etag.encode()


class Entry:
    """A cache file read but not yet decrypted: the ETag is usable at once, the values on demand."""

    __slots__ = ("_blob", "_file", "confirmed", "etag")

    def __init__(self, file: str, etag: str, blob: bytes, confirmed: float = 0.0) -> None:
        self._file = file
        self.etag = etag
        self._blob = blob
        self.confirmed = confirmed  # when the server last confirmed these values (the file's mtime)

    def age(self) -> float:
        return max(0.0, time.time() - self.confirmed)

    def values(self, credential: str) -> dict[str, str] | None:
        """The cached values, or None when the file is not ours or was altered."""
        try:
            plain = aesgcm(derive_key(credential)).decrypt(
                self._blob[:NONCE], self._blob[NONCE:], _aad(self._file, self.etag)
            )
            fields = plain.decode("utf-8").split("\0")
        except Exception:  # noqa: BLE001 - InvalidTag (not ours, or altered), bad UTF-8: no cache
            return None
        if fields == [""]:
            return {}
        if len(fields) % 2:
            return None
        return dict(zip(fields[::2], fields[1::2], strict=True))


def read(url: str, credential: str) -> Entry | None:
    """The cache file for (url, credential), or None (missing, or not this format)."""
    file = path(url, credential)
    try:
        with open(file, "rb") as handle:
            raw = handle.read()
            confirmed = os.fstat(handle.fileno()).st_mtime
    except OSError:
        return None
    if not raw.startswith(MAGIC):
        return None
    tag, newline, blob = raw[len(MAGIC) :].partition(b"\n")
    if not newline or len(blob) < NONCE + 16 or not tag.isascii():
        return None
    return Entry(file, tag.decode("ascii"), blob, confirmed)


def touch(url: str, credential: str) -> None:
    """The server confirmed the cached values (304): their age starts again."""
    try:  # noqa: SIM105 - contextlib costs `run` an import
        os.utime(path(url, credential))
    except OSError:
        pass


def clear(*, older_than: float | None = None, credential: str | None = None) -> int:
    """Remove cache files (those older than `older_than` seconds, or one credential's); how many."""
    folder = cache_dir()
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    prefix = f"{owner(credential)}-" if credential is not None else ""
    removed = 0
    now = time.time()
    for entry in names:
        if not entry.endswith((".bin", ".tmp")) or not entry.startswith(prefix):
            continue
        file = os.path.join(folder, entry)
        try:
            if older_than is not None and now - os.stat(file).st_mtime < older_than:
                continue
            os.unlink(file)
            removed += 1
        except OSError:
            continue
    return removed


def save(url: str, credential: str, etag: str, values: dict[str, str]) -> None:
    if any("\0" in part for pair in values.items() for part in pair):
        return  # not representable (and not a possible environment variable): no cache
    if not etag.isascii() or "\n" in etag:
        etag = ""  # not something this cache can revalidate with: keep the values only
    file = path(url, credential)
    nonce = os.urandom(NONCE)
    plain = "\0".join(part for pair in values.items() for part in pair).encode("utf-8")
    sealed = aesgcm(derive_key(credential)).encrypt(nonce, plain, _aad(file, etag))
    write_private(file, MAGIC + etag.encode("ascii") + b"\n" + nonce + sealed)
