"""Password accounts and sessions: register, login, logout, change-password, and the check of a
session token that `authenticate` makes.

- Registering an email somebody holds answers exactly like a new registration (same status,
  shape, Argon2 work) and writes nothing: no enumeration, no take-over.
- A wrong password and an unknown email are the same 401 `invalid_credentials`, after the same
  Argon2 work. MAX_FAILURES failures for an email (known or not) within FAILURE_WINDOW lock its
  logins (429, `Retry-After`) until the window ends, the right password included. A failure is
  bookkeeping (one conditional UpdateItem), not an audit event (docs/decisions.md).
- A session is a JWT (security/sessions.py) and its item: logout deletes the item, a password
  change moves the user's session generation (every other session ends) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.context import Principal, acting_as, current, principal
from strongroom.data import accounts as account_data
from strongroom.data import chain, db, keys, readahead, users
from strongroom.data import totp as totp_data
from strongroom.domain import audit, two_factor
from strongroom.errors import Conflict, Forbidden, Invalid, Throttled, Unauthorized
from strongroom.models import AccountUser, ChangePassword, Login, LoginResult, Register, Registered, User
from strongroom.security import passwords, sessions

MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)


def _weak(field: str, why: passwords.Refusal) -> Invalid:
    return Invalid(
        f"{field} {why.issue}",
        details={"fields": [{"field": field, "location": "body", "issue": f"the password {why.issue}"}]},
    )


def _as[T](user_id: str, email: str, write: Callable[[], T]) -> T:
    """`write()` with the user as the audit actor (these routes authenticate nobody)."""
    with acting_as(Principal(type="user", id=user_id, email=email, via="session")):
        return write()


# --------------------------------------------------------------------------- register


def register(body: Register) -> Registered:
    email = body.email.lower()
    name = body.name or email.split("@", 1)[0]
    password = body.password.get_secret_value()
    if why := passwords.refusal(password, email=email, name=name):
        raise _weak("password", why)
    now = clock.now()
    hour = int(now.timestamp()) // 3600
    if not account_data.count_registration(
        current().ip or "unknown", hour=hour, limit=settings().registrations_per_ip_hour
    ):
        retry = (hour + 1) * 3600 - int(now.timestamp())
        raise Throttled("too many registrations from this address; retry later", headers={"Retry-After": str(retry)})
    hashed = passwords.hash_password(password)  # always: an existing email costs the same
    user_id = ids.new_id("usr")
    created = _as(
        user_id,
        email,
        lambda: users.register(email, name, account_data.password_put(user_id, hashed, clock.now_iso()), user_id),
    )
    if created is None:
        # Held by somebody: the same answer as a new account, with an ID that names nobody.
        return Registered(user=AccountUser(id=user_id, email=email, email_verified=False))
    return Registered(user=AccountUser(id=created.id, email=created.email, email_verified=created.email_verified))


# --------------------------------------------------------------------------- login


def _invalid() -> Unauthorized:
    return Unauthorized("the email or password is wrong", code="invalid_credentials")


def login(body: Login) -> LoginResult:
    """With 2FA on, `totp_code` (a current code or a recovery code) is needed too."""
    email = body.email.lower()
    now = clock.now()
    epoch = int(now.timestamp())
    failures = account_data.failures(email)
    if failures is not None and failures.window_end > epoch and failures.count >= MAX_FAILURES:
        raise Throttled(
            "too many failed logins for this account; retry later",
            headers={"Retry-After": str(failures.window_end - epoch)},
        )
    user = users.by_email(email)
    stored = account_data.password_hash(user.id) if user is not None else None
    if user is None or not passwords.verify(stored, body.password.get_secret_value()) or stored is None:
        account_data.count_failure(email, now=epoch, window=int(FAILURE_WINDOW.total_seconds()), known=failures)
        raise _invalid()
    code = body.totp_code.get_secret_value() if body.totp_code is not None else None
    second = _second_factor(user, code, email, epoch, failures)
    session = new_session(user, now)
    session_id = session.id
    ops: list[db.Op] = [session.op]
    if second is not None:
        ops.append(two_factor.spend(user.id, second))
    if passwords.needs_rehash(stored):
        ops.append(account_data.rehash(user.id, passwords.hash_password(body.password.get_secret_value()), was=stored))

    def write() -> None:
        event = audit.event(
            "user.2fa_recovery_code_used" if second is not None and second.digest else "user.login",
            scope_id=user.id,
            resource_type="user",
            resource_id=user.id,
            metadata={"via": "password", "session_id": session_id},
        )
        chain.transact(ops, audit=event)

    try:
        _as(user.id, user.email, write)
    except Unauthorized:  # the code was spent meanwhile (a concurrent login with it): a failure too
        account_data.count_failure(email, now=epoch, window=int(FAILURE_WINDOW.total_seconds()), known=failures)
        raise
    return session.result(user)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session about to start: its token, and the op that stores its item (in the sign-in's
    transaction). Password login and single sign-on (domain/sso.py) start sessions this way."""

    id: str
    token: str
    expires: datetime
    op: db.Put

    def result(self, user: User) -> LoginResult:
        view = AccountUser(id=user.id, email=user.email, email_verified=user.email_verified)
        return LoginResult(token=self.token, expires_at=clock.iso(self.expires), user=view)


