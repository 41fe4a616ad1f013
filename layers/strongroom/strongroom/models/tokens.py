"""Service tokens: one environment's credential for machines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Name,
    Page,
    Request,
    Response,
)

MAX_CIDRS = 20


class ServiceTokenCreate(Request):
    name: Name
    project: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    environment: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    permissions: list[Literal["read", "write"]] = Field(
        default=["read"], min_length=1, max_length=2, description='["read"] or ["read", "write"]'
    )
    expires_at: AwareDatetime | None = None
    allowed_cidrs: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_CIDRS, description="Source networks allowed (API Gateway's view)"
    )


class ServiceToken(Response):
    id: str
    name: str
    project_id: str
    environment_id: str
    permissions: list[str]
    expires_at: str | None = None
    allowed_cidrs: list[str] = Field(default=[])
    created_at: str
    created_by: str
    rotated_at: str | None = None
    last_used_at: str | None = None
    identity_id: str | None = Field(default=None, description="The machine identity it was issued to, if any")


class ServiceTokenCreated(ServiceToken):
    token: ShownOnce = Field(description="Shown once (sr_svc_…). Stored only as a SHA-256 hash.")


class ServiceTokenList(Page[ServiceToken]):
    pass
