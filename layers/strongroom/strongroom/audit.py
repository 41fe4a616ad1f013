"""Audit events. Each mutation hands exactly one of these to `db.transact`, which writes it
in the same TransactWriteItems as the change (the event item is also the webhook outbox)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from strongroom import clock, ids, keys
from strongroom.context import current

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
    action: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    actor: Actor
    resource: Resource
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str = Field(default_factory=clock.now_iso)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **keys.audit_event(self.scope_id, self.id),
            "entity": ENTITY,
            "outbox": 1,
            **self.model_dump(exclude_none=True),
        }
        return item


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


def from_item(item: dict[str, Any]) -> AuditEvent:
    return AuditEvent.model_validate({k: v for k, v in item.items() if k in AuditEvent.model_fields})
