"""Access requests: a member asks for `secrets.read` or `secrets.write` on one environment, for a
while (at most its policy's `max_duration_seconds`), with a reason; the policy's approvers decide
(domain/approvals.py: ordered steps, distinct approvers, the self-approval ban, owner bypass).
Once approved, the requester holds the permission there until `grant_expires_at`: the grant is an
item the one permission choke point (security/access.py) reads at each decision, so the end of a
grant, or its cancellation, acts at once.

Every transition (created, approval recorded, approved, rejected, cancelled, expired) is the
request's item replaced on the condition of the version read, with its one audit event, in one
transaction: of two racing decisions one lands and the other re-reads (and is refused when the
request is no longer pending: 409). A request found past its deadline by a decision is moved to
`expired` (audited) and the decision is 409 `expired`.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from strongroom import clock, ids
from strongroom.data import approval_policies as policy_data
from strongroom.data import approval_requests as data
from strongroom.data import chain, db
from strongroom.data import projects as project_data
from strongroom.data.approval_requests import AccessRequestRecord
from strongroom.domain import approvals, audit
from strongroom.errors import Conflict, Forbidden, NotFound, Unprocessable
from strongroom.models.governance import AccessRequest, AccessRequestCreate
from strongroom.security.access import EnvironmentAccess, OrgAccess

KIND = "access_requests"


def _not_found() -> NotFound:
    return NotFound("access request not found")


def _user_only(access: OrgAccess) -> None:
    if access.principal.type != "user":
        raise Forbidden("access requests are for members", code="user_required")


def _status(rec: AccessRequestRecord, now: str) -> str:
    if rec.status == "pending" and rec.expires_at <= now:
        return "expired"
    if rec.status == "approved" and rec.grant_expires_at is not None and rec.grant_expires_at <= now:
        return "expired"
    return rec.status


def _view(rec: AccessRequestRecord) -> AccessRequest:
    status = _status(rec, clock.now_iso())
    return AccessRequest(
        id=rec.id,
        status=status,  # type: ignore[arg-type]
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        permission=rec.permission,
        duration_seconds=rec.duration_seconds,
        reason=rec.reason,
        requester_id=rec.requester_id,
        policy_id=rec.policy_id,
        steps=approvals.steps_view(rec.steps),
        current_step=approvals.current_step(rec, waiting=status == "pending"),
        approvals=approvals.approvals_view(rec),
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        granted_at=rec.granted_at,
        grant_expires_at=rec.grant_expires_at,
        decided_by=rec.decided_by,
        decision_reason=rec.decision_reason,
        agent_read=rec.agent_read,
        job_id=rec.job_id,
    )


def _event(action: str, rec: AccessRequestRecord, **metadata: object) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="access_request",
        resource_id=rec.id,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={
            "permission": rec.permission,
            "requester_id": rec.requester_id,
            "duration_seconds": rec.duration_seconds,
            "policy_id": rec.policy_id,
            **metadata,
        },
    )


def _tell_approvers(rec: AccessRequestRecord, env_slug: str) -> None:
    step = rec.steps[rec.step]
    approvals.notify(
        rec.org_id,
        step,
        except_user=rec.requester_id,
        subject=f"Strongroom: access request {rec.id} waits for your approval",
        text=(
            f"A member asks for {rec.permission} on the environment {env_slug} for {rec.duration_seconds} s.\n"
            f"Reason: {rec.reason}\n\n"
            f"Approve:  strongroom requests approve {rec.id}\n"
            f"Reject:   strongroom requests reject {rec.id} --reason '...'\n"
        ),
    )


# --------------------------------------------------------------------------- open


def create(access: EnvironmentAccess, body: AccessRequestCreate) -> AccessRequest:
    """A pending request, or 409 `already_permitted` (the role holds it), 422 `no_approval_policy`
    (no policy covers this environment for access requests), 422 `duration_too_long`."""
    _user_only(access)
    env = access.environment
    if access.role_allows(body.permission, env):
        raise Conflict(f"your role already holds {body.permission} here", code="already_permitted")
    policy = policy_data.covering(access.org.id, env.id, KIND)
    if policy is None:
        raise Unprocessable("no approval policy covers this environment for access requests", code="no_approval_policy")
    if body.duration_seconds > policy.max_duration_seconds:
        raise Unprocessable(
            f"the policy allows at most {policy.max_duration_seconds} s",
            code="duration_too_long",
            details={"max_duration_seconds": policy.max_duration_seconds},
        )
    agent_read = _agent_read(access, body)
    now = clock.now()
    rec = AccessRequestRecord(
        id=ids.new_id("req"),
        org_id=access.org.id,
        project_id=access.project.id,
        environment_id=env.id,
        status="pending",
        policy_id=policy.id,
        steps=policy.steps,
        allow_self_approval=policy.allow_self_approval,
        owner_bypass=policy.owner_bypass,
        created_at=clock.iso(now),
        expires_at=clock.iso(now + timedelta(seconds=policy.request_ttl_seconds)),
        requester_id=access.principal.id,
        permission=body.permission,
        duration_seconds=body.duration_seconds,
        reason=body.reason,
        agent_read=agent_read,
    )
    chain.transact([data.create(rec)], audit=_event("access_request.created", rec))
    _tell_approvers(rec, env.slug)
    return _view(rec)


def _agent_read(access: EnvironmentAccess, body: AccessRequestCreate) -> dict[str, str] | None:
    """An agent read names a ref its agent reported (422 `unknown_ref` otherwise)."""
    if body.agent_read is None:
        return None
    from strongroom.domain import discovery  # noqa: PLC0415 - agent reads only

    wanted = body.agent_read
    if not discovery.managed_by(access.org.id, wanted.agent, wanted.ref):
        raise Unprocessable(
            "no agent of this organization reported that ref",
            code="unknown_ref",
            details={
                "fields": [{"field": "agent_read.ref", "location": "body", "issue": "not reported by that agent"}]
            },
        )
    return wanted.model_dump()


def _agent_job(rec: AccessRequestRecord) -> tuple[str, db.Op]:
    """The read job an approved agent read queues, in the approval's transaction: (its ID, its op)."""
    from strongroom.domain import agent_jobs  # noqa: PLC0415 - agent reads only

    wanted = rec.agent_read or {}
    params = {"ref": wanted["ref"], "recipient_public_key": wanted["recipient_public_key"]}
    job = agent_jobs.queue_read(rec.org_id, wanted["agent"], params, requester=rec.requester_id, request_id=rec.id)
    return job.id, agent_jobs.job_op(job)


