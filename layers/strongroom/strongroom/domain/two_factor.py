"""TOTP two-factor authentication (RFC 6238, security/totp.py) for password sign-in, and
recovery codes.

- `setup` seals a new secret (KMS Encrypt under the service key, context `{purpose: totp, user}`)
  and answers it with its otpauth URI; a new one each call until a code enables it. The secret is
  never answered again.
- `enable` needs a code of the pending secret; it answers 10 recovery codes once (stored as SHA-256).
- `disable` needs a current code or a recovery code.
- A session alone never guesses its way to 2FA off (or on, with a secret it set up): MAX_FAILURES
  wrong codes at enable and disable within FAILURE_WINDOW lock both for the user (429,
  `Retry-After`) until the window ends, a right code included; the count is bookkeeping (one
  conditional UpdateItem, `CODEFAIL#<usr>`), like failed logins.
- `proof` is what login (domain/accounts.py) adds to its transaction: a code is accepted only above
  the last accepted step (no replay), a recovery code only while unused.
Each mutation is one transaction with one audit event in the user's own log; no secret or code is
in any of them.
"""

from __future__ import annotations

from strongroom import clock
from strongroom.config import settings
from strongroom.context import principal
from strongroom.data import accounts as account_data
from strongroom.data import chain, db
from strongroom.data import totp as data
from strongroom.domain import audit
from strongroom.domain.audit import AuditEvent
from strongroom.errors import AppError, Conflict, Invalid, Throttled, Unauthorized
from strongroom.models import TwoFactorCode, TwoFactorEnabled, TwoFactorSetup
from strongroom.security import crypto, totp

_WRONG = "the code is wrong, expired or already used"
MAX_FAILURES = 10
FAILURE_WINDOW = 15 * 60  # seconds


def _context(user_id: str) -> dict[str, str]:
    return {"purpose": "totp", "user": user_id}


def _secret(user_id: str, rec: data.TotpRecord) -> str:
    return crypto.unseal(rec.sealed, _context(user_id)).decode()


def _event(action: str, user_id: str) -> AuditEvent:
    return audit.event(action, scope_id=user_id, resource_type="user", resource_id=user_id, metadata={"method": "totp"})


def setup() -> TwoFactorSetup:
    who = principal()  # a user signed in directly (access.ACCOUNT_ROUTES)
    rec = data.get(who.id)
    if rec is not None and rec.enabled:
        raise Conflict("two-factor authentication is already on; turn it off first", code="2fa_enabled")
    secret = totp.new_secret()
    sealed = crypto.seal(secret.encode(), _context(who.id), settings().kms_key_id)
    chain.transact([data.put_pending(who.id, sealed, clock.now_iso())], audit=_event("user.2fa_setup", who.id))
    return TwoFactorSetup(secret=secret, otpauth_uri=totp.uri(secret, who.email or who.id))


def enable(body: TwoFactorCode) -> TwoFactorEnabled:
    who = principal()
    rec = data.get(who.id)
    if rec is None or rec.enabled:
        raise Conflict("set two-factor authentication up first (POST /v1/me/2fa/setup)", code="2fa_not_pending")
    failures = _unlocked(who.id)
    step = totp.matched_step(_secret(who.id, rec), body.code.get_secret_value().strip(), int(clock.now().timestamp()))
    if step is None:
        raise _wrong(who.id, failures)
    codes = totp.new_recovery_codes()
    ops = data.enable(
        who.id, sealed=rec.sealed, step=step, recovery={totp.recovery_digest(c) for c in codes}, now=clock.now_iso()
    )
    chain.transact(ops, audit=_event("user.2fa_enabled", who.id))
    return TwoFactorEnabled(recovery_codes=codes)


def disable(body: TwoFactorCode) -> None:
    who = principal()
    rec = data.get(who.id)
    if rec is None or not rec.enabled:
        raise Conflict("two-factor authentication is not on", code="2fa_not_enabled")
    failures = _unlocked(who.id)
    found = proof(who.id, rec, body.code.get_secret_value(), on_fail=_invalid_code())
    if found is None:
        raise _wrong(who.id, failures)
    try:
        chain.transact(data.disable(who.id, found, clock.now_iso()), audit=_event("user.2fa_disabled", who.id))
    except Invalid:  # the code was spent meanwhile (a concurrent request with it): a failure too
        raise _wrong(who.id, failures) from None


def _unlocked(user_id: str) -> account_data.FailuresRecord | None:
    """The user's count of wrong codes, unless it locks enable and disable now (429)."""
    failures = account_data.code_failures(user_id)
    epoch = int(clock.now().timestamp())
    if failures is not None and failures.window_end > epoch and failures.count >= MAX_FAILURES:
        raise Throttled(
            "too many wrong two-factor codes; retry later",
            headers={"Retry-After": str(failures.window_end - epoch)},
        )
    return failures


def _wrong(user_id: str, failures: account_data.FailuresRecord | None) -> AppError:
    """A wrong code, counted."""
    epoch = int(clock.now().timestamp())
    account_data.count_code_failure(user_id, now=epoch, window=FAILURE_WINDOW, known=failures)
    return _invalid_code()


def _invalid_code() -> AppError:
    return Invalid(
        _WRONG,
        code="totp_invalid",
        details={"fields": [{"field": "code", "location": "body", "issue": "is wrong, expired or already used"}]},
    )


def login_failure() -> Unauthorized:
    return Unauthorized(_WRONG, code="totp_invalid")


def record(user_id: str) -> data.TotpRecord | None:
    return data.get(user_id)


def proof(user_id: str, rec: data.TotpRecord, code: str, *, on_fail: AppError) -> data.Proof | None:
    """What `code` proves (a TOTP code above the last accepted step, or an unused recovery code),
    as the condition of the write that spends it; None when it proves nothing."""
    code = code.strip()
    if totp.is_code(code):
        step = totp.matched_step(_secret(user_id, rec), code, int(clock.now().timestamp()))
        if step is None or step <= rec.last_step:
            return None
        return data.step_proof(step, on_fail=on_fail)
    if totp.is_recovery_code(code):
        digest = totp.recovery_digest(code)
        return data.recovery_proof(digest, on_fail=on_fail) if digest in rec.recovery else None
    return None


def spend(user_id: str, found: data.Proof) -> db.Op:
    return data.use(user_id, found)
