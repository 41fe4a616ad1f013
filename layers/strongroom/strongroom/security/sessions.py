"""Session tokens: HS256 JWTs signed with a key derived from the stack's session secret.

A token says who (`sub`), which session (`jti`: the session item that logout and password
changes delete or outdate) and until when (`exp`, absolute: 12 hours from login). The token is
only half of it: `authenticate` also needs its session item (domain/accounts.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strongroom.config import ConfigError, settings
from strongroom.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "strongroom"
AUDIENCE = "strongroom:session"
KEY_ID = "session-v1"
LIFETIME = timedelta(hours=12)
COOKIE = "sr_session"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "strongroom"
_LEEWAY_SECONDS = 5


def _key(secret: str | None = None) -> bytes:
    secret = secret if secret is not None else settings().session_signing_key
    if len(secret) < 16:
        raise ConfigError("invalid or missing configuration: SESSION_SIGNING_KEY")
    # Derived, so the stack's secret is never itself an HMAC key of some other use.
    return hmac.new(secret.encode(), b"strongroom session token v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    session_id: str
    expires_at: datetime


def mint(user_id: str, session_id: str, issued_at: datetime, *, secret: str | None = None) -> tuple[str, datetime]:
    import jwt  # noqa: PLC0415

    expires = issued_at + LIFETIME
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "jti": session_id,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, _key(secret), algorithm=ALGORITHM, headers={"kid": KEY_ID}), expires


def is_session_token(token: str) -> bool:
    """Whether this JWT is (meant as) one of ours: HS256 with our kid. OIDC tokens are never HS256."""
    import jwt  # noqa: PLC0415

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return header.get("alg") == ALGORITHM and header.get("kid") == KEY_ID


def verify(token: str, *, secret: str | None = None) -> Claims:
    """The claims of a token this stack signed and that has not expired; else 401 (generic)."""
    import jwt  # noqa: PLC0415

    from strongroom import ids  # noqa: PLC0415

    try:
        raw: dict[str, Any] = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid or expired session") from None
    user_id, session_id = str(raw["sub"]), str(raw["jti"])
    if not ids.is_id(user_id, "usr") or not ids.is_id(session_id, "ses"):
        raise Unauthorized("invalid or expired session")
    from datetime import UTC  # noqa: PLC0415

    return Claims(user_id, session_id, datetime.fromtimestamp(int(raw["exp"]), UTC))


def cookie_value(cookies: list[str] | tuple[str, ...], name: str = COOKIE) -> str | None:
    """The `sr_session` cookie (or the one named) of the request (HTTP API v2 `cookies`: "name=value" strings)."""
    for cookie in cookies:
        found, sep, value = cookie.partition("=")
        if sep and found.strip() == name and value.strip():
            return value.strip()
    return None


def csrf_ok(method: str, headers: Mapping[str, str]) -> bool:
    """A cookie-authenticated request may mutate only with `X-Requested-With: strongroom` (a header
    a cross-site form cannot send, and a cross-site script cannot without a CORS preflight)."""
    if method.upper() not in {"POST", "PUT", "PATCH", "DELETE"}:
        return True
    return str(headers.get(CSRF_HEADER, "")).strip().lower() == CSRF_VALUE
