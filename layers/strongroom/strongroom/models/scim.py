"""SCIM tokens: an org's provisioning credential for its identity provider (the SCIM resources
themselves are scim2-models', functions/scim)."""

from __future__ import annotations

from pydantic import Field

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Name, Page, Request, Response


class ScimTokenCreate(Request):
    name: Name


class ScimToken(Response):
    id: str
    name: str
    created_at: str
    created_by: str
    last_used_at: str | None = None


class ScimTokenCreated(ScimToken):
    token: ShownOnce = Field(description="Shown once (sr_scim_…). Stored only as a SHA-256 hash.")


class ScimTokenList(Page[ScimToken]):
    pass
