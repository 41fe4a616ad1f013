"""The runtime API's answers (what a service token reads)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from strongroom.models.common import (
    Response,
)
from strongroom.models.e2e import EnvironmentKey


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
    # A client-encrypted environment's pull: its values are ciphertexts; what opens them comes along
    # (the token's grant, and the IDs the values' AAD names), so that one request is a whole pull.
    encryption: Literal["client"] | None = None
    org_id: str | None = None
    environment_id: str | None = None
    key: EnvironmentKey | None = Field(default=None, description="The token's grant (client-encrypted only)")


class RuntimeSecret(Response):
    key: str
    value: str
    version: str