# --------------------------------------------------------------------------- read


def _get(access: OrgAccess, request_id: str) -> AccessRequestRecord:
    rec = data.access_request(access.org.id, request_id) if ids.is_id(request_id, "req") else None
    if rec is None or not access.sees(project_id=rec.project_id, environment_id=rec.environment_id):
        raise _not_found()
    return rec


def get(access: OrgAccess, request_id: str) -> AccessRequest:
    _user_only(access)
    return _view(_get(access, request_id))


def list_requests(
    access: OrgAccess, *, status: str | None, requester: str | None, limit: int, cursor: str | None
) -> tuple[list[AccessRequest], str | None]:
    _user_only(access)
    found, next_cursor = data.access_requests_page(
        access.org.id, status=status, requester=requester, limit=limit, cursor=cursor
    )
    return [_view(r) for r in found], next_cursor


# --------------------------------------------------------------------------- decide


def _expire(rec: AccessRequestRecord) -> Conflict:
    """Move a request found past its deadline to `expired` (audited); the 409 to answer."""
    new = rec.model_copy(update={"status": "expired", "version": rec.version + 1})
    ops: list[db.Op] = [data.transition(rec, new, on_fail=approvals.Moved())]
    if rec.status == "approved":
        ops.append(data.revoke(rec))
    with contextlib.suppress(approvals.Moved):  # someone else moved it meanwhile: not pending either way
        chain.transact(ops, audit=_event("access_request.expired", new))
    return Conflict("this access request has expired", code="expired")


def _pending(rec: AccessRequestRecord, now: str) -> None:
    if _status(rec, now) == "expired" and rec.status in {"pending", "approved"}:
        raise _expire(rec)
    if rec.status != "pending":
        raise Conflict(f"this access request is {rec.status}", code="not_pending", details={"status": rec.status})


