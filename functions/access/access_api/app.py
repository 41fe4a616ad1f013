"""Governance of an org: approval policies (admin), access requests (any member asks, approvers
decide, the requester cancels) and change requests (writes into protected environments, held for
approval, then applied by their author)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import access_requests, approval_policies, change_requests
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models.governance import (
    AccessRequest,
    AccessRequestCreate,
    AccessRequestList,
    ChangeRequest,
    ChangeRequestList,
    CommentBody,
    Decision,
    Policy,
    PolicyBody,
    PolicyList,
    Rejection,
)
from strongroom.security.access import environment_access, org_access

app = build_app()

PolicyRef = Annotated[str, Path(pattern=REF_PATTERN, description="Approval policy ID (pol_…)")]
RequestRef = Annotated[str, Path(pattern=REF_PATTERN, description="Access request ID (req_…)")]
ChangeRef = Annotated[str, Path(pattern=REF_PATTERN, description="Change request ID (chr_…)")]
UserFilter = Annotated[str | None, Query(pattern=REF_PATTERN, description="Only this requester's (usr_…)")]


# --------------------------------------------------------------------------- approval policies


@app.get("/v1/orgs/<org>/approval-policies")
def list_approval_policies(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> PolicyList:
    """Every member sees the policies (who approves what)."""
    access = org_access(org, "projects.read")
    return PolicyList.of(approval_policies.list_policies(access, limit=limit, cursor=cursor))


@app.post("/v1/orgs/<org>/approval-policies", responses={201: {"description": "Created"}})
def create_approval_policy(org: OrgRef, body: PolicyBody) -> Response[Policy]:
    """One policy at most per environment and kind (409 `policy_overlap`)."""
    access = org_access(org, "policies.manage")
    return created(approval_policies.create(access, body))


@app.get("/v1/orgs/<org>/approval-policies/<id>")
def get_approval_policy(org: OrgRef, id: PolicyRef) -> Policy:  # noqa: A002 - the contract's name
    access = org_access(org, "projects.read")
    return approval_policies.get(access, id)


@app.put("/v1/orgs/<org>/approval-policies/<id>")
def replace_approval_policy(org: OrgRef, id: PolicyRef, body: PolicyBody) -> Policy:  # noqa: A002
    """Replaced whole; requests already open keep the workflow they were opened with."""
    access = org_access(org, "policies.manage")
    return approval_policies.replace(access, id, body)


@app.delete("/v1/orgs/<org>/approval-policies/<id>", responses={204: {"description": "Deleted"}})
def delete_approval_policy(org: OrgRef, id: PolicyRef) -> Response[str]:  # noqa: A002
    access = org_access(org, "policies.manage")
    approval_policies.delete(access, id)
    return no_content()


# --------------------------------------------------------------------------- access requests


@app.post("/v1/orgs/<org>/access-requests", responses={201: {"description": "Created (pending)"}})
def create_access_request(org: OrgRef, body: AccessRequestCreate) -> Response[AccessRequest]:
    """Ask for a permission on one environment for `duration_seconds`; the policy's approvers are
    told by mail and webhook (`access_request.created`)."""
    access = environment_access(org, body.project, body.environment, "projects.read")
    return created(access_requests.create(access, body))


@app.get("/v1/orgs/<org>/access-requests")
def list_access_requests(
    org: OrgRef,
    status: Annotated[
        Literal["pending", "approved", "rejected", "cancelled", "expired"] | None,
        Query(description="As stored: a grant past its end is listed as approved and shown expired"),
    ] = None,
    requester: UserFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AccessRequestList:
    access = org_access(org, "org.read")
    return AccessRequestList.of(
        access_requests.list_requests(access, status=status, requester=requester, limit=limit, cursor=cursor)
    )


@app.get("/v1/orgs/<org>/access-requests/<id>")
def get_access_request(org: OrgRef, id: RequestRef) -> AccessRequest:  # noqa: A002
    """With its approvals."""
    access = org_access(org, "org.read")
    return access_requests.get(access, id)


@app.post("/v1/orgs/<org>/access-requests/<id>/approve")
def approve_access_request(org: OrgRef, id: RequestRef, body: Decision) -> AccessRequest:  # noqa: A002
    """An approver of the current step (never the requester); 409 once decided, expired or approved
    by you already."""
    access = org_access(org, "org.read")
    return access_requests.approve(access, id, body.comment)


@app.post("/v1/orgs/<org>/access-requests/<id>/reject")
def reject_access_request(org: OrgRef, id: RequestRef, body: Rejection) -> AccessRequest:  # noqa: A002
    access = org_access(org, "org.read")
    return access_requests.reject(access, id, body.reason)


@app.post("/v1/orgs/<org>/access-requests/<id>/cancel")
def cancel_access_request(org: OrgRef, id: RequestRef) -> AccessRequest:  # noqa: A002
    """The requester only (others 403); an approved request's grant ends now."""
    access = org_access(org, "org.read")
    return access_requests.cancel(access, id)


# --------------------------------------------------------------------------- change requests


@app.get("/v1/orgs/<org>/change-requests")
def list_change_requests(
    org: OrgRef,
    status: Annotated[
        Literal["open", "approved", "rejected", "applied", "expired"] | None, Query(description="As stored")
    ] = None,
    environment: Annotated[str | None, Query(pattern=REF_PATTERN, description="Only this environment (env_…)")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ChangeRequestList:
    access = org_access(org, "org.read")
    return ChangeRequestList.of(
        change_requests.list_requests(access, status=status, environment=environment, limit=limit, cursor=cursor)
    )


@app.get("/v1/orgs/<org>/change-requests/<id>")
def get_change_request(org: OrgRef, id: ChangeRef) -> ChangeRequest:  # noqa: A002
    """The diff: keys, actions, the versions before and after (never values)."""
    access = org_access(org, "org.read")
    return change_requests.get(access, id)


@app.post("/v1/orgs/<org>/change-requests/<id>/approve")
def approve_change_request(org: OrgRef, id: ChangeRef, body: Decision) -> ChangeRequest:  # noqa: A002
    """An approver of the current step who may write there (never the author)."""
    access = org_access(org, "org.read")
    return change_requests.approve(access, id, body.comment)


@app.post("/v1/orgs/<org>/change-requests/<id>/reject")
def reject_change_request(org: OrgRef, id: ChangeRef, body: Rejection) -> ChangeRequest:  # noqa: A002
    access = org_access(org, "org.read")
    return change_requests.reject(access, id, body.reason)


@app.post("/v1/orgs/<org>/change-requests/<id>/comments")
def comment_change_request(org: OrgRef, id: ChangeRef, body: CommentBody) -> ChangeRequest:  # noqa: A002
    access = org_access(org, "org.read")
    return change_requests.comment(access, id, body.body)


@app.post("/v1/orgs/<org>/change-requests/<id>/apply")
def apply_change_request(org: OrgRef, id: ChangeRef) -> ChangeRequest:  # noqa: A002
    """By the author, once approved: one atomic change, or 409 `stale` when a key it changes moved
    since it was opened (nothing written)."""
    access = org_access(org, "org.read")
    return change_requests.apply(access, id)


lambda_handler = make_handler(app)
