"""Password policy, session tokens and the CSRF rule (security/passwords.py, security/sessions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from strongroom import ids
from strongroom.errors import Unauthorized
from strongroom.security import passwords, sessions

SECRET = "unit-session-secret-0123456789abcdef"


@pytest.mark.parametrize(
    ("password", "issue"),
    [
        ("short-pw-1", "at least 12"),
        ("x" * 300, "at most 256"),
        ("password1234", "easy to guess"),
        ("qwertyuiop123", "easy to guess"),
        ("alice.smith-Quartz-9!", "email"),
        ("ALICE.SMITH@EXAMPLE.COM-9x", "email"),
    ],
)
def test_a_weak_password_is_refused_with_a_reason(password: str, issue: str) -> None:
    refusal = passwords.refusal(password, email="alice.smith@example.com")
    assert refusal is not None
    assert issue in refusal.issue
    assert password not in refusal.issue


def test_a_strong_password_passes() -> None:
    assert passwords.refusal("plover-quartz-umbrella-9", email="alice@example.com") is None


def test_hashes_are_argon2id_at_owasp_parameters_and_verify() -> None:
    hashed = passwords.hash_password("plover-quartz-umbrella-9")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(hashed, "plover-quartz-umbrella-9")
    assert not passwords.verify(hashed, "plover-quartz-umbrella-8")
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("not-a-hash", "anything")


def test_a_weaker_hash_needs_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("plover-quartz-umbrella-9")
    assert passwords.needs_rehash(weak)
    assert passwords.verify(weak, "plover-quartz-umbrella-9")


def _ids() -> tuple[str, str]:
    return ids.new_id("usr"), ids.new_id("ses")


def test_a_minted_token_verifies_with_its_jti_and_expiry() -> None:
    user_id, session_id = _ids()
    now = datetime.now(UTC)
    token, expires = sessions.mint(user_id, session_id, now, secret=SECRET)
    assert expires - now == timedelta(hours=12)
    assert sessions.is_session_token(token)
    claims = sessions.verify(token, secret=SECRET)
    assert (claims.user_id, claims.session_id) == (user_id, session_id)


def test_another_key_an_expired_token_or_a_foreign_alg_is_refused() -> None:
    user_id, session_id = _ids()
    token, _ = sessions.mint(user_id, session_id, datetime.now(UTC), secret=SECRET)
    with pytest.raises(Unauthorized):
        sessions.verify(token, secret="another-deployment-secret-000000")
    old, _ = sessions.mint(user_id, session_id, datetime.now(UTC) - timedelta(hours=13), secret=SECRET)
    with pytest.raises(Unauthorized):
        sessions.verify(old, secret=SECRET)
    unsigned = jwt.encode({"sub": user_id, "jti": session_id}, key=None, algorithm="none")  # type: ignore[arg-type]
    assert not sessions.is_session_token(unsigned)
    with pytest.raises(Unauthorized):
        sessions.verify(unsigned, secret=SECRET)


def test_a_token_without_a_session_jti_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "strongroom", "aud": "strongroom:session", "sub": ids.new_id("usr"), "iat": now, "exp": now + 60}
    key = sessions._key(SECRET)
    for jti in (None, "not-an-id", ids.new_id("pat")):
        token = jwt.encode({**claims, **({"jti": jti} if jti else {})}, key, algorithm="HS256")
        with pytest.raises(Unauthorized):
            sessions.verify(token, secret=SECRET)


def test_no_signing_secret_fails_loudly() -> None:
    from strongroom.config import ConfigError

    with pytest.raises(ConfigError):
        sessions.mint(*_ids(), datetime.now(UTC), secret="")


@pytest.mark.parametrize(
    ("method", "headers", "ok"),
    [
        ("GET", {}, True),
        ("HEAD", {}, True),
        ("POST", {}, False),
        ("DELETE", {"x-requested-with": "XMLHttpRequest"}, False),
        ("PATCH", {"x-requested-with": "strongroom"}, True),
        ("PUT", {"x-requested-with": "Strongroom"}, True),
    ],
)
def test_the_csrf_rule(method: str, headers: dict[str, str], ok: bool) -> None:
    assert sessions.csrf_ok(method, headers) is ok


def test_the_session_cookie_is_found_among_others() -> None:
    assert sessions.cookie_value(["a=1", "sr_session=tok", "b=2"]) == "tok"
    assert sessions.cookie_value(["sr_session=", "x=y"]) is None
    assert sessions.cookie_value([]) is None


def test_a_mailed_token_never_begins_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # a leading "-" would read as an option after `strongroom reset-password`
    from strongroom.domain import account_mail

    drawn = iter(["-starts-with-a-dash-0000000000000000000000000", "Ok-token-0000000000000000000000000000000000"])
    monkeypatch.setattr(account_mail.secrets, "token_urlsafe", lambda _n: next(drawn))
    assert account_mail._new_token() == "Ok-token-0000000000000000000000000000000000"
