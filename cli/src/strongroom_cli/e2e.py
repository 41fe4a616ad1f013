"""End-to-end encryption, client side: the byte formats every client of a client-encrypted
environment shares (docs/design.md, "End-to-end encrypted environments"). The server holds
none of this: it stores public keys, grants and value ciphertexts as opaque bytes.

- Suites (HPKE, RFC 9180, base mode): `xwing` = X-Wing (ML-KEM-768 + X25519, KEM 0x647A) /
  HKDF-SHA256 / AES-256-GCM, the default; `x25519` = DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
  AES-256-GCM.
- Keys: an `xwing` private key is a 32-byte seed, expanded with SHAKE-256 to 96 bytes (the
  ML-KEM-768 seed d ‖ z is the first 64, the X25519 private key the last 32); its public key is
  the ML-KEM encapsulation key (1184 bytes) ‖ the X25519 public key (32 bytes). An `x25519`
  private key is the raw 32 bytes, its public key the raw 32 bytes.
- A grant: the environment's 32-byte data key sealed to a public key, `enc ‖ ciphertext`, with
  `info = "strongroom grant v1:<env_id>:<key_version>"`.
- A value: `base64(nonce(12) ‖ AES-256-GCM(data key, plaintext, aad =
  "<org_id>/<env_id>/<key>/<key_version>"))`.
- A private key at rest (`encrypted_private_key`, opaque to the server): base64 of the JSON
  `{"v": 1, "kdf": "argon2id", "m": KiB, "t": passes, "p": lanes, "salt", "nonce", "ciphertext"}`
  (salt, nonce, ciphertext base64): the 32-byte seed under AES-256-GCM with the Argon2id key of
  the passphrase, AAD `"strongroom private key v1:<suite>:" ‖ public key`, so that a sealed key
  cannot be passed off as another suite's or another key pair's. The parameters travel with it.
- A client-made service token: `tok_` + 26 Crockford base32 characters, and the token
  `sr_svc_<those 26>_<32 base62><6 base62 of the CRC-32 of everything before>`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
import zlib
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Suite = Literal["xwing", "x25519"]
DEFAULT_SUITE: Suite = "xwing"
PUBLIC_KEY_BYTES: dict[str, int] = {"xwing": 1216, "x25519": 32}
SEED_BYTES = 32
DATA_KEY_BYTES = 32
NONCE_BYTES = 12

_SUITES = {
    "xwing": hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    "x25519": hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}

PrivateKey = hpke.MLKEM768X25519PrivateKey | x25519.X25519PrivateKey
PublicKey = hpke.MLKEM768X25519PublicKey | x25519.X25519PublicKey


@dataclass(frozen=True, slots=True)
class KeyPair:
    suite: Suite
    seed: bytes  # what a client keeps (sealed under a passphrase): the 32 bytes the keys derive from
    private: PrivateKey
    public_bytes: bytes


def xwing_expand(seed: bytes) -> tuple[bytes, bytes]:
    """The X-Wing draft's key derivation: SHAKE-256(seed, 96) = ML-KEM seed (64) ‖ X25519 key (32)."""
    if len(seed) != SEED_BYTES:
        raise ValueError("an X-Wing seed is 32 bytes")
    expanded = hashlib.shake_256(seed).digest(96)
    return expanded[:64], expanded[64:]


def keypair(suite: Suite, seed: bytes | None = None) -> KeyPair:
    """The key pair of `seed` (a fresh one without it)."""
    seed = os.urandom(SEED_BYTES) if seed is None else seed
    if suite == "xwing":
        mlkem_seed, x_bytes = xwing_expand(seed)
        mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
        x_key = x25519.X25519PrivateKey.from_private_bytes(x_bytes)
        public = mlkem_key.public_key().public_bytes_raw() + x_key.public_key().public_bytes_raw()
        return KeyPair(suite, seed, hpke.MLKEM768X25519PrivateKey(mlkem_key, x_key), public)
    if suite == "x25519":
        key = x25519.X25519PrivateKey.from_private_bytes(seed)
        return KeyPair(suite, seed, key, key.public_key().public_bytes_raw())
    raise ValueError(f"unknown suite {suite!r}")


def public_key(suite: Suite, raw: bytes) -> PublicKey:
    """A public key from its raw bytes (the contract's encoding)."""
    if len(raw) != PUBLIC_KEY_BYTES.get(suite, -1):
        raise ValueError(f"a {suite} public key is {PUBLIC_KEY_BYTES.get(suite)} bytes")
    if suite == "xwing":
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(raw[:1184]),
            x25519.X25519PublicKey.from_public_bytes(raw[1184:]),
        )
    return x25519.X25519PublicKey.from_public_bytes(raw)


def grant_info(env_id: str, key_version: int) -> bytes:
    return f"strongroom grant v1:{env_id}:{key_version}".encode()


def seal_grant(suite: Suite, public: bytes, data_key: bytes, *, env_id: str, key_version: int) -> str:
    """base64(enc ‖ ciphertext): `data_key` sealed to `public` for that environment and key version."""
    sealed = _SUITES[suite].encrypt(data_key, public_key(suite, public), info=grant_info(env_id, key_version))
    return base64.b64encode(sealed).decode()


