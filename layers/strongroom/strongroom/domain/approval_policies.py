"""Approval policies: which environments of a project need approvals, for access requests and/or
changes, and the workflow (ordered steps of approvers) that decides.

One policy at most covers an environment for each kind: its claim item is created with the policy
(409 `policy_overlap` when another holds it), so a write or a request finds its policy with one
GetItem. Approvers are members (by user ID) or roles (built-in or custom slugs) that exist when the
policy is written (422 `unknown_approver`). Requests copy the workflow when opened: changing or
deleting a policy never changes a request in flight.
"""

from __future__ import annotations

from typing import Any

from strongroom import clock, ids
from strongroom.data import approval_policies as data
from strongroom.data import chain, db
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data import roles as role_data
from strongroom.data.approval_policies import PolicyRecord, StepRecord
from strongroom.domain import approvals, audit
from strongroom.errors import Conflict, NotFound, Unprocessable
from strongroom.models.governance import Policy, PolicyBody
from strongroom.security import permissions
from strongroom.security.access import OrgAccess


def _not_found() -> NotFound:
    return NotFound("approval policy not found")


def _view(rec: PolicyRecord) -> Policy:
    return Policy(
        id=rec.id,
        name=rec.name,
        project_id=rec.project_id,
        environment_ids=rec.environment_ids,
        applies_to=rec.applies_to,
        approvals_required=sum(s.approvals_required for s in rec.steps),
        approvers=sorted({a for s in rec.steps for a in s.approvers}),
        steps=approvals.steps_view(rec.steps),
        allow_self_approval=rec.allow_self_approval,
        owner_bypass=rec.owner_bypass,
        max_duration_seconds=rec.max_duration_seconds,
        request_ttl_seconds=rec.request_ttl_seconds,
        created_at=rec.created_at,
        created_by=rec.created_by,
        updated_at=rec.updated_at,
    )


def _unprocessable(field: str, issue: str, code: str) -> Unprocessable:
    return Unprocessable(
        f"`{field}`: {issue}", code=code, details={"fields": [{"field": field, "location": "body", "issue": issue}]}
    )


def _check_approvers(org_id: str, steps: list[StepRecord]) -> None:
    named = {a for s in steps for a in s.approvers}
    users = sorted(a for a in named if ids.is_id(a, "usr"))
    members = org_data.memberships(org_id, users) if users else {}
    for who in sorted(named):
        if who in users:
            if who not in members:
                raise _unprocessable("approvers", f"{who} is not a member of this organization", "unknown_approver")
        elif not permissions.builtin(who) and role_data.get(org_id, who) is None:
            raise _unprocessable("approvers", f"no role or member is called {who!r}", "unknown_approver")
    for n, step in enumerate(steps, start=1):
        users_named = [a for a in step.approvers if ids.is_id(a, "usr")]
        roles_named = [a for a in step.approvers if not ids.is_id(a, "usr")]
        if not roles_named and len(users_named) < step.approvals_required:
            raise _unprocessable(
                f"steps[{n}].approvals_required",
                "more approvals than the step names approvers",
                "unsatisfiable_step",
            )


def _record(access: OrgAccess, body: PolicyBody, *, previous: PolicyRecord | None) -> PolicyRecord:
    org_id = access.org.id
    project = project_data.resolve(org_id, body.project)
    if project is None or not access.sees(project_id=project.id):
        raise _unprocessable("project", "no such project", "unknown_project")
    env_ids: list[str] = []
    for ref in body.environments:
        env = project_data.resolve_environment(org_id, project.id, ref)
        if env is None:
            raise _unprocessable("environments", f"no environment {ref!r} in this project", "unknown_environment")
        if env.id not in env_ids:
            env_ids.append(env.id)
    steps = [
        StepRecord(approvals_required=s.approvals_required, approvers=sorted(set(s.approvers))) for s in body.workflow()
    ]
    _check_approvers(org_id, steps)
    now = clock.now_iso()
    return PolicyRecord(
        id=previous.id if previous else ids.new_id("pol"),
        org_id=org_id,
        name=body.name,
        project_id=project.id,
        environment_ids=env_ids,
        applies_to=sorted(set(body.applies_to)),
        steps=steps,
        allow_self_approval=body.allow_self_approval,
        owner_bypass=body.owner_bypass,
        max_duration_seconds=body.max_duration_seconds,
        request_ttl_seconds=body.request_ttl_seconds,
        version=previous.version + 1 if previous else 1,
        created_at=previous.created_at if previous else now,
        created_by=previous.created_by if previous else access.principal.id,
        updated_at=now if previous else None,
    )


def _event(action: str, rec: PolicyRecord) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="approval_policy",
        resource_id=rec.id,
        project_id=rec.project_id,
        metadata={
            "name": rec.name,
            "environment_ids": rec.environment_ids,
            "applies_to": rec.applies_to,
            "steps": [s.model_dump() for s in rec.steps],
            "owner_bypass": rec.owner_bypass,
            "allow_self_approval": rec.allow_self_approval,
        },
    )


def _overlap() -> Conflict:
    return Conflict(
        "another approval policy already covers one of these environments for that kind", code="policy_overlap"
    )


def _claims(old: PolicyRecord | None, new: PolicyRecord | None) -> list[db.Op]:
    before, after = old.claims() if old else set(), new.claims() if new else set()
    org_id = (new or old).org_id  # type: ignore[union-attr]
    policy_id = (new or old).id  # type: ignore[union-attr]
    ops: list[db.Op] = [data.release(org_id, env, kind, policy_id) for env, kind in sorted(before - after)]
    ops += [data.claim(org_id, env, kind, policy_id, on_fail=_overlap()) for env, kind in sorted(after - before)]
    return ops


def list_policies(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Policy], str | None]:
    found, next_cursor = data.page(access.org.id, limit=limit, cursor=cursor)
    return [_view(p) for p in found if access.sees(project_id=p.project_id)], next_cursor


def _get(access: OrgAccess, policy_id: str) -> PolicyRecord:
    rec = data.get(access.org.id, policy_id) if ids.is_id(policy_id, "pol") else None
    if rec is None:
        raise _not_found()
    return rec


def get(access: OrgAccess, policy_id: str) -> Policy:
    return _view(_get(access, policy_id))


def create(access: OrgAccess, body: PolicyBody) -> Policy:
    rec = _record(access, body, previous=None)
    ops = [data.create(rec, on_fail=Conflict("approval policy exists")), *_claims(None, rec)]
    chain.transact(ops, audit=_event("approval_policy.created", rec))
    return _view(rec)


def _moved() -> Conflict:
    return Conflict("the approval policy changed meanwhile; read it again", code="policy_changed")


def replace(access: OrgAccess, policy_id: str, body: PolicyBody) -> Policy:
    old = _get(access, policy_id)
    new = _record(access, body, previous=old)
    ops: list[Any] = [data.replace(old, new, on_fail=_moved()), *_claims(old, new)]
    chain.transact(ops, audit=_event("approval_policy.updated", new))
    return _view(new)


def delete(access: OrgAccess, policy_id: str) -> None:
    old = _get(access, policy_id)
    ops = [data.delete(old, on_fail=_moved()), *_claims(old, None)]
    chain.transact(ops, audit=_event("approval_policy.deleted", old))
