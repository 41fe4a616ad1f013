"""Password accounts and sessions: register, login, logout, change-password."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from auth_api import mail
from strongroom import clock
from strongroom.domain import accounts
from strongroom.http.app import build_app, make_handler
from strongroom.http.envelope import JSON
from strongroom.http.params import created
from strongroom.models import ChangePassword, Login, LoginResult, Register, Registered
from strongroom.security.sessions import COOKIE

app = build_app()
app.include_router(mail.router)


def _cookie(value: str, max_age: int) -> Cookie:
    return Cookie(
        name=COOKIE, value=value, path="/", secure=True, http_only=True, same_site=SameSite.LAX_MODE, max_age=max_age
    )


@app.post("/v1/auth/register", responses={201: {"description": "Registered (or the email was taken: the same)"}})
def register_account(body: Register) -> Response[Registered]:
    """No credentials. An email somebody holds answers the same and changes nothing."""
    return created(accounts.register(body))


@app.post("/v1/auth/login", responses={200: {"description": "Signed in; the token is also the sr_session cookie"}})
def login(body: Login) -> Response[LoginResult]:
    """No credentials. A wrong password and an unknown email are the same 401 invalid_credentials."""
    result = accounts.login(body)
    max_age = int((clock.parse(result.expires_at) - datetime.now(UTC)).total_seconds())
    return Response(status_code=200, content_type=JSON, body=result, cookies=[_cookie(result.token, max_age)])


@app.post("/v1/auth/logout", responses={204: {"description": "The session is over"}})
def logout() -> Response[str]:
    accounts.logout()
    return Response(status_code=204, body="", cookies=[_cookie("", 0)])


@app.post("/v1/auth/change-password", responses={204: {"description": "Changed; every other session is over"}})
def change_password(body: ChangePassword) -> Response[str]:
    accounts.change_password(body)
    return Response(status_code=204, body="")


lambda_handler = make_handler(app)
