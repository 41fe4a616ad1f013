"""TOTP (security/totp.py) against RFC 6238 Appendix B's SHA-1 vectors, and its replay window."""

from __future__ import annotations

import base64

import pytest

from strongroom.security import totp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("epoch", "code"), VECTORS)
def test_rfc_6238_sha1_vectors(epoch: int, code: str) -> None:
    assert totp.code_at(RFC_SECRET, epoch, digits=8) == code
    # six digits are the same value's last six (the dynamic truncation mod 10^6)
    assert totp.code_at(RFC_SECRET, epoch) == code[-6:]


def test_a_code_matches_its_step_and_its_neighbours_only() -> None:
    epoch = 1111111111
    step = epoch // 30
    assert totp.matched_step(RFC_SECRET, totp.code_at(RFC_SECRET, epoch), epoch) == step
    assert totp.matched_step(RFC_SECRET, totp.code_at(RFC_SECRET, epoch - 30), epoch) == step - 1
    assert totp.matched_step(RFC_SECRET, totp.code_at(RFC_SECRET, epoch + 30), epoch) == step + 1
    assert totp.matched_step(RFC_SECRET, totp.code_at(RFC_SECRET, epoch - 90), epoch) is None
    assert totp.matched_step(RFC_SECRET, "12345", epoch) is None


def test_recovery_codes_are_random_and_hashed_alike_in_any_case() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(totp.is_recovery_code(c) for c in codes)
    assert totp.recovery_digest(codes[0].upper().replace("-", "")) == totp.recovery_digest(codes[0])
