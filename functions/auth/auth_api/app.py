"""Password accounts and sessions: register, login, logout, change-password."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from auth_api import mail
from strongroom.domain import accounts
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import created
from strongroom.http.session_cookie import session_cookie, signed_in
from strongroom.models import ChangePassword, Login, LoginResult, Register, Registered

app = build_app()
app.include_router(mail.router)


@app.post("/v1/auth/register", responses={201: {"description": "Registered (or the email was taken: the same)"}})
def register_account(body: Register) -> Response[Registered]:
    """No credentials. An email somebody holds answers the same and changes nothing."""
    return created(accounts.register(body))


@app.post("/v1/auth/login", responses={200: {"description": "Signed in; the token is also the sr_session cookie"}})
def login(body: Login) -> Response[LoginResult]:
    """No credentials. A wrong password and an unknown email are the same 401 invalid_credentials."""
    return signed_in(accounts.login(body))


@app.post("/v1/auth/logout", responses={204: {"description": "The session is over"}})
def logout() -> Response[str]:
    accounts.logout()
    return Response(status_code=204, body="", cookies=[session_cookie("", 0)])


@app.post("/v1/auth/change-password", responses={204: {"description": "Changed; every other session is over"}})
def change_password(body: ChangePassword) -> Response[str]:
    accounts.change_password(body)
    return Response(status_code=204, body="")


lambda_handler = make_handler(app)
