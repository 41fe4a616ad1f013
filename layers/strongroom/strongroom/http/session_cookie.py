"""The answer of a sign-in (password login, single sign-on): the `sr_session` cookie carrying the
session token, with the JSON body, or with a redirect to the console."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from strongroom import clock
from strongroom.http.envelope import JSON
from strongroom.models import LoginResult
from strongroom.security.sessions import COOKIE


def cookie(name: str, value: str, max_age: int, *, path: str = "/") -> Cookie:
    return Cookie(
        name=name, value=value, path=path, secure=True, http_only=True, same_site=SameSite.LAX_MODE, max_age=max_age
    )


def session_cookie(value: str, max_age: int) -> Cookie:
    return cookie(COOKIE, value, max_age)


def _max_age(result: LoginResult) -> int:
    return int((clock.parse(result.expires_at) - datetime.now(UTC)).total_seconds())


def signed_in(result: LoginResult, *, extra: list[Cookie] | None = None) -> Response[Any]:
    """200 with `{token, expires_at, user}` and the session cookie."""
    cookies = [session_cookie(result.token, _max_age(result)), *(extra or [])]
    return Response(status_code=200, content_type=JSON, body=result, cookies=cookies)


def signed_in_redirect(result: LoginResult, location: str, *, extra: list[Cookie] | None = None) -> Response[str]:
    """303 to `location` (the console) with the session cookie; the token is in the cookie only."""
    cookies = [session_cookie(result.token, _max_age(result)), *(extra or [])]
    return Response(
        status_code=303, body="", headers={"Location": location, "Cache-Control": "no-store"}, cookies=cookies
    )
