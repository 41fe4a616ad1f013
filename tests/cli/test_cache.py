"""The CLI's local cache, as pure logic: what it writes is only readable with the credential that
wrote it, under the name it was written to, with the ETag it was written with."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from strongroom_cli import cache

URL = "http://127.0.0.1:3000/runtime/v1/secrets?format=json"
TOKEN = "sr_svc_" + "a" * 26 + "_" + "b" * 38
VALUES = {"DB_URL": "postgres://db/app", "MULTI": "line one\nline two", "UNICODE": "clé ✓", "EMPTY": ""}


def load(url: str, credential: str) -> tuple[str, dict[str, str]] | None:
    """(ETag, values) as `run` would get them from the cache, or None."""
    entry = cache.read(url, credential)
    values = entry.values(credential) if entry is not None else None
    return (entry.etag, values) if entry is not None and values is not None else None


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "strongroom"


@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_hmac_is_rfc_2104(key: bytes, message: bytes) -> None:
    assert cache.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


def test_the_key_is_hkdf_sha256_of_the_credential() -> None:
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"strongroom-cli-cache", info=b"cache").derive(
        TOKEN.encode()
    )
    assert cache.derive_key(TOKEN) == expected


def test_values_round_trip_and_the_file_holds_no_plaintext(cache_home: Path) -> None:
    cache.save(URL, TOKEN, "ZW52OjE", VALUES)
    assert load(URL, TOKEN) == ("ZW52OjE", VALUES)
    (file,) = cache_home.iterdir()
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    blob = file.read_bytes()
    assert all(v.encode() not in blob for v in VALUES.values() if v)
    assert TOKEN.encode() not in blob
    entry = cache.read(URL, TOKEN)
    assert entry is not None
    assert entry.etag == "ZW52OjE"


def test_an_empty_environment_is_cached_too() -> None:
    cache.save(URL, TOKEN, "e", {})
    assert load(URL, TOKEN) == ("e", {})


def test_another_credential_or_url_finds_nothing() -> None:
    cache.save(URL, TOKEN, "e", VALUES)
    assert load(URL, TOKEN[:-1] + "c") is None
    assert load(URL.replace("3000", "3001"), TOKEN) is None


def test_an_edited_etag_or_body_does_not_decrypt(cache_home: Path) -> None:
    cache.save(URL, TOKEN, "ZW52OjE", VALUES)
    (file,) = cache_home.iterdir()
    original = file.read_bytes()
    file.write_bytes(original.replace(b"ZW52OjE", b"ZW52OjI"))  # claim a newer revision
    entry = cache.read(URL, TOKEN)
    assert entry is not None
    assert entry.etag == "ZW52OjI"
    assert entry.values(TOKEN) is None
    assert load(URL, TOKEN) is None
    flipped = bytearray(original)
    flipped[-1] ^= 1
    file.write_bytes(bytes(flipped))
    assert load(URL, TOKEN) is None


def test_a_file_under_another_name_does_not_decrypt(cache_home: Path) -> None:
    other = "sr_svc_" + "c" * 26 + "_" + "d" * 38
    cache.save(URL, TOKEN, "e", VALUES)
    cache.save(URL, other, "e", {"X": "1"})
    mine, theirs = Path(cache.path(URL, TOKEN)), Path(cache.path(URL, other))
    # the other credential's file copied over ours: neither key nor name matches
    os.replace(theirs, mine)
    assert load(URL, TOKEN) is None


def test_other_formats_and_garbage_are_no_cache(cache_home: Path) -> None:
    cache_home.mkdir(mode=0o700)
    file = Path(cache.path(URL, TOKEN))
    for content in (b"", b"SR2\n", b"SR2\nno-newline", b'{"etag": "x"}', b"SR2\ne\n" + b"\0" * 10):
        file.write_bytes(content)
        assert load(URL, TOKEN) is None, content


def test_a_value_that_cannot_be_an_environment_variable_is_not_cached() -> None:
    cache.save(URL, TOKEN, "e", {"BAD": "a\0b"})
    assert cache.read(URL, TOKEN) is None


@given(
    values=st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40),
        max_size=8,
    )
)
def test_any_environment_round_trips(values: dict[str, str]) -> None:
    cache.save(URL, TOKEN, "tag", values)
    assert load(URL, TOKEN) == ("tag", values)


def test_the_age_is_since_the_server_last_confirmed_and_a_304_renews_it(cache_home: Path) -> None:
    cache.save(URL, TOKEN, "e", VALUES)
    file = Path(cache.path(URL, TOKEN))
    then = file.stat().st_mtime - 100
    os.utime(file, (then, then))
    entry = cache.read(URL, TOKEN)
    assert entry is not None
    assert 99 < entry.age() < 200
    cache.touch(URL, TOKEN)
    entry = cache.read(URL, TOKEN)
    assert entry is not None
    assert entry.age() < 50


def test_clear_by_credential_or_age(cache_home: Path) -> None:
    other = "sr_svc_" + "c" * 26 + "_" + "d" * 38
    cache.save(URL, TOKEN, "e", VALUES)
    cache.save(URL.replace("3000", "3001"), TOKEN, "e", VALUES)
    cache.save(URL, other, "e", VALUES)
    assert Path(cache.path(URL, TOKEN)).name.startswith(cache.owner(TOKEN) + "-")
    assert cache.owner(TOKEN) not in hashlib.sha256(TOKEN.encode()).hexdigest()  # not the server's hash
    assert cache.clear(credential=TOKEN) == 2
    assert cache.read(URL, other) is not None
    theirs = Path(cache.path(URL, other))
    old = theirs.stat().st_mtime - 7200
    os.utime(theirs, (old, old))
    assert cache.clear(older_than=3 * 3600) == 0
    assert cache.clear(older_than=3600) == 1
    assert list(cache_home.iterdir()) == []
