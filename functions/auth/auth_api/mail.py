"""Account mail: email verification and password reset (domain/account_mail.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from strongroom.domain import account_mail
from strongroom.http.envelope import JSON
from strongroom.models import EmailVerified, ForgotPassword, MailAccepted, ResetPassword, VerifyEmail

router = APIGatewayHttpRouter()


def _accepted(body: MailAccepted) -> Response[MailAccepted]:
    return Response(status_code=202, content_type=JSON, body=body)


@router.post("/v1/auth/send-verification", responses={202: {"description": "A verification link was mailed"}})
def send_verification() -> Response[MailAccepted]:
    """A link to verify the caller's email, by mail (409 already_verified when it is)."""
    return _accepted(account_mail.send_verification())


@router.post("/v1/auth/verify-email", responses={200: {"description": "The email is verified"}})
def verify_email(body: VerifyEmail) -> EmailVerified:
    """No credentials: the mailed token is the proof. It works once (else 400 invalid_token)."""
    return account_mail.verify_email(body)


@router.post("/v1/auth/forgot-password", responses={202: {"description": "The same answer whatever the email"}})
def forgot_password(body: ForgotPassword) -> Response[MailAccepted]:
    """No credentials. A reset link goes only to an account that has a password; the answer is the same."""
    return _accepted(account_mail.forgot_password(body))


@router.post("/v1/auth/reset-password", responses={204: {"description": "Reset; every session of the user is over"}})
def reset_password(body: ResetPassword) -> Response[str]:
    """No credentials: the mailed token is the proof. It works once (else 400 invalid_token)."""
    account_mail.reset_password(body)
    return Response(status_code=204, body="")
