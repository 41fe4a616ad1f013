"""Governance: approval policies, access requests (time-bound grants) and change requests (writes
into protected environments held for approval)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from strongroom.models.agents import AgentId, Ref, X25519Key
from strongroom.models.common import Name, Page, Request, Response, ScopeRef

MAX_APPROVALS = 10
MAX_STEPS = 5
MAX_DURATION_SECONDS = 30 * 86_400  # the longest grant a policy may allow
DEFAULT_MAX_DURATION_SECONDS = 8 * 3600
DEFAULT_REQUEST_TTL_SECONDS = 7 * 86_400  # how long a request waits for its decision (or to be applied)

PolicyKind = Literal["access_requests", "changes"]
GrantablePermission = Literal["secrets.read", "secrets.write"]
# A user ID (usr_…) or a role's slug (built-in or custom).
Approver = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")]
Text = Annotated[str, StringConstraints(max_length=1000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"\S")]


class ApprovalStep(Request):
    """One step of a workflow: `approvals_required` distinct approvers among `approvers`."""

    approvals_required: int = Field(default=1, ge=1, le=MAX_APPROVALS)
    approvers: list[Approver] = Field(min_length=1, max_length=50, description="User IDs (usr_…) or role slugs")


class PolicyBody(Request):
    """Either `approvals_required` and `approvers` (one step), or `steps` (approved in order: step 2's
    approvers decide only once step 1 is complete)."""

    name: Name
    project: ScopeRef = Field(description="ID or slug")
    environments: list[ScopeRef] = Field(min_length=1, max_length=50, description="IDs or slugs")
    applies_to: list[PolicyKind] = Field(min_length=1, max_length=2)
    approvals_required: int | None = Field(default=None, ge=1, le=MAX_APPROVALS)
    approvers: list[Approver] | None = Field(default=None, min_length=1, max_length=50)
    steps: list[ApprovalStep] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    allow_self_approval: bool = Field(default=False, description="Whether a requester or author may approve their own")
    owner_bypass: bool = Field(
        default=True, description="Owners' own writes apply at once, and an owner's approval completes a request"
    )
    max_duration_seconds: int = Field(default=DEFAULT_MAX_DURATION_SECONDS, ge=1, le=MAX_DURATION_SECONDS)
    request_ttl_seconds: int = Field(default=DEFAULT_REQUEST_TTL_SECONDS, ge=60, le=MAX_DURATION_SECONDS)

    @model_validator(mode="after")
    def _one_shape(self) -> PolicyBody:
        if self.steps is not None and (self.approvers is not None or self.approvals_required is not None):
            raise ValueError("give either `steps` or `approvals_required` and `approvers`, not both")
        if self.steps is None and self.approvers is None:
            raise ValueError("give `approvers` (with `approvals_required`) or `steps`")
        return self

    def workflow(self) -> list[ApprovalStep]:
        if self.steps is not None:
            return self.steps
        return [ApprovalStep(approvals_required=self.approvals_required or 1, approvers=self.approvers or [])]


class StepView(Response):
    approvals_required: int
    approvers: list[str]


class Policy(Response):
    id: str
    name: str
    project_id: str
    environment_ids: list[str]
    applies_to: list[str]
    approvals_required: int = Field(description="All steps together")
    approvers: list[str] = Field(description="Every step's approvers")
    steps: list[StepView]
    allow_self_approval: bool
    owner_bypass: bool
    max_duration_seconds: int
    request_ttl_seconds: int
    created_at: str
    created_by: str
    updated_at: str | None = None


class PolicyList(Page[Policy]):
    pass


class Approval(Response):
    user_id: str
    step: int = Field(description="1 for the first step")
    comment: str = ""
    bypass: bool = Field(default=False, description="An owner's approval that completed the request at once")
    at: str


class AgentRead(Request):
    """A read of an agent-managed ref (one an agent reported): once approved, a read job for that
    agent, whose answer is sealed to `recipient_public_key` and fetched once by the requester."""

    agent: AgentId
    ref: Ref
    recipient_public_key: X25519Key = Field(description="The requester's X25519 public key (base64)")


class AccessRequestCreate(Request):
    project: ScopeRef
    environment: ScopeRef
    permission: GrantablePermission
    duration_seconds: int = Field(ge=1, le=MAX_DURATION_SECONDS, description="At most the policy's maximum")
    reason: Reason
    agent_read: AgentRead | None = Field(
        default=None, description="Instead of a timed permission: one sealed read of an agent-managed ref"
    )

    @model_validator(mode="after")
    def _agent_read(self) -> AccessRequestCreate:
        if self.agent_read is not None and self.permission != "secrets.read":
            raise ValueError("an agent read asks for secrets.read")
        return self


class Decision(Request):
    comment: Text = ""


class Rejection(Request):
    reason: Reason


class AccessRequest(Response):
    id: str
    status: Literal["pending", "approved", "rejected", "cancelled", "expired"]
    project_id: str
    environment_id: str
    permission: str
    duration_seconds: int
    reason: str
    requester_id: str
    policy_id: str
    steps: list[StepView]
    current_step: int | None = Field(description="The step waiting for approvals (1-based); null once decided")
    approvals: list[Approval]
    created_at: str
    expires_at: str = Field(description="Until then it may be decided")
    granted_at: str | None = None
    grant_expires_at: str | None = Field(default=None, description="When the permission ends")
    decided_by: str | None = None
    decision_reason: str | None = None
    agent_read: dict[str, str] | None = Field(default=None, description="The agent-managed ref asked for, if any")
    job_id: str | None = Field(default=None, description="An approved agent read's job (its wrap_id, once answered)")


class AccessRequestList(Page[AccessRequest]):
    pass


class ChangeItem(Response):
    key: str
    action: Literal["create", "update", "delete"]
    old_version: int | None = Field(description="The key's version when the request was opened (null: absent)")
    new_version: int = Field(description="The version applying it gives the key")


class Comment(Response):
    user_id: str
    body: str
    at: str


class CommentBody(Request):
    body: Reason


class ChangeRequest(Response):
    id: str
    status: Literal["open", "approved", "rejected", "applied", "expired"]
    project_id: str
    environment_id: str
    author_id: str
    action: str = Field(description="The write it holds (the audit action it has when applied)")
    comment: str = ""
    changes: list[ChangeItem]
    base_revision: int = Field(description="The environment's revision when it was opened")
    policy_id: str
    steps: list[StepView]
    current_step: int | None
    approvals: list[Approval]
    comments: list[Comment]
    created_at: str
    expires_at: str
    decided_by: str | None = None
    decision_reason: str | None = None
    applied_at: str | None = None
    applied_revision: int | None = None


class ChangeRequestList(Page[ChangeRequest]):
    pass


class ChangeRequestOpened(Response):
    """The answer (202) of a write into an environment whose changes need approval."""

    change_request: ChangeRequest