def new_session(user: User, now: datetime) -> NewSession:
    session_id = ids.new_id("ses")
    token, expires = sessions.mint(user.id, session_id, now)
    generation = account_data.session_generation(users.raw(user.id))
    rec = account_data.SessionRecord(
        id=session_id, user_id=user.id, generation=generation, expires_at=clock.iso(expires), created_at=clock.iso(now)
    )
    op = account_data.session_put(rec, ttl=int(expires.timestamp()), on_fail=Conflict("retry"))
    return NewSession(id=session_id, token=token, expires=expires, op=op)


def _second_factor(
    user: User, code: str | None, email: str, epoch: int, failures: account_data.FailuresRecord | None
) -> totp_data.Proof | None:
    """With 2FA on: what `totp_code` proves (domain/two_factor.py), spent in the login's
    transaction; none is 401 totp_required, a wrong, replayed or used one 401 totp_invalid,
    counted as a failed login."""
    if not user.two_factor_enabled:
        return None
    if not code:
        raise Unauthorized("this account signs in with a two-factor code too (totp_code)", code="totp_required")
    rec = two_factor.record(user.id)
    found = two_factor.proof(user.id, rec, code, on_fail=two_factor.login_failure()) if rec and rec.enabled else None
    if found is None:
        account_data.count_failure(email, now=epoch, window=int(FAILURE_WINDOW.total_seconds()), known=failures)
        raise two_factor.login_failure()
    return found


# --------------------------------------------------------------------------- signed in


def _session_principal() -> Principal:
    who = principal()
    if who.type != "user" or who.via != "session" or not who.session_id:
        raise Forbidden("this request is not signed in with a session", code="not_a_session")
    return who


def logout() -> None:
    """End the caller's session."""
    who = _session_principal()
    assert who.session_id is not None
    chain.transact(
        [account_data.session_delete(who.session_id)],
        audit=audit.event(
            "user.logout",
            scope_id=who.id,
            resource_type="user",
            resource_id=who.id,
            metadata={"session_id": who.session_id},
        ),
    )


def change_password(body: ChangePassword) -> None:
    """A new password, after the current one; every other session of the user ends."""
    who = _session_principal()
    assert who.session_id is not None
    stored = account_data.password_hash(who.id)
    if stored is None or not passwords.verify(stored, body.current_password.get_secret_value()):
        raise Invalid(
            "the current password is wrong",
            code="invalid_credentials",
            details={"fields": [{"field": "current_password", "location": "body", "issue": "is wrong"}]},
        )
    new = body.new_password.get_secret_value()
    if why := passwords.refusal(new, email=who.email):
        raise _weak("new_password", why)
    generation = account_data.session_generation(users.raw(who.id))
    moved = Conflict("the password or sessions changed meanwhile; retry", code="password_moved")
    chain.transact(
        [
            account_data.password_change(
                who.id, passwords.hash_password(new), clock.now_iso(), was=stored, on_fail=moved
            ),
            account_data.next_generation(who.id, was=generation, on_fail=moved),
            account_data.session_restamp(who.session_id, generation + 1, on_fail=moved),
        ],
        audit=audit.event(
            "user.password_changed",
            scope_id=who.id,
            resource_type="user",
            resource_id=who.id,
            metadata={"sessions_ended": "others"},
        ),
    )


# --------------------------------------------------------------------------- authenticate


def _caller(claims: sessions.Claims, item: dict[str, Any] | None) -> readahead.Caller | None:
    if item is None or item.get("user_id") != claims.user_id:
        return None
    if clock.parse(str(item["expires_at"])) <= clock.now():
        return None
    return readahead.Caller(claims.user_id)


def verify(token: str, now: datetime | None = None) -> Principal:
    """The user of a session token: signed by this stack, unexpired, its session item present,
    its user's, and of the user's current session generation. Any failure is a generic 401."""
    claims = sessions.verify(token)
    readahead.user_request(keys.session(claims.session_id), lambda item: _caller(claims, item))
    rec = account_data.session(claims.session_id)
    if rec is None or rec.user_id != claims.user_id or clock.parse(rec.expires_at) <= (now or clock.now()):
        raise Unauthorized("invalid or expired session")
    raw = users.raw(claims.user_id)
    if raw is None or account_data.session_generation(raw) != rec.generation:
        raise Unauthorized("invalid or expired session")
    user = users.get(claims.user_id)
    if user is None:
        raise Unauthorized("invalid or expired session")
    return Principal(
        type="user",
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        via="session",
        two_factor=user.two_factor_enabled,
        session_id=rec.id,
        expires_at=rec.expires_at,
    )
