"""Org-wide shared secrets (`/v1/orgs/{org}/shared-secrets`): what environments reference as
`${shared.KEY}`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from strongroom.models.common import Page, Request, Response
from strongroom.models.secrets import SECRET_KEY_PATTERN, SecretValue

SharedKey = Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)]


class SharedSecretCreate(Request):
    key: SharedKey = Field(description="The name environments reference as `${shared.KEY}`")
    value: SecretValue = Field(description="UTF-8, at most 64 KiB. Never logged, never in an audit entry.")
    comment: Annotated[str, StringConstraints(max_length=500)] = ""

    def __repr__(self) -> str:  # a secret value must not reach a log through repr
        return f"SharedSecretCreate(key={self.key!r}, value='**********', comment={self.comment!r})"

    __str__ = __repr__


class SharedSecret(Response):
    key: str
    value: str
    version: int
    updated_at: str
    updated_by: str


class SharedSecretItem(Response):
    """A shared secret in a listing: metadata only, never its value."""

    key: str
    version: int
    updated_at: str
    updated_by: str


class SharedSecretList(Page[SharedSecretItem]):
    pass
