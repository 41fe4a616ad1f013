"""Change requests: writes into an environment a `changes` policy covers, held for approval
(opened by the write itself: domain/change_hold.py), decided by the policy's workflow
(domain/approvals.py), then applied by their author as one atomic change.

Only the author applies (docs/decisions.md, "Governance"): approvers approve what they read, the
author owns the change and re-opens it when it is stale. Applying writes the proposed values as
one change of the environment conditional on the revision read, and 409 `stale` (nothing written)
when any key it changes moved since the request was opened; the request's move to `applied` is in
the same transaction (conditional on its version), so of racing applies one lands.
"""

from __future__ import annotations

import contextlib

from strongroom import clock, ids
from strongroom.data import approval_requests as data
from strongroom.data import chain, db
from strongroom.data.approval_requests import ChangeRequestRecord, CommentRecord
from strongroom.domain import approvals, change_hold, secrets
from strongroom.errors import Conflict, Forbidden, NotFound
from strongroom.models.governance import ChangeRequest
from strongroom.security.access import OrgAccess, environment_access


def _user_only(access: OrgAccess) -> None:
    if access.principal.type != "user":
        raise Forbidden("change requests are for members", code="user_required")


def _get(access: OrgAccess, request_id: str) -> ChangeRequestRecord:
    rec = data.change_request(access.org.id, request_id) if ids.is_id(request_id, "chr") else None
    if rec is None or not access.sees(project_id=rec.project_id, environment_id=rec.environment_id):
        raise NotFound("change request not found")
    return rec


def get(access: OrgAccess, request_id: str) -> ChangeRequest:
    _user_only(access)
    return change_hold.view(_get(access, request_id))


def list_requests(
    access: OrgAccess, *, status: str | None, environment: str | None, limit: int, cursor: str | None
) -> tuple[list[ChangeRequest], str | None]:
    _user_only(access)
    found, next_cursor = data.change_requests_page(
        access.org.id, status=status, environment=environment, limit=limit, cursor=cursor
    )
    return [change_hold.view(r) for r in found], next_cursor


def _expire(rec: ChangeRequestRecord) -> Conflict:
    new = rec.model_copy(update={"status": "expired", "version": rec.version + 1})
    with contextlib.suppress(approvals.Moved):
        chain.transact(
            [data.transition(rec, new, on_fail=approvals.Moved())],
            audit=change_hold.event("change_request.expired", new),
        )
    return Conflict("this change request has expired", code="expired")


def _expect(rec: ChangeRequestRecord, wanted: set[str]) -> None:
    if change_hold.status(rec, clock.now_iso()) == "expired" and rec.status in {"open", "approved"}:
        raise _expire(rec)
    if rec.status not in wanted:
        raise Conflict(
            f"this change request is {rec.status}",
            code=f"not_{'_'.join(sorted(wanted))}",
            details={"status": rec.status},
        )


def _approver_may_write(access: OrgAccess, rec: ChangeRequestRecord) -> None:
    target = environment_access(access.org.id, rec.project_id, rec.environment_id, "projects.read")
    if not target.role_allows("secrets.write", target.environment):
        raise Forbidden(
            "you cannot approve writes here: your role does not hold secrets.write", code="approver_lacks_permission"
        )


def approve(access: OrgAccess, request_id: str, comment: str) -> ChangeRequest:
    _user_only(access)

    def step() -> ChangeRequest:
        rec = _get(access, request_id)
        _expect(rec, {"open"})
        now = clock.now_iso()
        outcome = approvals.decide(
            rec, subject_id=rec.author_id, user_id=access.principal.id, role=access.role, comment=comment, now=now
        )
        _approver_may_write(access, rec)
        update: dict[str, object] = {"approvals": outcome.approvals, "step": outcome.step, "version": rec.version + 1}
        if outcome.complete:
            update |= {"status": "approved", "decided_by": access.principal.id}
        new = rec.model_copy(update=update)
        action = "change_request.approved" if outcome.complete else "change_request.approval_recorded"
        event = change_hold.event(
            action, new, step=rec.step + 1, approvals=len(outcome.approvals), bypass=outcome.bypass
        )
        chain.transact([data.transition(rec, new, on_fail=approvals.Moved())], audit=event)
        return change_hold.view(new)

    return approvals.retrying(step)


def reject(access: OrgAccess, request_id: str, reason: str) -> ChangeRequest:
    _user_only(access)

    def step() -> ChangeRequest:
        rec = _get(access, request_id)
        _expect(rec, {"open", "approved"})
        approvals.may_reject(rec, user_id=access.principal.id, role=access.role)
        update = {
            "status": "rejected",
            "decided_by": access.principal.id,
            "decision_reason": reason,
            "version": rec.version + 1,
        }
        new = rec.model_copy(update=update)
        chain.transact(
            [data.transition(rec, new, on_fail=approvals.Moved())],
            audit=change_hold.event("change_request.rejected", new),
        )
        return change_hold.view(new)

    return approvals.retrying(step)


def comment(access: OrgAccess, request_id: str, body: str) -> ChangeRequest:
    """Any member who sees it comments while it is open or approved (the text is not in the event)."""
    _user_only(access)

    def step() -> ChangeRequest:
        rec = _get(access, request_id)
        _expect(rec, {"open", "approved"})
        entry = CommentRecord(user_id=access.principal.id, body=body, at=clock.now_iso())
        new = rec.model_copy(update={"comments": [*rec.comments, entry], "version": rec.version + 1})
        event = change_hold.event("change_request.commented", new, comments=len(new.comments))
        chain.transact([data.transition(rec, new, on_fail=approvals.Moved())], audit=event)
        return change_hold.view(new)

    return approvals.retrying(step)


def apply(access: OrgAccess, request_id: str) -> ChangeRequest:
    """By its author (403 `not_author`), once approved, while they may still write there."""
    _user_only(access)
    rec = _get(access, request_id)
    if rec.author_id != access.principal.id:
        raise Forbidden("only the author applies a change request", code="not_author")
    _expect(rec, {"approved"})
    target = environment_access(access.org.id, rec.project_id, rec.environment_id, "secrets.write")
    values = change_hold.unseal(target, rec)
    now = clock.now_iso()
    applied: dict[str, ChangeRequestRecord] = {}

    def finish(revision: int) -> list[db.Op]:
        current = data.change_request(rec.org_id, rec.id)  # read again at each attempt: racing applies
        if current is None or current.status != "approved":
            raise Conflict("this change request is not approved (applied already?)", code="not_approved")
        new = current.model_copy(
            update={
                "status": "applied",
                "applied_at": now,
                "applied_revision": revision,
                "version": current.version + 1,
            }
        )
        applied["new"] = new
        return [
            data.transition(current, new, on_fail=Conflict("this change request moved meanwhile", code="not_approved"))
        ]

    secrets.apply_held(target, rec, values, finish)
    return change_hold.view(applied["new"])
