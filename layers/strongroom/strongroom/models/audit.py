"""The audit log: entries and the hash chain's verification."""

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
    seq: int
    action: str
    actor: AuditParty
    resource: AuditParty
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str
    metadata: dict[str, Any] = Field(default={})
    hash: str = Field(description="SHA-256 chaining this event to the previous one")


class AuditList(Page[AuditEntry]):
    pass


class AuditVerification(Response):
    ok: bool
    checked: int = Field(description="Events checked in the window")
    first_seq: int | None = None
    last_seq: int | None = None
    first_broken_seq: int | None = Field(default=None, description="Where the chain first breaks")
    reason: str | None = None
    next_cursor: str | None = Field(
        default=None, description="Set when the walk stopped at its per-call bound: pass it as `cursor` to go on"
    )
