"""Rotation of secrets: a policy per secret (a rotator, an interval), rotations that follow AWS
Secrets Manager's four steps, and the scheduled worker that runs what is due.

A rotation holds the policy's lease (a conditional write of its item: one rotation of a secret at
a time, whoever starts it) and records each step on the item before the next one begins, so a
rotation cut short (a timeout, a crash) resumes where it stopped once its lease runs out:

1. create: a pending value (domain/rotators.py), sealed by KMS onto the item;
2. set: the pending value set at the target (idempotent);
3. test: the pending value works at the target;
4. finish: the pending value written as the secret's next version through the secrets write path
   (`secrets.write_rotated`: snapshot, version, audit `secret.rotated`), the item's outcome in the
   same transaction.

Until step 4 commits, readers read the old value; from it, the new one. A failed step keeps the
old value and writes the item's `failed` state with one audit event `secret.rotation_failed` (its
webhook too), whose reason names no secret.
"""

from __future__ import annotations

import json
import secrets as stdlib_secrets
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from strongroom import clock
from strongroom.config import settings
from strongroom.context import Principal, acting_as
from strongroom.data import chain, db
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data import rotation as data
from strongroom.data.rotation import Retirement, RotationRecord
from strongroom.domain import audit, rotators
from strongroom.domain import secrets as secret_domain
from strongroom.domain.rotators import RotationFailed, Target
from strongroom.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from strongroom.models.rotation import (
    DEFAULT_ALPHABET,
    PostgresRotator,
    RotationPolicy,
    RotationPolicySet,
    RotationPut,
    WebhookRotator,
)
from strongroom.observability import logger
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess

LEASE = timedelta(minutes=5)  # past the rotation function's timeout: an expired lease is a dead rotation
RETRY_AFTER_FAILURE = timedelta(hours=1)  # a failed rotation is tried again then (or its interval, if sooner)
BATCH = 25  # policies one worker run takes on
# A run starts no policy after this many seconds: the worker function's timeout (120 s) leaves room
# for the last one's steps (each call to a target times out after rotators.TIMEOUT).
RUN_BUDGET_SECONDS = 60.0
WORKER = Principal(type="system", id="rotation", via="schedule")
DEFAULT_WEBHOOK_VALUE_LENGTH = 32


def _busy() -> Conflict:
    return Conflict("a rotation of this secret is in progress; retry shortly", code="rotation_in_progress")


def _moved() -> Conflict:
    return Conflict("the rotation policy changed meanwhile; retry", code="rotation_moved")


def _context(rec: RotationRecord, what: str) -> dict[str, str]:
    return {"org": rec.org_id, "environment": rec.environment_id, "secret": rec.key, "purpose": f"rotation-{what}"}


def _seal(rec: RotationRecord, what: str, value: dict[str, Any]) -> bytes:
    return crypto.seal(json.dumps(value).encode(), _context(rec, what), settings().kms_key_id)


def _unseal(rec: RotationRecord, what: str, blob: bytes | None) -> dict[str, Any]:
    if blob is None:
        return {}
    opened: dict[str, Any] = json.loads(crypto.unseal(bytes(blob), _context(rec, what)))
    return opened


def _members_only(access: EnvironmentAccess) -> None:
    """Rotation is an administrator's setup (a policy may hold a database's master credential and
    reaches databases, IAM and endpoints): members with the permission manage it, service tokens
    (workloads' credentials) do not (403)."""
    if access.principal.type == "service_token":
        raise Forbidden("service tokens cannot manage rotation: a member with secrets.write does")


def _check_env(access: EnvironmentAccess) -> None:
    _members_only(access)
    if access.environment.encryption != "server":
        raise Unprocessable(
            "this environment is client-encrypted: the server cannot make or read its values, so it cannot rotate them",
            code="client_encrypted",
        )


