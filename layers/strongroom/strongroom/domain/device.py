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
from datetime import timedelta
from typing import Any

from strongroom import audit, clock, db, keys
from strongroom.context import Principal, current, principal
from strongroom.data import chain, users
from strongroom.domain import pats
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
        try:
            db.put_plain(
                {
                    **keys.device_user_code(_hash(user_code)),
                    "entity": "device_user_code",
                    "device_hash": _hash(device_code),
                    "expires_at": expires,
                    keys.TTL: _epoch(expires),
                },
                condition="attribute_not_exists(PK)",
            )
            break
        except Exception:  # noqa: BLE001, S112 - a taken code (rare): draw another
            continue
    else:
        raise Throttled("could not allocate a user code; retry", headers={"Retry-After": "1"})
    db.put_plain(
        {
            **keys.device_request(_hash(device_code)),
            "entity": "device_request",
            "status": "pending",
            "client_name": client_name,
            "interval": INTERVAL,
            "expires_at": expires,
            keys.TTL: _epoch(expires) + 3600,
        },
        condition="attribute_not_exists(PK)",
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


def _count_failure(user_id: str) -> None:
    now = clock.now()
    item = db.get(keys.device_failures(user_id))
    if item is None or clock.parse(str(item["window_end"])) <= now:
        window_end = clock.iso(now + FAILED_WINDOW)
        db.put_plain(
            {
                **keys.device_failures(user_id),
                "entity": "device_failures",
                "count": 1,
                "window_end": window_end,
                keys.TTL: _epoch(window_end),
            }
        )
        return
    db.update_plain(
        keys.device_failures(user_id),
        "SET #c = #c + :one",
        condition="attribute_exists(PK)",
        values={":one": 1},
        names={"#c": "count"},
    )


def _check_rate(user_id: str) -> None:
    item = db.get(keys.device_failures(user_id))
    if item and clock.parse(str(item["window_end"])) > clock.now() and int(item["count"]) >= MAX_FAILED_APPROVALS:
        raise Throttled("too many wrong codes; wait and retry", headers={"Retry-After": str(FAILED_WINDOW.seconds)})


def approve(user_code: str, *, deny: bool) -> None:
    who = principal()  # a user signed in directly, not with a token (access.admit)
    _check_rate(who.id)
    code = normalize(user_code)
    pointer = db.get(keys.device_user_code(_hash(code))) if len(code) == USER_CODE_LENGTH else None
    if pointer is None or clock.parse(str(pointer["expires_at"])) <= clock.now():
        _count_failure(who.id)
        raise NotFound("no pending login with this code", code="invalid_user_code")
    device_hash = str(pointer["device_hash"])
    if not deny and pats.count(who.id) >= pats.MAX_PER_USER:
        raise pats.TooManyTokens  # early, to the user who can revoke one; the mint enforces it too
    chain.transact(
        [
            db.Update(
                keys.device_request(device_hash),
                "SET #st = :new, user_id = :u, decided_at = :now",
                condition="#st = :pending",
                names={"#st": "status"},
                values={
                    ":new": "denied" if deny else "approved",
                    ":u": who.id,
                    ":now": clock.now_iso(),
                    ":pending": "pending",
                },
                on_fail=NotFound("no pending login with this code", code="invalid_user_code"),
            ),
            db.Delete(keys.device_user_code(_hash(code))),  # single use
        ],
        audit=audit.event(
            "device.denied" if deny else "device.approved",
            scope_id=who.id,
            resource_type="device_login",
            resource_id=device_hash[:16],
            metadata={},
        ),
    )


def _grant_error(code: str, message: str, **extra: Any) -> Invalid:
    return Invalid(message, code=code, details=extra or None)


def token(device_code: str) -> DeviceToken:
    device_hash = _hash(device_code)
    item = db.get(keys.device_request(device_hash))
    if item is None or item.get("status") in {"issued", "denied_seen"}:
        raise _grant_error("invalid_grant", "unknown or already used device code")
    now = clock.now()
    if clock.parse(str(item["expires_at"])) <= now and item.get("status") != "approved":
        raise _grant_error("expired_token", "the device code has expired; start again")
    status = item.get("status")
    if status == "denied":
        db.update_plain(
            keys.device_request(device_hash),
            "SET #st = :seen",
            condition="#st = :denied",
            values={":seen": "denied_seen", ":denied": "denied"},
            names={"#st": "status"},
        )
        raise _grant_error("access_denied", "the user denied this login")
    if status == "pending":
        interval = int(item.get("interval", INTERVAL))
        last = item.get("last_poll_at")
        if last is not None and (now - clock.parse(str(last))).total_seconds() < interval:
            interval += SLOW_DOWN_STEP
            db.update_plain(
                keys.device_request(device_hash),
                "SET #i = :i, last_poll_at = :now",
                condition="attribute_exists(PK)",
                values={":i": interval, ":now": clock.iso(now)},
                names={"#i": "interval"},
            )
            raise _grant_error("slow_down", f"poll at most every {interval} seconds", interval=interval)
        db.update_plain(
            keys.device_request(device_hash),
            "SET last_poll_at = :now",
            condition="attribute_exists(PK)",
            values={":now": clock.iso(now)},
        )
        raise _grant_error("authorization_pending", "waiting for the user to approve", interval=interval)
    user = users.get(str(item["user_id"]))
    if user is None:
        raise _grant_error("access_denied", "the approving user no longer exists")
    # The approving user is the actor of what follows.
    current().principal = Principal(
        type="user", id=user.id, email=user.email, email_verified=user.email_verified, via="device"
    )
    db.update_plain(  # claim the approval once, before minting (a racing poll gets invalid_grant)
        keys.device_request(device_hash),
        "SET #st = :issued",
        condition="#st = :approved",
        values={":issued": "issuing", ":approved": "approved"},
        names={"#st": "status"},
    ) or _raise_used()
    try:
        created = pats.issue(
            current().principal,  # type: ignore[arg-type]
            f"device login ({item.get('client_name') or 'cli'})",
            org_ids=None,
            read_only=False,
            expires_at=now + TOKEN_LIFETIME,
            via="device",
        )
    except pats.TooManyTokens:
        # The user reached the cap after approving: this login ends, as a denied one does.
        db.update_plain(
            keys.device_request(device_hash),
            "SET #st = :seen",
            condition="#st = :issuing",
            values={":seen": "denied_seen", ":issuing": "issuing"},
            names={"#st": "status"},
        )
        raise _grant_error(
            "access_denied", f"you hold {pats.MAX_PER_USER} personal access tokens; revoke one and log in again"
        ) from None
    db.update_plain(
        keys.device_request(device_hash),
        "SET #st = :issued",
        condition="#st = :issuing",
        values={":issued": "issued", ":issuing": "issuing"},
        names={"#st": "status"},
    )
    return DeviceToken(
        access_token=created.token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type
        expires_in=int(TOKEN_LIFETIME.total_seconds()),
        token_id=created.id,
    )


def _raise_used() -> bool:
    raise _grant_error("invalid_grant", "unknown or already used device code")
