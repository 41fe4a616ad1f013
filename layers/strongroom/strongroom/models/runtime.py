"""The runtime API's answers (what a service token reads)."""

from __future__ import annotations

from pydantic import Field

from strongroom.models.common import (
    Response,
)


class RuntimeIdentity(Response):
    token_id: str
    org_id: str
    project_id: str
    environment_id: str
    environment: str
    permissions: list[str]
    expires_at: str | None = None


class RuntimeSecrets(Response):
    secrets: dict[str, str]
    version: str = Field(description="The ETag: changes whenever a value this read depends on changes")


class RuntimeSecret(Response):
    key: str
    value: str
    version: str