def _view(rec: RotationRecord) -> dict[str, Any]:
    """`rec.key` is the secret's snapshot name: the key, with its folder's path in a folder."""
    return {
        **secret_domain.keyed(rec.key),
        "interval_days": rec.interval_days,
        "rotator": rec.rotator,
        "status": rec.status,
        "step": rec.step,
        "next_rotation_at": rec.next_rotation_at,
        "last_rotated_at": rec.last_rotated_at,
        "last_error": rec.last_error,
        "version": rec.version,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
    }


def _get(access: EnvironmentAccess, key: str) -> RotationRecord:
    rec = data.get(access.environment.id, key)
    if rec is None:
        raise NotFound("this secret has no rotation policy")
    return rec


def _leased(rec: RotationRecord, now: str) -> bool:
    return rec.lease_until is not None and rec.lease_until > now


def _event(rec: RotationRecord, action: str, **metadata: Any) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="secret",
        resource_id=rec.key,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={**secret_domain.key_note(rec.key), "rotator": rec.rotator.get("type"), **metadata},
    )


# --------------------------------------------------------------------------- the policy


def get_policy(access: EnvironmentAccess, key: str) -> RotationPolicy:
    _members_only(access)
    return RotationPolicy.model_validate(_view(_get(access, key)))


def _public(body: RotationPut) -> dict[str, Any]:
    """The rotator's configuration as stored and shown: its credentials taken out."""
    return body.rotator.model_dump(exclude={"master_password"})


