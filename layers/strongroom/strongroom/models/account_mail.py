"""Account mail: email verification and password reset (/v1/auth/send-verification,
verify-email, forgot-password, reset-password)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from strongroom.models.accounts import AccountUser, Password
from strongroom.models.common import Email, Request, Response

# A mailed token (secrets.token_urlsafe(32): 43 characters); never shown by repr or logs.
MailedToken = Annotated[SecretStr, Field(min_length=16, max_length=256)]


class VerifyEmail(Request):
    token: MailedToken = Field(description="The `token` query parameter of the mailed link")


class ForgotPassword(Request):
    email: Email


class ResetPassword(Request):
    token: MailedToken = Field(description="The `token` query parameter of the mailed link")
    new_password: Password


class EmailVerified(Response):
    user: AccountUser


class MailAccepted(Response):
    message: str
