"""Items of requests under approval (keys in keys.py, layout in docs/data-model.md): access
requests `ORG#<org> / ACCESSREQ#<req>`, the temporary grants approved ones give
`ORG#<org> / ACCESSGRANT#<usr>#<env>#<req>`, and change requests `ORG#<org> / CHANGEREQ#<chr>`.
A request moves only by replacing its item on the condition that it still has the version read,
so two decisions never both land (approve twice, approve after reject, racing approvers).
Every read and op of them is built here; domain/access_requests.py and change_requests.py decide
what a transition writes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.data.approval_policies import StepRecord
from strongroom.errors import AppError


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: str
    step: int  # 0-based in storage
    comment: str = ""
    bypass: bool = False
    at: str


class UnderApproval(BaseModel):
    """What access and change requests share: the workflow copied from the policy when opened."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    project_id: str
    environment_id: str
    status: str
    policy_id: str
    steps: list[StepRecord]
    allow_self_approval: bool = False
    owner_bypass: bool = True
    step: int = 0  # the step waiting for approvals (0-based)
    approvals: list[ApprovalRecord] = []
    version: int = 1
    created_at: str
    expires_at: str
    decided_by: str | None = None
    decision_reason: str | None = None


class AccessRequestRecord(UnderApproval):
    requester_id: str
    permission: str
    duration_seconds: int
    reason: str
    granted_at: str | None = None
    grant_expires_at: str | None = None
    # An agent read (#19): {agent, ref, recipient_public_key}; approved, the job it queued.
    agent_read: dict[str, str] | None = None
    job_id: str | None = None


class ChangeItemRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    key: str
    action: str  # create / update / delete
    old_version: int | None = None
    new_version: int


class CommentRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: str
    body: str
    at: str


class ChangeRequestRecord(UnderApproval):
    author_id: str
    action: str  # the held write's audit action
    resource_type: str
    resource_id: str
    metadata: dict[str, Any] = {}
    comment: str = ""
    changes: list[ChangeItemRecord]
    base_revision: int
    sealed: bytes  # the proposed values, AES-GCM under `wrapped_key`'s data key
    key_version: int
    wrapped_key: bytes
    kms_key_id: str
    comments: list[CommentRecord] = []
    applied_at: str | None = None
    applied_revision: int | None = None


# --------------------------------------------------------------------------- reads


def access_request(org_id: str, request_id: str) -> AccessRequestRecord | None:
    item = db.get(keys.access_request(org_id, request_id))
    return AccessRequestRecord.model_validate(item) if item is not None else None


def change_request(org_id: str, change_request_id: str) -> ChangeRequestRecord | None:
    item = db.get(keys.change_request(org_id, change_request_id))
    return ChangeRequestRecord.model_validate(item) if item is not None else None


def _filters(wanted: dict[str, str | None]) -> dict[str, Any]:
    given = {k: v for k, v in wanted.items() if v is not None}
    if not given:
        return {}
    return {
        "filter_expression": " AND ".join(f"#{k} = :{k}" for k in given),
        "filter_names": {f"#{k}": k for k in given},
        "filter_values": {f":{k}": v for k, v in given.items()},
    }


def access_requests_page(
    org_id: str, *, status: str | None, requester: str | None, limit: int, cursor: str | None
) -> tuple[list[AccessRequestRecord], str | None]:
    """Newest first; filtered by stored status and requester."""
    found = db.query(
        keys.org_partition(org_id),
        prefix=keys.ACCESS_REQUEST_PREFIX,
        limit=limit,
        cursor=cursor,
        forward=False,
        **_filters({"status": status, "requester_id": requester}),
    )
    return [AccessRequestRecord.model_validate(i) for i in found.items], found.next_cursor


def change_requests_page(
    org_id: str, *, status: str | None, environment: str | None, limit: int, cursor: str | None
) -> tuple[list[ChangeRequestRecord], str | None]:
    found = db.query(
        keys.org_partition(org_id),
        prefix=keys.CHANGE_REQUEST_PREFIX,
        limit=limit,
        cursor=cursor,
        forward=False,
        **_filters({"status": status, "environment_id": environment}),
    )
    return [ChangeRequestRecord.model_validate(i) for i in found.items], found.next_cursor


def grants_held(org_id: str, user_id: str, env_id: str) -> list[tuple[str, str]]:
    """(permission, expires_at) of every temporary grant of the user on the environment, read
    consistently at each call (never cached: an expired or revoked grant stops at once)."""
    found = db.query(keys.org_partition(org_id), prefix=keys.access_grant_prefix(user_id, env_id), limit=100)
    return [(str(i["permission"]), str(i["expires_at"])) for i in found.items]


# --------------------------------------------------------------------------- ops of a change


def _item(rec: UnderApproval) -> dict[str, Any]:
    if isinstance(rec, AccessRequestRecord):
        key, entity = keys.access_request(rec.org_id, rec.id), "access_request"
    else:
        key, entity = keys.change_request(rec.org_id, rec.id), "change_request"
    return {**key, "entity": entity, **rec.model_dump(exclude_none=True)}


def create(rec: UnderApproval) -> db.Put:
    return db.Put.new(_item(rec))


def transition(old: UnderApproval, new: UnderApproval, *, on_fail: AppError) -> db.Put:
    """The request replaced by its next state, only if nobody moved it since it was read."""
    return db.Put(_item(new), condition="version = :read", values={":read": old.version}, on_fail=on_fail)


def grant(rec: AccessRequestRecord, *, expires_epoch: int) -> db.Put:
    """The temporary permission of an approved request (TTL tidies it up after its end)."""
    item = {
        **keys.access_grant(rec.org_id, rec.requester_id, rec.environment_id, rec.id),
        "entity": "access_grant",
        "request_id": rec.id,
        "permission": rec.permission,
        "expires_at": rec.grant_expires_at,
        keys.TTL: expires_epoch + 3600,
    }
    return db.Put.new(item)


def revoke(rec: AccessRequestRecord) -> db.Delete:
    return db.Delete(keys.access_grant(rec.org_id, rec.requester_id, rec.environment_id, rec.id))
