"""The audit log: entries, the signed Merkle tree (heads, proofs, leaves) and its verification."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from strongroom.models.common import (
    Page,
    Response,
)


class AuditParty(Response):
    type: str
    id: str


class AuditEntry(Response):
    id: str
    leaf_index: int | None = Field(
        default=None, description="The event's leaf in the org's Merkle tree; null until sealed"
    )
    action: str
    actor: AuditParty
    resource: AuditParty
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str
    metadata: dict[str, Any] = Field(default={})


class AuditList(Page[AuditEntry]):
    pass


class TreeHead(Response):
    org_id: str
    tree_size: int
    root_hash: str = Field(description="Lower-case hex SHA-256 (RFC 9162)")
    timestamp: str
    signature: str = Field(
        description="Base64 DER ECDSA P-256/SHA-256 over RFC 8785 of {org_id, tree_size, root_hash, timestamp}"
    )
    key_id: str


class AuditEventView(Response):
    event: dict[str, Any] = Field(description="The event; its RFC 8785 serialization is the leaf's data")
    leaf_index: int | None = None


class InclusionProof(Response):
    leaf_index: int
    tree_size: int
    audit_path: list[str] = Field(description="RFC 9162 audit path, lower-case hex")


class ConsistencyProof(Response):
    proof: list[str] = Field(description="RFC 9162 consistency proof, lower-case hex")


class LeafEntry(Response):
    leaf_index: int
    event: dict[str, Any] | None = Field(description="null when the stored event is missing")


class LeafPage(Response):
    data: list[LeafEntry]
    tree_size: int = Field(description="The latest signed head's size: leaves stop there")


class AuditVerification(Response):
    ok: bool
    tree_size: int = Field(description="The signed head the walk checks against")
    root_hash: str | None = None
    checked: int = Field(description="Leaves recomputed so far")
    pending: int = Field(default=0, description="Events not sealed yet (seen in the second phase)")
    first_broken_leaf: int | None = Field(default=None, description="Where the log first fails to verify")
    event_id: str | None = None
    reason: str | None = None
    next_cursor: str | None = Field(
        default=None, description="Set when the walk stopped at its per-call bound: pass it as `cursor` to go on"
    )
