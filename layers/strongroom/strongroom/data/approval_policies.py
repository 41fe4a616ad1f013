"""Approval-policy items (keys in keys.py, layout in docs/data-model.md): `ORG#<org> / POLICY#<pol>`
and, per environment and kind it covers, the claim `ORG#<org> / POLICYFOR#<env>#<kind>` naming it
(one policy per environment and kind: the claim is created only where none exists). Every read of
them and the ops of create, replace and delete (with their conditions) are built here;
domain/approval_policies.py decides what a change writes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    approvals_required: int
    approvers: list[str]


class PolicyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    project_id: str
    environment_ids: list[str]
    applies_to: list[str]
    steps: list[StepRecord]
    allow_self_approval: bool = False
    owner_bypass: bool = True
    max_duration_seconds: int
    request_ttl_seconds: int
    version: int = 1
    created_at: str
    created_by: str
    updated_at: str | None = None

    def claims(self) -> set[tuple[str, str]]:
        """(environment ID, kind) pairs the policy covers."""
        return {(env, kind) for env in self.environment_ids for kind in self.applies_to}


# --------------------------------------------------------------------------- reads


def get(org_id: str, policy_id: str) -> PolicyRecord | None:
    item = db.get(keys.approval_policy(org_id, policy_id))
    return PolicyRecord.model_validate(item) if item is not None else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[PolicyRecord], str | None]:
    found = db.query(keys.org_partition(org_id), prefix=keys.POLICY_PREFIX, limit=limit, cursor=cursor)
    return [PolicyRecord.model_validate(i) for i in found.items], found.next_cursor


def covering(org_id: str, env_id: str, kind: str) -> PolicyRecord | None:
    """The policy covering an environment for `kind`, or None (its claim, then the policy)."""
    claim = db.get(keys.policy_claim(org_id, env_id, kind))
    return get(org_id, str(claim["policy_id"])) if claim is not None else None


# --------------------------------------------------------------------------- ops of a change


def _item(rec: PolicyRecord) -> dict[str, Any]:
    return {
        **keys.approval_policy(rec.org_id, rec.id),
        "entity": "approval_policy",
        **rec.model_dump(exclude_none=True),
    }


def create(rec: PolicyRecord, *, on_fail: AppError) -> db.Put:
    return db.Put.new(_item(rec), on_fail=on_fail)


def replace(old: PolicyRecord, new: PolicyRecord, *, on_fail: AppError) -> db.Put:
    """The policy replaced, on the condition that it still has the version read."""
    return db.Put(_item(new), condition="version = :read", values={":read": old.version}, on_fail=on_fail)


def delete(rec: PolicyRecord, *, on_fail: AppError) -> db.Delete:
    return db.Delete(
        keys.approval_policy(rec.org_id, rec.id),
        condition="version = :read",
        values={":read": rec.version},
        on_fail=on_fail,
    )


def claim(org_id: str, env_id: str, kind: str, policy_id: str, *, on_fail: AppError) -> db.Put:
    """The environment's claim for `kind` (fails when another policy holds it)."""
    item = {**keys.policy_claim(org_id, env_id, kind), "entity": "approval_policy_claim", "policy_id": policy_id}
    return db.Put.new(item, on_fail=on_fail)


def release(org_id: str, env_id: str, kind: str, policy_id: str) -> db.Delete:
    return db.Delete(
        keys.policy_claim(org_id, env_id, kind), condition="policy_id = :policy", values={":policy": policy_id}
    )
