"""TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) through pyotp, and recovery codes.

pyotp has no replay protection: `matched_step` returns the time step a code matched, and the caller
accepts it only above the last step it accepted (kept on the user's TOTP item, advanced by a
conditional update). A code of the previous, current or next step matches (clock skew of ±30 s).
Recovery codes are 10 random codes of 50 bits, shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

DIGITS = 6
PERIOD = 30
ISSUER = "Strongroom"
SKEW_STEPS = 1
RECOVERY_CODES = 10
_CODE = re.compile(r"^[0-9]{6}$")
_RECOVERY = re.compile(r"^[a-z2-7]{5}-?[a-z2-7]{5}$")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    import pyotp  # noqa: PLC0415

    return pyotp.random_base32(32)


def uri(secret: str, account: str) -> str:
    import pyotp  # noqa: PLC0415

    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=ISSUER)


def code_at(secret: str, epoch: int, *, digits: int = DIGITS) -> str:
    """The code of the step holding `epoch` (for tests and clients)."""
    import pyotp  # noqa: PLC0415

    return str(pyotp.TOTP(secret, digits=digits, interval=PERIOD).at(epoch))


def step_of(epoch: int) -> int:
    return epoch // PERIOD


def is_code(value: str) -> bool:
    return bool(_CODE.match(value))


def matched_step(secret: str, code: str, epoch: int) -> int | None:
    """The step (previous, current or next) whose code `code` is, compared in constant time."""
    if not is_code(code):
        return None
    now = step_of(epoch)
    found = None
    for step in range(now - SKEW_STEPS, now + SKEW_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step * PERIOD), code):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    return [_recovery_code() for _ in range(RECOVERY_CODES)]


def _recovery_code() -> str:
    chars = "".join(secrets.choice(_BASE32) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def is_recovery_code(value: str) -> bool:
    return bool(_RECOVERY.match(value.strip().lower()))


def recovery_digest(code: str) -> str:
    normal = code.strip().lower().replace("-", "")
    return hashlib.sha256(normal.encode()).hexdigest()
