"""Passwords: the policy a new one must meet, and Argon2id hashing (argon2-cffi).

Parameters are OWASP's minimum for Argon2id (19 MiB, t=2, p=1), about 33-40 ms a hash on a
Lambda-class core (bench/login.py). A hash made with weaker parameters is re-hashed on the next
successful login (`needs_rehash`). Nothing here logs, echoes or stores a password in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes any length; the estimator is quadratic: bound what it sees
MIN_SCORE = 3  # zxcvbn's 0-4 scale: 3 is "safely unguessable" (about 10^8 guesses and more)
_ESTIMATED_CHARS = 100
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type  # noqa: PLC0415 - only the auth routes load it

    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID)


@cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows: verified against when the email has no password, so that an
    unknown email costs the same Argon2 time as a wrong password."""
    import secrets  # noqa: PLC0415

    return _hasher().hash(secrets.token_urlsafe(32))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`; with no hash, False after the same work."""
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    try:
        return _hasher().verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a new password is refused (never the password)."""

    issue: str


def refusal(password: str, *, email: str, name: str = "") -> Refusal | None:
    """None when `password` may be set for this account, else why not: too short or too long,
    containing the email (or its local part), or guessable (zxcvbn score below MIN_SCORE, with the
    account's email and name as known words)."""
    if len(password) < MIN_LENGTH:
        return Refusal(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        return Refusal(f"must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    local = email.lower().split("@", 1)[0]
    if email.lower() in lowered or (len(local) >= 3 and local in lowered):
        return Refusal("must not contain your email address")
    from zxcvbn import zxcvbn  # noqa: PLC0415 - only the auth routes load it

    inputs = [w for w in (email.lower(), local, *name.lower().split()) if w]
    if int(zxcvbn(password[:_ESTIMATED_CHARS], user_inputs=inputs)["score"]) < MIN_SCORE:
        return Refusal("is too easy to guess: use a longer phrase of unrelated words, or a password manager")
    return None
