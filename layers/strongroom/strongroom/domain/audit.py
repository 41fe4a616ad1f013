"""Audit events. Each mutation hands exactly one of these to `data.chain.transact`, which writes it
in the same TransactWriteItems as the change (the event item is also the webhook outbox).

Tamper evidence: the events of a scope (an org, or a user's account) are the leaves of the
scope's append-only Merkle tree (RFC 9162), sealed in order shortly after the transaction that
wrote them by the sealer (domain/sealer.py), which alone can sign tree heads with the audit KMS
key. A writer touches no item that other writers touch: the event is its own item, listed on
GSI1 under `AUDIT#<scope>#UNSEALED` until sealed. The leaf is `event_object(item)` (the event's
own fields, what `GET …/audit/events/{id}` returns under `event`) in RFC 8785 form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from strongroom import clock, ids
from strongroom.context import current
from strongroom.data import keys

if TYPE_CHECKING:
    from strongroom.data.projects import EnvironmentRecord

ENTITY = "audit_event"

# Metadata keys that must never hold a secret-bearing field; enforced at construction.
_FORBIDDEN_METADATA = frozenset({"value", "values", "token", "secret", "password", "ciphertext", "plaintext"})


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str
    id: str


class Resource(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str
    id: str


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: ids.new_id("evt"))
    scope_id: str  # org_… (or usr_… for account-level actions)
    action: str = Field(pattern=r"^[a-z_]+(\.[a-z0-9_]+)+$")  # user.2fa_enabled
    actor: Actor
    resource: Resource
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str = Field(default_factory=clock.now_iso)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        """The event's item: its own fields, the outbox flag, and its place on the scope's list of
        unsealed events (the sealer removes it, and sets `leaf_index`, when it seals the event)."""
        return {
            **keys.audit_event(self.scope_id, self.id),
            keys.GSI1PK: keys.audit_unsealed(self.scope_id),
            keys.GSI1SK: self.id,
            "entity": ENTITY,
            "outbox": 1,
            **self.model_dump(exclude_none=True),
        }


# What the leaf covers: the event's own fields (never storage keys, the outbox flag or its place).
EVENT_FIELDS = (
    "id",
    "scope_id",
    "action",
    "actor",
    "resource",
    "project_id",
    "environment_id",
    "request_id",
    "ip",
    "created_at",
    "metadata",
)


def event_object(item: dict[str, Any]) -> dict[str, Any]:
    """The event as its leaf covers it and `GET …/audit/events/{id}` returns it (plain JSON values)."""
    return {k: item[k] for k in EVENT_FIELDS if k in item and item[k] is not None}


def leaf_data(item: dict[str, Any]) -> bytes:
    """The RFC 8785 (JCS) serialization of the event: the Merkle leaf's data."""
    import rfc8785  # noqa: PLC0415

    return rfc8785.dumps(event_object(item))


def _check_metadata(metadata: dict[str, Any]) -> None:
    bad = _FORBIDDEN_METADATA.intersection(k.lower() for k in metadata)
    if bad:
        raise ValueError(f"audit metadata must not carry {sorted(bad)}")


def event(
    action: str,
    *,
    scope_id: str,
    resource_type: str,
    resource_id: str,
    project_id: str | None = None,
    environment_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event for the request in flight; the actor, ip and request id come from its context."""
    ctx = current()
    principal = ctx.principal
    if principal is not None and principal.identity_id:
        # A token issued to a machine identity acts as that identity (domain/identities.py).
        actor = Actor(type="identity", id=principal.identity_id)
    else:
        actor = Actor(type=principal.type if principal else "anonymous", id=principal.id if principal else "")
    meta = metadata or {}
    _check_metadata(meta)
    return AuditEvent(
        scope_id=scope_id,
        action=action,
        actor=actor,
        resource=Resource(type=resource_type, id=resource_id),
        project_id=project_id,
        environment_id=environment_id,
        request_id=ctx.request_id,
        ip=ctx.ip,
        metadata=meta,
    )


def environment_event(action: str, env: EnvironmentRecord, metadata: dict[str, Any] | None = None) -> AuditEvent:
    """An event about an environment (its org's chain, the environment as the resource)."""
    return event(
        action,
        scope_id=env.org_id,
        resource_type="environment",
        resource_id=env.id,
        project_id=env.project_id,
        environment_id=env.id,
        metadata=metadata,
    )


def from_item(item: dict[str, Any]) -> AuditEvent:
    return AuditEvent.model_validate({k: v for k, v in item.items() if k in AuditEvent.model_fields})
