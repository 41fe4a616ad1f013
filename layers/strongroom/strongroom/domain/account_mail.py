"""Account mail: email verification and password reset by mailed, single-use tokens.

- A token is `secrets.token_urlsafe(32)` that does not begin with `-` (drawn again when it does:
  people paste it after `strongroom reset-password`, where a leading `-` reads as an option),
  mailed as the `token=` query parameter of a link to the console, stored only as its SHA-256
  (data/mail_tokens.py), and works once (its item is deleted, conditionally on purpose and
  expiry, in the audited transaction of the change it allows):
  verification 24 hours, reset 1 hour. No token is in any response, log line or audit event.
- Issuing a token and sending its mail is bookkeeping, not an audit event (it changes nothing of
  the account). Using one is: `user.email_verified` (via email), `user.password_reset`.
- forgot-password answers the same 202 whatever the email, after the same minimum time, and
  mails only an account that exists and has a password. It is limited per source IP and hour.
- A reset ends every session of the user (the session generation moves, as a password change
  moves it) and is refused once the generation moved since the mail (another reset or change).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from strongroom import clock
from strongroom.config import settings
from strongroom.context import Principal, acting_as, current, principal
from strongroom.data import accounts as account_data
from strongroom.data import chain, db, mail, mail_tokens, users
from strongroom.domain import audit
from strongroom.errors import Conflict, Invalid, Throttled, Unavailable
from strongroom.models import AccountUser, EmailVerified, ForgotPassword, MailAccepted, ResetPassword, VerifyEmail
from strongroom.observability import logger
from strongroom.security import passwords

VERIFY_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)
VERIFICATIONS_PER_USER_HOUR = 5
# forgot-password takes at least this long, mail or no mail (no enumeration by timing).
FORGOT_FLOOR_SECONDS = 0.3

SENT = MailAccepted(message="A verification link was sent to your email address.")
FORGOT = MailAccepted(message="If an account with a password has this email, a reset link was sent to it.")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid_token() -> Invalid:
    return Invalid("the link is invalid, used or expired", code="invalid_token")


def _link(page: str, token: str) -> str:
    return f"{settings().console_url.rstrip('/')}/{page}?token={token}"


def _hour() -> tuple[int, int]:
    epoch = int(clock.now().timestamp())
    return epoch, epoch // 3600


def _throttled(epoch: int, hour: int, what: str) -> Throttled:
    return Throttled(f"too many {what}; retry later", headers={"Retry-After": str((hour + 1) * 3600 - epoch)})


def _new_token() -> str:
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        continue
    return token


def _issue(purpose: mail_tokens.Purpose, user_id: str, email: str, generation: int, ttl: timedelta) -> str:
    token = _new_token()
    now = clock.now()
    rec = mail_tokens.MailToken(
        purpose=purpose,
        user_id=user_id,
        email=email,
        generation=generation,
        created_at=clock.iso(now),
        expires_at_epoch=int((now + ttl).timestamp()),
    )
    mail_tokens.issue(token_hash(token), rec)
    return token


def _as[T](user_id: str, email: str, write: Callable[[], T]) -> T:
    """`write()` with the user as the audit actor (these routes authenticate nobody)."""
    with acting_as(Principal(type="user", id=user_id, email=email, via="mail")):
        return write()


def _redeemable(token: str, purpose: mail_tokens.Purpose) -> tuple[str, mail_tokens.MailToken]:
    digest = token_hash(token)
    rec = mail_tokens.get(digest)
    if rec is None or rec.purpose != purpose or rec.expires_at_epoch <= int(clock.now().timestamp()):
        raise _invalid_token()
    return digest, rec


# --------------------------------------------------------------------------- verification


def send_verification() -> MailAccepted:
    """Mail the caller a link that verifies their email (409 when it is verified already)."""
    user = users.require(principal().id)
    if user.email_verified:
        raise Conflict("this email is verified already", code="already_verified")
    epoch, hour = _hour()
    if not mail_tokens.count("verify", user.id, hour=hour, limit=VERIFICATIONS_PER_USER_HOUR):
        raise _throttled(epoch, hour, "verification mails")
    token = _issue("verify_email", user.id, user.email, 0, VERIFY_TTL)
    mail.send(
        user.email,
        "Verify your Strongroom email address",
        "Confirm that this address is yours by opening this link:\n\n"
        f"{_link('verify-email', token)}\n\n"
        "It works once, within 24 hours. If you did not ask for it, ignore this mail.\n",
    )
    return SENT


def verify_email(body: VerifyEmail) -> EmailVerified:
    digest, rec = _redeemable(body.token.get_secret_value(), "verify_email")
    user = users.get(rec.user_id)
    if user is None or user.email != rec.email:
        raise _invalid_token()
    stale = _invalid_token()
    ops: list[db.Op] = [
        mail_tokens.consume(digest, "verify_email", now=int(clock.now().timestamp()), on_fail=stale),
        *users.email_proven(user, clock.now_iso(), on_fail=stale),
    ]
    event = audit.event(
        "user.email_verified", scope_id=user.id, resource_type="user", resource_id=user.id, metadata={"via": "email"}
    )
    _as(user.id, user.email, lambda: chain.transact(ops, audit=event))
    return EmailVerified(user=AccountUser(id=user.id, email=user.email, email_verified=True))


# --------------------------------------------------------------------------- password reset


def forgot_password(body: ForgotPassword) -> MailAccepted:
    """The same answer, after at least FORGOT_FLOOR_SECONDS, whether or not a mail went."""
    started = time.monotonic()
    epoch, hour = _hour()
    if not mail_tokens.count(
        "forgot", current().ip or "unknown", hour=hour, limit=settings().forgot_password_per_ip_hour
    ):
        raise _throttled(epoch, hour, "password reset requests from this address")
    try:
        _mail_reset(body.email.lower())
    finally:
        time.sleep(max(0.0, FORGOT_FLOOR_SECONDS - (time.monotonic() - started)))
    return FORGOT


def _mail_reset(email: str) -> None:
    user = users.by_email(email)
    if user is None or account_data.password_hash(user.id) is None:
        return
    generation = account_data.session_generation(users.raw(user.id))
    token = _issue("reset_password", user.id, user.email, generation, RESET_TTL)
    try:
        mail.send(
            user.email,
            "Reset your Strongroom password",
            "Choose a new password by opening this link:\n\n"
            f"{_link('reset-password', token)}\n\n"
            "It works once, within an hour, and signs you out everywhere. If you did not ask for "
            "it, ignore this mail: your password stays as it is.\n",
        )
    except Unavailable:
        # The same answer as for an unknown email; the operator sees it (no address, no token).
        logger.warning("password reset mail not sent", extra={"error_code": "mail_unavailable"})


def _weak(why: passwords.Refusal) -> Invalid:
    return Invalid(
        f"new_password {why.issue}",
        details={"fields": [{"field": "new_password", "location": "body", "issue": f"the password {why.issue}"}]},
    )


def reset_password(body: ResetPassword) -> None:
    digest, rec = _redeemable(body.token.get_secret_value(), "reset_password")
    user = users.get(rec.user_id)
    stored = account_data.password_hash(rec.user_id) if user is not None else None
    if user is None or stored is None or user.email != rec.email:
        raise _invalid_token()
    generation = account_data.session_generation(users.raw(user.id))
    if generation != rec.generation:
        raise _invalid_token()
    new = body.new_password.get_secret_value()
    if why := passwords.refusal(new, email=user.email, name=user.name):
        raise _weak(why)
    stale = _invalid_token()
    moved = Conflict("the password or sessions changed meanwhile; retry", code="password_moved")
    ops: list[db.Op] = [
        mail_tokens.consume(digest, "reset_password", now=int(clock.now().timestamp()), on_fail=stale),
        account_data.password_change(user.id, passwords.hash_password(new), clock.now_iso(), was=stored, on_fail=moved),
        account_data.next_generation(user.id, was=generation, on_fail=stale),
    ]
    event = audit.event(
        "user.password_reset",
        scope_id=user.id,
        resource_type="user",
        resource_id=user.id,
        metadata={"sessions_ended": "all"},
    )
    _as(user.id, user.email, lambda: chain.transact(ops, audit=event))
