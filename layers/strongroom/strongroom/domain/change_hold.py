"""Holding a write for approval (the secrets write path calls this; domain/change_requests.py
decides and applies what it holds).

Every change of secrets (put, delete, batch, import, promote, restore of a key or of the
environment, rollback) is planned in domain/secrets.py against the snapshot it read; before it is
written, `gate` asks whether an approval policy covers the environment for `changes`:
- no: it is written as always;
- the caller is an owner and the policy lets owners bypass (the default): it is written, and its
  one audit event says so (`approval_bypassed: {policy_id}`);
- a service token: 403 `approval_required` (a change request has a member as its author);
- anyone else: nothing is written to the environment; a change request is opened instead (one
  transaction with its `change_request.opened` event) and the write answers 202 with it. It holds
  the keys and actions, the versions each key had and will get, the revision it was planned on and
  the proposed values, sealed like secrets: one AES-256-GCM blob under the environment's data key
  (a new one from KMS when the environment has none yet), AAD binding org, project, environment,
  "change_request", its ID and the key version. The response, the event and webhooks carry keys and
  actions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.data import approval_policies as policy_data
from strongroom.data import approval_requests as data
from strongroom.data import chain
from strongroom.data.approval_policies import PolicyRecord
from strongroom.data.approval_requests import ChangeItemRecord, ChangeRequestRecord
from strongroom.domain import approvals, audit
from strongroom.errors import Forbidden, Held
from strongroom.models.governance import ChangeItem, ChangeRequest, ChangeRequestOpened, Comment
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess
from strongroom.security.permissions import Role

KIND = "changes"
AUDIT_KEYS = 100


@dataclass(frozen=True, slots=True)
class HeldWrite:
    """A planned write, as the secrets write path decided it."""

    changes: dict[str, str | None]  # name -> new value; None deletes
    action: str
    resource_type: str
    resource_id: str
    metadata: dict[str, Any]
    comment: str
    revision: int
    current: dict[str, int]  # name -> its live version (absent: not live)
    next_versions: dict[str, int]  # name -> the version the write gives it


@dataclass(frozen=True, slots=True)
class SealingKey:
    plaintext: bytes
    version: int
    wrapped: bytes
    kms_key_id: str
    client: bool = False


def gate(access: EnvironmentAccess) -> PolicyRecord | None:
    """The policy that holds this caller's writes to the environment, or None (written as always).
    Service tokens cannot write there at all (403)."""
    policy = policy_data.covering(access.org.id, access.environment.id, KIND)
    if policy is None:
        return None
    if access.principal.type != "user":
        raise Forbidden(
            "changes to this environment need approval: only a member can open a change request",
            code="approval_required",
        )
    return policy


def bypasses(access: EnvironmentAccess, policy: PolicyRecord) -> bool:
    return policy.owner_bypass and access.role == Role.OWNER


def _aad(access: EnvironmentAccess, request_id: str, key_version: int) -> bytes:
    scope = crypto.Scope(access.org.id, access.project.id, access.environment.id)
    return scope.aad("change_request", request_id, key_version)


def seal(access: EnvironmentAccess, request_id: str, key: SealingKey, changes: dict[str, str | None]) -> bytes:
    body = json.dumps(changes, separators=(",", ":"), ensure_ascii=False).encode()
    if key.client:  # a client-encrypted environment: the values are the clients' ciphertexts already
        return body
    return crypto.encrypt(key.plaintext, body, _aad(access, request_id, key.version))


def unseal(access: EnvironmentAccess, rec: ChangeRequestRecord) -> dict[str, str | None]:
    """The proposed values (KMS Decrypt of the data key, cached as secrets' are)."""
    if not rec.wrapped_key:
        body = rec.sealed
    else:
        scope = crypto.Scope(access.org.id, access.project.id, access.environment.id)
        key = crypto.unwrap(scope, rec.key_version, rec.wrapped_key, rec.kms_key_id)
        body = crypto.decrypt(key, rec.sealed, _aad(access, rec.id, rec.key_version), what="change request")
    values: dict[str, str | None] = json.loads(body)
    return values


def _items(held: HeldWrite) -> list[ChangeItemRecord]:
    out = []
    for name, value in sorted(held.changes.items()):
        old = held.current.get(name)
        action = "delete" if value is None else ("update" if old is not None else "create")
        out.append(ChangeItemRecord(key=name, action=action, old_version=old, new_version=held.next_versions[name]))
    return out


def keys_metadata(rec: ChangeRequestRecord) -> dict[str, Any]:
    names = [c.key for c in rec.changes]
    return {"keys": names[:AUDIT_KEYS], "count": len(names), "held_action": rec.action}


def event(action: str, rec: ChangeRequestRecord, **metadata: Any) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="change_request",
        resource_id=rec.id,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={**keys_metadata(rec), "policy_id": rec.policy_id, **metadata},
    )


def status(rec: ChangeRequestRecord, now: str) -> str:
    if rec.status in {"open", "approved"} and rec.expires_at <= now:
        return "expired"
    return rec.status


def view(rec: ChangeRequestRecord) -> ChangeRequest:
    shown = status(rec, clock.now_iso())
    return ChangeRequest(
        id=rec.id,
        status=shown,  # type: ignore[arg-type]
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        author_id=rec.author_id,
        action=rec.action,
        comment=rec.comment,
        changes=[ChangeItem.model_validate(c.model_dump()) for c in rec.changes],
        base_revision=rec.base_revision,
        policy_id=rec.policy_id,
        steps=approvals.steps_view(rec.steps),
        current_step=approvals.current_step(rec, waiting=shown == "open"),
        approvals=approvals.approvals_view(rec),
        comments=[Comment(user_id=c.user_id, body=c.body, at=c.at) for c in rec.comments],
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        decided_by=rec.decided_by,
        decision_reason=rec.decision_reason,
        applied_at=rec.applied_at,
        applied_revision=rec.applied_revision,
    )


def hold(access: EnvironmentAccess, policy: PolicyRecord, held: HeldWrite, key: SealingKey) -> Held:
    """Open the change request that holds `held` (one transaction with its event); the 202 to answer."""
    now = clock.now()
    request_id = ids.new_id("chr")
    rec = ChangeRequestRecord(
        id=request_id,
        org_id=access.org.id,
        project_id=access.project.id,
        environment_id=access.environment.id,
        status="open",
        policy_id=policy.id,
        steps=policy.steps,
        allow_self_approval=policy.allow_self_approval,
        owner_bypass=policy.owner_bypass,
        created_at=clock.iso(now),
        expires_at=clock.iso(now + timedelta(seconds=policy.request_ttl_seconds)),
        author_id=access.principal.id,
        action=held.action,
        resource_type=held.resource_type,
        resource_id=held.resource_id,
        metadata=held.metadata,
        comment=held.comment,
        changes=_items(held),
        base_revision=held.revision,
        sealed=seal(access, request_id, key, held.changes),
        key_version=key.version,
        wrapped_key=key.wrapped,
        kms_key_id=key.kms_key_id,
    )
    chain.transact([data.create(rec)], audit=event("change_request.opened", rec, base_revision=held.revision))
    return Held(ChangeRequestOpened(change_request=view(rec)))
