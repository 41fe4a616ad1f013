"""Audit events. Each mutation hands exactly one of these to `data.chain.transact`, which writes it
in the same TransactWriteItems as the change (the event item is also the webhook outbox).

Tamper evidence: the events of a scope (an org, or a user's account) form a hash chain. Each
carries `seq` (1, 2, …, gapless) and `hash` = SHA-256(previous hash + "\n" + its canonical JSON);
the scope's head item (`AUDIT#<scope> / HEAD`, last seq and hash) is advanced in the same
transaction, conditional on the seq it read, so the chain cannot fork and no event can be
appended, removed or reordered without breaking a hash or the head. The canonical form is the
event's fields (sorted keys, no whitespace, ASCII) without `hash` itself.
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
    action: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    actor: Actor
    resource: Resource
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str = Field(default_factory=clock.now_iso)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_item(self, seq: int, prev_hash: str) -> dict[str, Any]:
        body = {**self.model_dump(exclude_none=True), "seq": seq, "prev_hash": prev_hash}
        item: dict[str, Any] = {
            **keys.audit_event(self.scope_id, seq),
            "entity": ENTITY,
            "outbox": 1,
            **body,
            "hash": chain_hash(prev_hash, body),
        }
        return item


GENESIS = "0" * 64
# The fields a chain hash covers (everything the event says; not storage keys or `hash`).
CHAINED_FIELDS = (
    "id",
    "scope_id",
    "seq",
    "prev_hash",
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


def canonical(body: dict[str, Any]) -> bytes:
    import json  # noqa: PLC0415

    fields = {k: body[k] for k in CHAINED_FIELDS if k in body and body[k] is not None}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(body)).hexdigest()


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