def _credentials(body: RotationPut, previous: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """What is sealed with the policy, and a new signing secret to show (once)."""
    rotator = body.rotator
    if isinstance(rotator, PostgresRotator):
        return {"master_password": rotator.master_password.get_secret_value()}, None
    if isinstance(rotator, WebhookRotator):
        if previous.get("signing_secret"):
            return {"signing_secret": str(previous["signing_secret"])}, None
        fresh = rotators.new_signing_secret()
        return {"signing_secret": fresh}, fresh
    return {}, None


def _check_rotator(body: RotationPut) -> None:
    if isinstance(body.rotator, WebhookRotator):
        from strongroom.domain.webhooks import check_destination  # noqa: PLC0415

        check_destination(body.rotator.url)


def set_policy(access: EnvironmentAccess, key: str, body: RotationPut) -> RotationPolicySet:
    """Create or replace the secret's policy (not while it rotates). Its next rotation is one
    interval from its last one (or from now, for a new policy)."""
    _check_env(access)
    _check_rotator(body)
    now = clock.now()
    previous = data.get(access.environment.id, key)
    if previous is not None and _leased(previous, clock.iso(now)):
        raise _busy()
    since = clock.parse(previous.last_rotated_at) if previous and previous.last_rotated_at else now
    rec = RotationRecord(
        org_id=access.org.id,
        project_id=access.project.id,
        environment_id=access.environment.id,
        key=key,
        interval_days=body.interval_days,
        rotator=_public(body),
        status=previous.status if previous and previous.status != "rotating" else "scheduled",
        next_rotation_at=clock.iso(since + timedelta(days=body.interval_days)),
        last_rotated_at=previous.last_rotated_at if previous else None,
        last_error=previous.last_error if previous else None,
        version=previous.version if previous else None,
        retire=previous.retire if previous else [],
        rev=previous.rev + 1 if previous else 0,
        created_at=previous.created_at if previous else clock.iso(now),
        updated_at=clock.iso(now),
        created_by=previous.created_by if previous else access.principal.id,
    )
    kept = _unseal(previous, "credentials", previous.sealed) if previous else {}
    if previous is not None and previous.rotator.get("type") != body.rotator.type:
        kept = {}
    credentials, shown = _credentials(body, kept)
    if credentials:
        rec = rec.model_copy(update={"sealed": _seal(rec, "credentials", credentials)})
    op = (
        data.create(rec, on_fail=_moved())
        if previous is None
        else data.replace(rec, previous=previous, on_fail=_moved())
    )
    chain.transact(
        [op], audit=_event(rec, "secret.rotation_configured", interval_days=rec.interval_days, created=previous is None)
    )
    if previous is not None:
        _abandon_interrupted(previous)  # once the replacement is written
    return RotationPolicySet.model_validate({**_view(rec), "signing_secret": shown})


def remove_policy(access: EnvironmentAccess, key: str) -> None:
    """The policy goes (not while it rotates); the secret keeps its value. An old credential still
    in its grace period stays at the target (named in the event)."""
    _members_only(access)
    rec = _get(access, key)
    if _leased(rec, clock.now_iso()):
        raise _busy()
    left = [r.credential_id for r in rec.retire]
    chain.transact(
        [data.remove(rec, on_fail=_moved())], audit=_event(rec, "secret.rotation_removed", left_at_target=left)
    )
    _abandon_interrupted(rec)  # once the removal is written


def _abandon_interrupted(rec: RotationRecord) -> None:
    """A policy replaced or removed while a rotation of it stands interrupted (an outage gave its
    lease back): what that rotation made at the target (a created IAM key) is removed, best effort."""
    if rec.pending is None:
        return
    t = Target(dict(rec.rotator), {}, None, {})
    try:
        rotators.abandon(t, _unseal(rec, "pending", rec.pending))
    except RotationFailed as exc:
        logger.warning("abandoning an interrupted rotation's credential failed", extra={"reason": exc.reason})


# --------------------------------------------------------------------------- one rotation


def _take(rec: RotationRecord, owner: str, now: datetime) -> RotationRecord | None:
    """The policy's lease for `owner`, or None when another rotation holds it (or took it first)."""
    at = clock.iso(now)
    if _leased(rec, at) and rec.lease_owner != owner:
        return None
    taken = rec.model_copy(
        update={
            "lease_owner": owner,
            "lease_until": clock.iso(now + LEASE),
            "status": "rotating",
            "step": rec.step or "create",
            "rotation_id": rec.rotation_id or "rot_" + stdlib_secrets.token_hex(13),
            "rev": rec.rev + 1,
            "updated_at": at,
        }
    )
    return taken if data.swap(taken, previous=rec) else None


def _advance(rec: RotationRecord, step: str, **changes: Any) -> RotationRecord:
    moved = rec.model_copy(update={"step": step, "rev": rec.rev + 1, "updated_at": clock.now_iso(), **changes})
    if not data.swap(moved, previous=rec):
        raise _moved()
    return moved


def _target(access: EnvironmentAccess, rec: RotationRecord, now: datetime) -> Target:
    current = secret_domain.own_value(access, rec.key)
    config = dict(rec.rotator)
    if config["type"] == "webhook":
        config.update(length=DEFAULT_WEBHOOK_VALUE_LENGTH, alphabet=DEFAULT_ALPHABET)
    subject = {
        "org_id": rec.org_id,
        "project_id": rec.project_id,
        "environment_id": rec.environment_id,
        **secret_domain.keyed(rec.key),
        "rotation_id": rec.rotation_id,
    }
    credentials = {k: str(v) for k, v in _unseal(rec, "credentials", rec.sealed).items()}
    return Target(config, credentials, current[0] if current else None, subject, now)


def _steps(access: EnvironmentAccess, rec: RotationRecord, t: Target) -> RotationRecord:
    """Steps 1-3 from wherever the rotation stands; returns the item at step `finish`."""
    if rec.step == "create" or rec.pending is None:
        if rec.rotator.get("type") == "aws_iam_access_key":  # creating has an effect at the target
            if rec.creating_since is None:
                rec = _advance(rec, "create", creating_since=clock.now_iso())
            else:
                t.resumed_since = clock.parse(rec.creating_since)
            t.retiring = frozenset(r.credential_id for r in rec.retire)
        pending = {**rotators.create(t), "rotation_id": rec.rotation_id}
        rec = _advance(rec, "set", pending=_seal(rec, "pending", pending))
    pending = _unseal(rec, "pending", rec.pending)
    if rec.step == "set":
        done = rotators.put(t, pending)
        sealed = _seal(rec, "pending", done) if done != pending else rec.pending
        rec = _advance(rec, "test", pending=sealed)
        pending = done
    if rec.step == "test":
        rotators.test(t, pending)
        rec = _advance(rec, "finish")
    return rec


def _finish(access: EnvironmentAccess, rec: RotationRecord, t: Target, now: datetime) -> RotationRecord:
    pending = _unseal(rec, "pending", rec.pending)
    retire = [
        *rec.retire,
        *(Retirement(credential_id=c, after=clock.iso(at)) for c, at in rotators.retirements(t, pending)),
    ]
    done: dict[str, RotationRecord] = {}

    def finish(version: int) -> list[db.Op]:
        done["rec"] = rec.model_copy(
            update={
                "status": "succeeded",
                "step": None,
                "pending": None,
                "rotation_id": None,
                "creating_since": None,
                "lease_owner": None,
                "lease_until": None,
                "last_rotated_at": clock.iso(now),
                "last_error": None,
                "next_rotation_at": clock.iso(now + timedelta(days=rec.interval_days)),
                "version": version,
                "retire": retire,
                "rev": rec.rev + 1,
                "updated_at": clock.now_iso(),
            }
        )
        return [data.replace(done["rec"], previous=rec, on_fail=_moved())]

    secret_domain.write_rotated(access, rec.key, str(pending["value"]), finish, rotation_id=rec.rotation_id)
    return _retire_now(done["rec"], now)


def _fail(
    access: EnvironmentAccess, rec: RotationRecord, t: Target, exc: RotationFailed, now: datetime
) -> RotationRecord:
    """The old value stays; the item says why (no secret in the reason); one `secret.rotation_failed`.
    Tried again an hour later (or at the interval, if sooner); a failure no retry mends (the secret
    is gone) at the next interval."""
    reason = exc.reason
    if rec.pending is not None:
        try:
            rotators.abandon(t, _unseal(rec, "pending", rec.pending))
        except RotationFailed as left:
            logger.warning("abandoning a failed rotation's credential failed", extra={"reason": left.reason})
    interval = timedelta(days=rec.interval_days)
    retry = min(RETRY_AFTER_FAILURE, interval) if exc.transient else interval
    failed = rec.model_copy(
        update={
            "status": "failed",
            "last_error": reason[:500],
            "step": None,
            "pending": None,
            "rotation_id": None,
            "creating_since": None,
            "lease_owner": None,
            "lease_until": None,
            "next_rotation_at": clock.iso(now + retry),
            "rev": rec.rev + 1,
            "updated_at": clock.now_iso(),
        }
    )
    event = _event(rec, "secret.rotation_failed", step=rec.step, reason=failed.last_error, rotation_id=rec.rotation_id)
    chain.transact([data.replace(failed, previous=rec, on_fail=_moved())], audit=event)
    logger.warning("rotation failed", extra={"step": rec.step, "reason": failed.last_error})
    return failed


def _rotate(access: EnvironmentAccess, rec: RotationRecord, owner: str, now: datetime) -> RotationRecord | None:
    """One rotation under the lease (None: another holds it). A step's failure is recorded; any
    other error (KMS, DynamoDB) leaves the rotation to resume once its lease runs out."""
    taken = _take(rec, owner, now)
    if taken is None:
        return None
    t = _target(access, taken, now)
    try:
        if t.current is None:
            raise RotationFailed(
                "the secret has no value in this environment (missing or deleted): set one first", transient=False
            )
        ready = _steps(access, taken, t)
    except RotationFailed as exc:
        current = data.get(taken.environment_id, taken.key) or taken
        return _fail(access, current, t, exc, now)
    except AppError:
        _release(taken.environment_id, taken.key, owner)
        raise
    return _finish(access, ready, t, now)


def _release(env_id: str, key: str, owner: str) -> None:
    """An outage (KMS, DynamoDB) stopped the rotation: its lease is given back (best effort), its
    step and pending value kept, so that the next attempt resumes at once, not after the lease."""
    try:
        rec = data.get(env_id, key)
        if rec is not None and rec.lease_owner == owner:
            freed = rec.model_copy(update={"lease_owner": None, "lease_until": None, "rev": rec.rev + 1})
            data.swap(freed, previous=rec)
    except AppError:
        logger.warning("releasing a rotation's lease failed; it runs out by itself")


def _retire_now(rec: RotationRecord, now: datetime) -> RotationRecord:
    """Remove the old credentials whose grace period ended (one audited write for them)."""
    due = [r for r in rec.retire if r.after <= clock.iso(now)]
    if not due:
        return rec
    gone = []
    for r in due:
        try:
            rotators.retire(rec.rotator, r.credential_id)
            gone.append(r.credential_id)
        except RotationFailed as exc:
            logger.warning("retiring an old credential failed", extra={"reason": exc.reason})
    if not gone:
        return rec
    kept = [r for r in rec.retire if r.credential_id not in gone]
    after = rec.model_copy(update={"retire": kept, "rev": rec.rev + 1, "updated_at": clock.now_iso()})
    event = _event(rec, "secret.rotation_credentials_retired", credential_ids=gone)
    try:
        chain.transact([data.replace(after, previous=rec, on_fail=_moved())], audit=event)
    except Conflict:
        return rec  # moved meanwhile: the next run retires them again (idempotent)
    return after


def rotate_now(access: EnvironmentAccess, key: str) -> RotationPolicy:
    """Rotate at once (409 while another rotation runs); the answer shows how it went."""
    _check_env(access)
    rec = _get(access, key)
    done = _rotate(access, rec, "req_" + stdlib_secrets.token_hex(13), clock.now())
    if done is None:
        raise _busy()
    return RotationPolicy.model_validate(_view(done))


# --------------------------------------------------------------------------- the schedule


def _system_access(rec: RotationRecord) -> EnvironmentAccess | None:
    """The policy's environment as the rotation worker acts on it (None: gone)."""
    org = org_data.get(rec.org_id)
    project = project_data.get(rec.org_id, rec.project_id) if org else None
    env = project_data.environment(rec.org_id, rec.project_id, rec.environment_id) if project else None
    if org is None or project is None or env is None:
        return None
    return EnvironmentAccess(principal=WORKER, org=org, role="owner", project=project, environment=env)


def run_due(*, now: datetime | None = None, limit: int = BATCH, budget: float = RUN_BUDGET_SECONDS) -> dict[str, int]:
    """One run of the schedule: the policies due (one Query of the due index), each under its
    lease: old credentials retired, then rotated if its rotation is due (or was cut short). No
    policy is started past `budget` seconds (a rotation may wait on a database or an endpoint for
    a while): the next run takes the rest."""
    at = now or clock.now()
    owner = "wrk_" + stdlib_secrets.token_hex(13)
    counts: Counter[str] = Counter()
    started = time.monotonic()
    with acting_as(WORKER):
        for rec in data.due(clock.iso(at), limit=limit):
            if time.monotonic() - started > budget:
                counts["deferred"] += 1
                continue
            access = _system_access(rec)
            if access is None:  # its environment was deleted (audited there); its purge is under way
                data.discard(rec)
                counts["orphaned"] += 1
                continue
            try:
                counts[_run_one(access, rec, owner, at)] += 1
            except AppError as exc:  # an outage (KMS, DynamoDB): left to resume once its lease runs out
                logger.warning("rotation interrupted", extra={"error": exc.code})
                counts["interrupted"] += 1
    return {"succeeded": 0, "failed": 0, "skipped": 0, **counts}


def _run_one(access: EnvironmentAccess, rec: RotationRecord, owner: str, at: datetime) -> str:
    try:
        if not _leased(rec, clock.iso(at)):
            rec = _retire_now(rec, at)
        if rec.next_rotation_at > clock.iso(at) and rec.step is None:
            return "retired"
        done = _rotate(access, rec, owner, at)
    except Conflict:
        return "skipped"
    if done is None:
        return "skipped"
    return "succeeded" if done.status == "succeeded" else "failed"
