"""Password accounts and sessions (/v1/auth/register, login, logout, change-password)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Email, Name, Request, Response

# Never shown by repr or logs; the policy (security/passwords.py) decides what a new one may be.
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class Register(Request):
    email: Email
    password: Password
    name: Name | None = None


class Login(Request):
    email: Email
    password: Password
    totp_code: Annotated[SecretStr, Field(max_length=16)] | None = Field(
        default=None, description="With 2FA on: a current 6-digit code, or a recovery code (once)"
    )


class ChangePassword(Request):
    current_password: Password
    new_password: Password


class AccountUser(Response):
    id: str
    email: str
    email_verified: bool = False


class Registered(Response):
    user: AccountUser


class LoginResult(Response):
    token: ShownOnce = Field(
        description="A session token (JWT) for `Authorization: Bearer`; the same is set as the sr_session cookie"
    )
    expires_at: str
    user: AccountUser