def open_grant(pair: KeyPair, wrapped_key: str, *, env_id: str, key_version: int) -> bytes:
    """The data key a grant holds (cryptography.exceptions.InvalidTag when it is not for this key)."""
    sealed = base64.b64decode(wrapped_key, validate=True)
    return _SUITES[pair.suite].decrypt(sealed, pair.private, info=grant_info(env_id, key_version))


def value_aad(org_id: str, env_id: str, key: str, key_version: int) -> bytes:
    return f"{org_id}/{env_id}/{key}/{key_version}".encode()


def encrypt_value(data_key: bytes, plaintext: str, *, org_id: str, env_id: str, key: str, key_version: int) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), value_aad(org_id, env_id, key, key_version))
    return base64.b64encode(nonce + sealed).decode()


def decrypt_value(data_key: bytes, value: str, *, org_id: str, env_id: str, key: str, key_version: int) -> str:
    blob = base64.b64decode(value, validate=True)
    aad = value_aad(org_id, env_id, key, key_version)
    return AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad).decode()


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_BYTES)


# --------------------------------------------------------------------------- private keys at rest

# RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes): about half a second here.
ARGON2_DEFAULTS = {"m": 65536, "t": 3, "p": 4}


class WrongPassphrase(ValueError):
    """The passphrase does not open this sealed key (or the sealed key was altered)."""


def _passphrase_key(passphrase: str, salt: bytes, m: int, t: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # noqa: PLC0415

    return Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(passphrase.encode())


def _private_aad(pair_suite: str, public: bytes) -> bytes:
    return f"strongroom private key v1:{pair_suite}:".encode() + public


def seal_private_key(pair: KeyPair, passphrase: str, *, params: dict[str, int] | None = None) -> str:
    """The key pair's seed sealed under `passphrase` (Argon2id + AES-256-GCM), parameters recorded."""
    import json  # noqa: PLC0415

    cost = {**ARGON2_DEFAULTS, **(params or {})}
    salt, nonce = os.urandom(16), os.urandom(NONCE_BYTES)
    key = _passphrase_key(passphrase, salt, cost["m"], cost["t"], cost["p"])
    sealed = AESGCM(key).encrypt(nonce, pair.seed, _private_aad(pair.suite, pair.public_bytes))
    record = {"v": 1, "kdf": "argon2id", **cost}
    record |= {"salt": _b64(salt), "nonce": _b64(nonce), "ciphertext": _b64(sealed)}
    return _b64(json.dumps(record, separators=(",", ":")).encode())


def open_private_key(suite: Suite, public: bytes, sealed: str, passphrase: str) -> KeyPair:
    """The key pair a sealed private key holds (WrongPassphrase when it does not open, or when it
    is not the private key of `public`)."""
    import json  # noqa: PLC0415

    from cryptography.exceptions import InvalidTag  # noqa: PLC0415

    try:
        record = json.loads(base64.b64decode(sealed, validate=True))
        if record.get("v") != 1 or record.get("kdf") != "argon2id":
            raise WrongPassphrase("not a sealed private key this client knows")
        key = _passphrase_key(passphrase, base64.b64decode(record["salt"]), record["m"], record["t"], record["p"])
        nonce, ciphertext = base64.b64decode(record["nonce"]), base64.b64decode(record["ciphertext"])
        seed = AESGCM(key).decrypt(nonce, ciphertext, _private_aad(suite, public))
    except (InvalidTag, ValueError, KeyError, TypeError) as exc:
        raise WrongPassphrase("the passphrase does not open this key") from exc
    pair = keypair(suite, seed)
    if pair.public_bytes != public:
        raise WrongPassphrase("the sealed key is not this public key's")
    return pair


def b64(raw: bytes) -> str:
    """The contract's encoding of bytes: standard base64, padded."""
    return base64.b64encode(raw).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


_b64 = b64


# --------------------------------------------------------------------------- ids and tokens

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: Literal["env", "tok"]) -> str:
    """`<prefix>_` + 26 lower-case Crockford base32 characters: 48-bit milliseconds, 80 random bits."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = [_CROCKFORD[(value >> (5 * i)) & 31] for i in range(26)]
    return f"{prefix}_{''.join(reversed(chars))}"


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_B62[digit])
    return "".join(reversed(out))


def service_token(token_id: str) -> str:
    """A service token for `token_id`: `sr_svc_<26>_<32 base62>` + the CRC-32 checksum in 6 base62."""
    body = f"sr_svc_{token_id.removeprefix('tok_')}_{''.join(secrets.choice(_B62) for _ in range(32))}"
    return body + _base62(zlib.crc32(body.encode()), 6)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_keypair(token: str, suite: Suite = DEFAULT_SUITE) -> KeyPair:
    """The key pair of a client-made token, derived from the token string alone (so the token is
    all a CI job needs): the seed is SHA-256("strongroom token key v1:" ‖ token)."""
    return keypair(suite, hashlib.sha256(b"strongroom token key v1:" + token.encode()).digest())
