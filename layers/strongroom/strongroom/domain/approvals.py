"""Approval workflows, shared by access requests and change requests.

A request copies its policy's workflow when it is opened: ordered steps, each needing
`approvals_required` distinct approvers among its `approvers` (user IDs or role slugs). Only the
current step's approvers decide; an approver of a later step is 409 `step_pending` until the steps
before are complete. Nobody approves twice, in any step. With the self-approval ban (the default)
the requester (or author) cannot approve their own (403 `self_approval`). With `owner_bypass` (the
default) an owner's approval completes the whole workflow at once, recorded as a bypass.

`decide` is pure (unit-tested without a store); `notify` mails a step's approvers, best effort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from strongroom.data import orgs as org_data
from strongroom.data.approval_policies import StepRecord
from strongroom.data.approval_requests import ApprovalRecord, UnderApproval
from strongroom.errors import Conflict, Forbidden
from strongroom.models.governance import Approval, StepView
from strongroom.observability import logger
from strongroom.security.permissions import Role

MAX_ATTEMPTS = 30  # racing deciders each re-read and decide again; one wins each round


class Moved(Conflict):
    """Someone moved the request first (its version changed): read it again and decide again."""

    def __init__(self) -> None:
        super().__init__("the request moved meanwhile", code="contended")


def retrying[T](step: Callable[[], T]) -> T:
    """Run a read-decide-write `step` until its write lands (a `Moved` write is tried again)."""
    for _attempt in range(MAX_ATTEMPTS):
        try:
            return step()
        except Moved:
            continue
    raise Conflict("too many concurrent decisions; retry", code="contended", headers={"Retry-After": "1"})


def names(step: StepRecord, *, user_id: str, role: str) -> bool:
    """Whether a step names this member (by ID, or by role slug)."""
    return user_id in step.approvers or role in step.approvers


@dataclass(frozen=True, slots=True)
class Outcome:
    approvals: list[ApprovalRecord]
    step: int  # the step waiting next (== len(steps) once complete)
    complete: bool
    bypass: bool


def decide(rec: UnderApproval, *, subject_id: str, user_id: str, role: str, comment: str, now: str) -> Outcome:
    """Pure: what `user_id` (holding `role`) approving `rec` makes of it, or the refusal. `rec` is
    pending (the caller checked its status and expiry)."""
    if any(a.user_id == user_id for a in rec.approvals):
        raise Conflict("you have approved this already", code="already_approved")
    if user_id == subject_id and not rec.allow_self_approval:
        raise Forbidden("you cannot approve your own request", code="self_approval")
    if rec.owner_bypass and role == Role.OWNER:
        entry = ApprovalRecord(user_id=user_id, step=rec.step, comment=comment, bypass=True, at=now)
        return Outcome([*rec.approvals, entry], len(rec.steps), complete=True, bypass=True)
    current = rec.steps[rec.step]
    if not names(current, user_id=user_id, role=role):
        if any(names(s, user_id=user_id, role=role) for s in rec.steps[rec.step + 1 :]):
            raise Conflict(
                f"step {rec.step + 1} is not complete yet: your step decides after it",
                code="step_pending",
                details={"current_step": rec.step + 1},
            )
        raise Forbidden("you are not an approver of this request", code="not_an_approver")
    entry = ApprovalRecord(user_id=user_id, step=rec.step, comment=comment, at=now)
    approvals = [*rec.approvals, entry]
    done = sum(1 for a in approvals if a.step == rec.step) >= current.approvals_required
    step = rec.step + 1 if done else rec.step
    return Outcome(approvals, step, complete=step >= len(rec.steps), bypass=False)


def may_reject(rec: UnderApproval, *, user_id: str, role: str) -> None:
    """Any approver of the current step (or an owner when owners bypass) may reject."""
    if rec.owner_bypass and role == Role.OWNER:
        return
    if not names(rec.steps[rec.step], user_id=user_id, role=role):
        raise Forbidden("you are not an approver of this request's current step", code="not_an_approver")


def steps_view(steps: list[StepRecord]) -> list[StepView]:
    return [StepView(approvals_required=s.approvals_required, approvers=list(s.approvers)) for s in steps]


def approvals_view(rec: UnderApproval) -> list[Approval]:
    return [
        Approval(user_id=a.user_id, step=a.step + 1, comment=a.comment, bypass=a.bypass, at=a.at) for a in rec.approvals
    ]


def current_step(rec: UnderApproval, *, waiting: bool) -> int | None:
    return rec.step + 1 if waiting and rec.step < len(rec.steps) else None


def approver_emails(org_id: str, step: StepRecord, *, except_user: str) -> list[str]:
    """The emails of the members a step names (by ID or role), but `except_user`."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        members, cursor = org_data.members_page(org_id, limit=500, cursor=cursor)
        found += [
            m.email
            for m in members
            if m.user_id != except_user and names(step, user_id=m.user_id, role=m.role) and m.email
        ]
        if cursor is None:
            return sorted(set(found))


def notify(org_id: str, step: StepRecord, *, except_user: str, subject: str, text: str) -> None:
    """Mail a step's approvers (SES; the local mailbox). Best effort: the decision is written
    already, and a mail that fails is logged (without an address), never the request's failure."""
    from strongroom.data import mail  # noqa: PLC0415

    try:
        for email in approver_emails(org_id, step, except_user=except_user):
            mail.send(email, subject, text)
    except Exception as exc:  # noqa: BLE001 - the request's outcome is decided
        logger.warning("approver mail not sent", extra={"error": type(exc).__name__})