def _environment(rec: AccessRequestRecord) -> project_data.EnvironmentRecord:
    env = project_data.environment(rec.org_id, rec.project_id, rec.environment_id)
    if env is None:
        raise Conflict("the environment of this request is gone", code="environment_gone")
    return env


def approve(access: OrgAccess, request_id: str, comment: str) -> AccessRequest:
    """One approval; the last one the workflow needs approves the request and grants the
    permission until now + `duration_seconds`. The approver must hold it themselves (403
    `approver_lacks_permission`)."""
    _user_only(access)

    def step() -> AccessRequest:
        rec = _get(access, request_id)
        now = clock.now()
        _pending(rec, clock.iso(now))
        outcome = approvals.decide(
            rec,
            subject_id=rec.requester_id,
            user_id=access.principal.id,
            role=access.role,
            comment=comment,
            now=clock.iso(now),
        )
        env = _environment(rec)
        if not access.role_allows(rec.permission, env):
            raise Forbidden(
                f"you cannot grant {rec.permission} here: your role does not hold it", code="approver_lacks_permission"
            )
        changes: dict[str, object] = {"approvals": outcome.approvals, "step": outcome.step, "version": rec.version + 1}
        end = now + timedelta(seconds=rec.duration_seconds)
        if outcome.complete:
            changes |= {
                "status": "approved",
                "granted_at": clock.iso(now),
                "grant_expires_at": clock.iso(end),
                "decided_by": access.principal.id,
            }
        extra: list[db.Op] = []
        if outcome.complete and rec.agent_read is not None:
            # An agent read grants no timed permission: it queues the one read job, for the requester.
            changes["job_id"], job_op = _agent_job(rec)
            extra.append(job_op)
        new = rec.model_copy(update=changes)
        ops: list[db.Op] = [data.transition(rec, new, on_fail=approvals.Moved()), *extra]
        if outcome.complete and rec.agent_read is None:
            ops.append(data.grant(new, expires_epoch=int(end.timestamp())))
        action = "access_request.approved" if outcome.complete else "access_request.approval_recorded"
        chain.transact(
            ops, audit=_event(action, new, step=rec.step + 1, approvals=len(outcome.approvals), bypass=outcome.bypass)
        )
        if not outcome.complete and outcome.step != rec.step:
            _tell_approvers(new, env.slug)
        return _view(new)

    return approvals.retrying(step)


def reject(access: OrgAccess, request_id: str, reason: str) -> AccessRequest:
    _user_only(access)

    def step() -> AccessRequest:
        rec = _get(access, request_id)
        _pending(rec, clock.now_iso())
        approvals.may_reject(rec, user_id=access.principal.id, role=access.role)
        new = rec.model_copy(
            update={
                "status": "rejected",
                "decided_by": access.principal.id,
                "decision_reason": reason,
                "version": rec.version + 1,
            }
        )
        ops = [data.transition(rec, new, on_fail=approvals.Moved())]
        chain.transact(ops, audit=_event("access_request.rejected", new))
        return _view(new)

    return approvals.retrying(step)


def cancel(access: OrgAccess, request_id: str) -> AccessRequest:
    """By the requester only (403 `not_requester`): a pending request is withdrawn, an approved one
    ends its grant now."""
    _user_only(access)

    def step() -> AccessRequest:
        rec = _get(access, request_id)
        if rec.requester_id != access.principal.id:
            raise Forbidden("only the requester can cancel an access request", code="not_requester")
        if _status(rec, clock.now_iso()) == "expired" and rec.status in {"pending", "approved"}:
            raise _expire(rec)
        if rec.status not in {"pending", "approved"}:
            raise Conflict(f"this access request is {rec.status}", code="not_pending", details={"status": rec.status})
        update = {"status": "cancelled", "decided_by": access.principal.id, "version": rec.version + 1}
        new = rec.model_copy(update=update)
        ops: list[db.Op] = [data.transition(rec, new, on_fail=approvals.Moved())]
        if rec.status == "approved":
            ops.append(data.revoke(rec))
        chain.transact(ops, audit=_event("access_request.cancelled", new, was=rec.status))
        return _view(new)

    return approvals.retrying(step)
