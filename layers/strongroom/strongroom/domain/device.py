"""Device login (RFC 8628) for the CLI: the device asks for a code pair, a signed-in user approves
the short user code, the device polls and receives a personal access token, once.

- `start` (no auth): a random device code (kept only as its SHA-256) and an 8-letter user code
  from 20 consonants (`BCDF-GHJK`: no vowels, so no words; no 0/O or 1/I to confuse; kept only as
  its SHA-256 too), valid 10 minutes; poll every 5 seconds.
- `approve` (a signed-in user, not a token): the user code is single-use; wrong codes count
  against the user (10 per 15 minutes, then 429), so codes cannot be guessed by brute force. A
  user who holds the most personal access tokens allowed (pats.MAX_PER_USER) is told so (422
  `too_many_tokens`) and approves nothing.
- `token` (no auth): `authorization_pending`, `slow_down` (polling faster than `interval`, which
  then grows by 5 s), `expired_token`, `access_denied` (denied, or the user reached the token cap
  after approving: the mint enforces it), or the token; a used device code is `invalid_grant`.
  These are RFC 8628's names, in the error envelope's `code`, with status 400.

Starting and polling are pre-authentication bookkeeping (no tenant data changes, no actor): they
write no audit event. Approving is audited in the user's trail (`device.approved` or
`device.denied`) and issuing the token is `pat.created`, the approving user as actor.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from strongroom import clock
from strongroom.context import Principal, current, principal
from strongroom.data import chain, users
from strongroom.data import devices as device_data
from strongroom.data.devices import DeviceRequestRecord
from strongroom.domain import audit, pats
from strongroom.errors import Invalid, NotFound, Throttled
from strongroom.models import DeviceStart, DeviceToken

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
EXPIRES_IN = 600
INTERVAL = 5
SLOW_DOWN_STEP = 5
MAX_FAILED_APPROVALS = 10
FAILED_WINDOW = timedelta(minutes=15)
TOKEN_LIFETIME = timedelta(days=90)


def _hash(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()


def normalize(user_code: str) -> str:
    return "".join(c for c in user_code.upper() if c in USER_CODE_ALPHABET)


def _epoch(value: str) -> int:
    return int(clock.parse(value).timestamp())


def start(verification_uri: str, client_name: str) -> DeviceStart:
    device_code = secrets.token_urlsafe(32)
    now = clock.now()
    expires = clock.iso(now + timedelta(seconds=EXPIRES_IN))
    for _attempt in range(5):
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        if device_data.claim_user_code(_hash(user_code), _hash(device_code), expires_at=expires, ttl=_epoch(expires)):
            break
    else:
        raise Throttled("could not allocate a user code; retry", headers={"Retry-After": "1"})
    device_data.create_request(
        _hash(device_code), client_name=client_name, interval=INTERVAL, expires_at=expires, ttl=_epoch(expires) + 3600
    )
    shown = f"{user_code[:4]}-{user_code[4:]}"
    return DeviceStart(
        device_code=device_code,
        user_code=shown,
        verification_uri=verification_uri,
        verification_uri_complete=f"{verification_uri}?user_code={shown}",
        expires_in=EXPIRES_IN,
        interval=INTERVAL,
    )


# --------------------------------------------------------------------------- approve


def _count_failure(user_id: str) -> None:
    now = clock.now()
    seen = device_data.failures(user_id)
    if seen is None or clock.parse(seen.window_end) <= now:
        window_end = clock.iso(now + FAILED_WINDOW)
        device_data.restart_failures(user_id, window_end=window_end, ttl=_epoch(window_end))
        return
    device_data.add_failure(user_id)


def _check_rate(user_id: str) -> None:
    seen = device_data.failures(user_id)
    if seen and clock.parse(seen.window_end) > clock.now() and seen.count >= MAX_FAILED_APPROVALS:
        raise Throttled("too many wrong codes; wait and retry", headers={"Retry-After": str(FAILED_WINDOW.seconds)})


def approve(user_code: str, *, deny: bool) -> None:
    who = principal()  # a user signed in directly, not with a token (access.admit)
    _check_rate(who.id)
    code = normalize(user_code)
    pointer = device_data.user_code(_hash(code)) if len(code) == USER_CODE_LENGTH else None
    if pointer is None or clock.parse(pointer.expires_at) <= clock.now():
        _count_failure(who.id)
        raise NotFound("no pending login with this code", code="invalid_user_code")
    if not deny and pats.count(who.id) >= pats.MAX_PER_USER:
        raise pats.TooManyTokens  # early, to the user who can revoke one; the mint enforces it too
    chain.transact(
        [
            device_data.decide(
                pointer.device_hash,
                "denied" if deny else "approved",
                user_id=who.id,
                now=clock.now_iso(),
                on_fail=NotFound("no pending login with this code", code="invalid_user_code"),
            ),
            device_data.use_user_code(_hash(code)),  # single use
        ],
        audit=audit.event(
            "device.denied" if deny else "device.approved",
            scope_id=who.id,
            resource_type="device_login",
            resource_id=pointer.device_hash[:16],
            metadata={},
        ),
    )


# --------------------------------------------------------------------------- poll: decide, then write

PollKind = Literal["invalid_grant", "expired_token", "access_denied", "slow_down", "authorization_pending", "issue"]


@dataclass(frozen=True, slots=True)
class Poll:
    """What a poll of the device code answers (RFC 8628's names), and the interval it names."""

    kind: PollKind
    interval: int | None = None


def poll(req: DeviceRequestRecord | None, now: datetime) -> Poll:
    """The answer to a poll of `req` at `now` (pure): a used or unknown code, an expired one (an
    approved request is issued even late), a denial, a poll too early (the interval grows) or in
    time while the user has not decided, or the token to issue."""
    if req is None or req.status in {"issued", "denied_seen"}:
        return Poll("invalid_grant")
    if clock.parse(req.expires_at) <= now and req.status != "approved":
        return Poll("expired_token")
    if req.status == "denied":
        return Poll("access_denied")
    if req.status == "pending":
        interval = req.interval if req.interval is not None else INTERVAL
        if req.last_poll_at is not None and (now - clock.parse(req.last_poll_at)).total_seconds() < interval:
            return Poll("slow_down", interval + SLOW_DOWN_STEP)
        return Poll("authorization_pending", interval)
    return Poll("issue")


_MESSAGES = {
    "invalid_grant": "unknown or already used device code",
    "expired_token": "the device code has expired; start again",
    "access_denied": "the user denied this login",
    "authorization_pending": "waiting for the user to approve",
}


def _grant_error(code: str, message: str, **extra: Any) -> Invalid:
    return Invalid(message, code=code, details=extra or None)


def _refuse(device_hash: str, answer: Poll, now: datetime) -> Invalid:
    """Record what this answer changes of the request (a denial seen, a poll's time) and the 400
    that tells the device."""
    if answer.kind == "access_denied":
        device_data.move(device_hash, was="denied", to="denied_seen")
    elif answer.kind == "slow_down":
        device_data.polled(device_hash, clock.iso(now), interval=answer.interval)
        return _grant_error("slow_down", f"poll at most every {answer.interval} seconds", interval=answer.interval)
    elif answer.kind == "authorization_pending":
        device_data.polled(device_hash, clock.iso(now))
    extra = {"interval": answer.interval} if answer.interval is not None else {}
    return _grant_error(answer.kind, _MESSAGES[answer.kind], **extra)


def token(device_code: str) -> DeviceToken:
    device_hash = _hash(device_code)
    req = device_data.request(device_hash)
    now = clock.now()
    answer = poll(req, now)
    if req is None or answer.kind != "issue":
        raise _refuse(device_hash, answer, now)
    return _issue(device_hash, req, now)


def _issue(device_hash: str, req: DeviceRequestRecord, now: datetime) -> DeviceToken:
    """The approving user's token, once: the approval is claimed (approved → issuing) before the
    mint, so a racing poll gets invalid_grant; a user at the token cap ends the login as denied."""
    user = users.get(req.user_id) if req.user_id else None
    if user is None:
        raise _grant_error("access_denied", "the approving user no longer exists")
    # The approving user is the actor of what follows.
    who = Principal(type="user", id=user.id, email=user.email, email_verified=user.email_verified, via="device")
    current().principal = who
    if not device_data.move(device_hash, was="approved", to="issuing"):
        raise _grant_error("invalid_grant", _MESSAGES["invalid_grant"])
    try:
        created = pats.issue(
            who,
            f"device login ({req.client_name or 'cli'})",
            org_ids=None,
            read_only=False,
            expires_at=now + TOKEN_LIFETIME,
            via="device",
        )
    except pats.TooManyTokens:
        # The user reached the cap after approving: this login ends, as a denied one does.
        device_data.move(device_hash, was="issuing", to="denied_seen")
        raise _grant_error(
            "access_denied", f"you hold {pats.MAX_PER_USER} personal access tokens; revoke one and log in again"
        ) from None
    device_data.move(device_hash, was="issuing", to="issued")
    return DeviceToken(
        access_token=created.token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type
        expires_in=int(TOKEN_LIFETIME.total_seconds()),
        token_id=created.id,
    )
