"""The end-to-end suites against published vectors (the `cryptography-vectors` package): HPKE
base mode DHKEM(X25519)/HKDF-SHA256/AES-256-GCM against RFC 9180's, X-Wing (KEM 0x647A) key
derivation and decapsulation against the hpke-pq vectors, ML-KEM-768 against the FIPS 203
known-answer tests. A handful of each: the point is the byte format, not the primitives."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from strongroom_cli import e2e

VECTORS = Path(cryptography_vectors.__file__).parent
# The public single-shot API has no AAD, and the vectors' first encryption has one ("Count-0"):
# the vectors are checked with the module's AAD-taking form of the same call.
_decrypt_with_aad = rust_openssl.hpke._decrypt_with_aad


def _hpke(name: str) -> list[dict[str, Any]]:
    return json.loads((VECTORS / "HPKE" / name).read_text())  # type: ignore[no-any-return]


def _rfc9180_x25519() -> list[dict[str, Any]]:
    wanted = [
        v for v in _hpke("test-vectors.json") if (v["mode"], v["kem_id"], v["kdf_id"], v["aead_id"]) == (0, 0x20, 1, 2)
    ]
    return wanted[:1]


def _xwing() -> list[dict[str, Any]]:
    return [v for v in _hpke("hpke-pq-test-vectors.json") if int(v["kem_id"]) == 0x647A and int(v["mode"]) == 0]


def _kats(count: int) -> list[dict[str, bytes]]:
    out: list[dict[str, bytes]] = []
    entry: dict[str, bytes] = {}
    for line in (VECTORS / "asymmetric" / "MLKEM" / "kat_MLKEM_768.rsp").read_text().splitlines():
        name, _, value = line.partition(" = ")
        if name == "count" and entry:
            out.append(entry)
            entry = {}
            if len(out) == count:
                break
        elif value and name != "count":
            entry[name] = bytes.fromhex(value)
    return out


@pytest.mark.parametrize("vector", _rfc9180_x25519())
def test_x25519_suite_matches_rfc9180(vector: dict[str, Any]) -> None:
    """Given RFC 9180's recipient key, the suite derives its public key and opens the vector's
    first encryption; a grant it seals opens with the same key."""
    pair = e2e.keypair("x25519", bytes.fromhex(vector["skRm"]))
    assert pair.public_bytes.hex() == vector["pkRm"]
    first = vector["encryptions"][0]
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    sealed = bytes.fromhex(vector["enc"] + first["ct"])
    opened = _decrypt_with_aad(suite, sealed, pair.private, bytes.fromhex(vector["info"]), bytes.fromhex(first["aad"]))
    assert opened.hex() == first["pt"]
    wrapped = e2e.seal_grant("x25519", pair.public_bytes, b"k" * 32, env_id="env_x", key_version=1)
    assert e2e.open_grant(pair, wrapped, env_id="env_x", key_version=1) == b"k" * 32


@pytest.mark.parametrize("vector", _xwing()[:2], ids=lambda v: f"kdf{v['kdf_id']}-aead{v['aead_id']}")
def test_xwing_keys_and_kem_match_hpke_pq(vector: dict[str, Any]) -> None:
    """Given the hpke-pq X-Wing vectors' 32-byte seed, the suite's SHAKE-256 expansion gives the
    vector's public key, and the key opens the vector's first encryption (its KEM and AEAD)."""
    pair = e2e.keypair("xwing", bytes.fromhex(vector["skRm"]))
    assert pair.public_bytes.hex() == vector["pkRm"]
    assert len(pair.public_bytes) == e2e.PUBLIC_KEY_BYTES["xwing"]
    aead = {1: hpke.AEAD.AES_128_GCM, 2: hpke.AEAD.AES_256_GCM, 3: hpke.AEAD.CHACHA20_POLY1305}[int(vector["aead_id"])]
    kdf = {1: hpke.KDF.HKDF_SHA256, 16: hpke.KDF.SHAKE128, 17: hpke.KDF.SHAKE256}[int(vector["kdf_id"])]
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, kdf, aead)
    first = vector["encryptions"][0]
    sealed = bytes.fromhex(vector["enc"] + first["ct"])
    opened = _decrypt_with_aad(suite, sealed, pair.private, bytes.fromhex(vector["info"]), bytes.fromhex(first["aad"]))
    assert opened.hex() == first["pt"]


def test_there_are_xwing_vectors() -> None:
    assert _xwing(), "cryptography-vectors holds no X-Wing vectors"


@pytest.mark.parametrize("kat", _kats(3), ids=lambda k: k["pk"][:4].hex())
def test_mlkem768_matches_fips203_kats(kat: dict[str, bytes]) -> None:
    """ML-KEM-768 from the KAT's seed d ‖ z: its encapsulation key, and decapsulating the KAT's
    ciphertext gives its shared secret."""
    key = mlkem.MLKEM768PrivateKey.from_seed_bytes(kat["d"] + kat["z"])
    assert key.public_key().public_bytes_raw() == kat["pk"]
    assert key.decapsulate(kat["ct"]) == kat["ss"]


def test_xwing_grant_binds_environment_and_key_version() -> None:
    """A grant sealed for one environment and key version does not open for another."""
    from cryptography.exceptions import InvalidTag

    pair = e2e.keypair("xwing")
    wrapped = e2e.seal_grant("xwing", pair.public_bytes, b"d" * 32, env_id="env_a", key_version=2)
    assert e2e.open_grant(pair, wrapped, env_id="env_a", key_version=2) == b"d" * 32
    for env_id, version in (("env_b", 2), ("env_a", 1)):
        with pytest.raises(InvalidTag):
            e2e.open_grant(pair, wrapped, env_id=env_id, key_version=version)


def test_value_ciphertext_binds_its_place() -> None:
    from cryptography.exceptions import InvalidTag

    key = e2e.new_data_key()
    value = e2e.encrypt_value(key, "hunter2", org_id="org_a", env_id="env_a", key="DB", key_version=1)
    assert e2e.decrypt_value(key, value, org_id="org_a", env_id="env_a", key="DB", key_version=1) == "hunter2"
    with pytest.raises(InvalidTag):
        e2e.decrypt_value(key, value, org_id="org_a", env_id="env_a", key="OTHER", key_version=1)


def test_client_made_token_is_what_the_server_parses() -> None:
    """A token made from the contract's rules alone passes the server's format check."""
    from strongroom.domain import tokens

    token_id = e2e.new_id("tok")
    token = e2e.service_token(token_id)
    assert tokens.parse(token) == token_id
    assert e2e.token_hash(token) == tokens.digest(token)
    assert e2e.token_keypair(token).public_bytes == e2e.token_keypair(token).public_bytes
    x = x25519.X25519PrivateKey.generate()
    assert len(x.public_key().public_bytes_raw()) == e2e.PUBLIC_KEY_BYTES["x25519"]


CHEAP = {"m": 1024, "t": 1, "p": 1}  # the format, not the cost (the default is RFC 9106's 64 MiB, t=3, p=4)


def test_a_private_key_at_rest_opens_with_its_passphrase_only() -> None:
    pair = e2e.keypair("xwing")
    sealed = e2e.seal_private_key(pair, "correct horse battery staple", params=CHEAP)
    record = json.loads(base64.b64decode(sealed))
    assert (record["kdf"], record["m"], record["t"], record["p"]) == ("argon2id", 1024, 1, 1)  # recorded
    assert e2e.ARGON2_DEFAULTS == {"m": 65536, "t": 3, "p": 4}  # what `keys init` seals with: RFC 9106
    assert pair.seed.hex() not in sealed
    opened = e2e.open_private_key("xwing", pair.public_bytes, sealed, "correct horse battery staple")
    assert opened.public_bytes == pair.public_bytes
    with pytest.raises(e2e.WrongPassphrase):
        e2e.open_private_key("xwing", pair.public_bytes, sealed, "wrong")
    other = e2e.keypair("xwing")
    with pytest.raises(e2e.WrongPassphrase):  # bound to its public key (and suite)
        e2e.open_private_key("xwing", other.public_bytes, sealed, "correct horse battery staple")
