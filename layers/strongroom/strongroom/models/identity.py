"""Users, personal access tokens and device login."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, SecretStr, StringConstraints

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Items,
    Name,
    Request,
    Response,
)


class User(Response):
    id: str
    email: str
    # Whether the email is proven to be the user's (an issuer's `email_verified: true`, or dev mode).
    # Records stored before this field existed read as unverified until their own subject proves it.
    email_verified: bool = False
    name: str = ""
    # TOTP second factor on (domain/two_factor.py); an org's require_2fa admits only such users.
    two_factor_enabled: bool = False
    created_at: str
    updated_at: str


class UserPatch(Request):
    name: Name


class PersonalTokenCreate(Request):
    name: Name
    orgs: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]] | None = Field(
        default=None, max_length=50, description="Only these orgs (IDs or slugs); absent: all of yours"
    )
    read_only: bool = False
    expires_at: AwareDatetime | None = None


class PersonalToken(Response):
    id: str
    name: str
    org_ids: list[str] | None = None
    read_only: bool = False
    expires_at: str | None = None
    created_at: str
    created_via: str = "api"
    last_used_at: str | None = None


class PersonalTokenCreated(PersonalToken):
    token: ShownOnce = Field(description="Shown once (sr_pat_…). Stored only as a SHA-256 hash.")


class PersonalTokenList(Items[PersonalToken]):
    pass


class DeviceStartBody(Request):
    client_name: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9 ._-]*$")] = "cli"


class DeviceStart(Response):
    device_code: ShownOnce = Field(description="Shown once; the device polls with it. Stored only as a hash.")
    user_code: ShownOnce = Field(description="Shown once, for the user to approve. Stored only as a hash.")
    verification_uri: str
    verification_uri_complete: ShownOnce = Field(description="verification_uri with the user code in it")
    expires_in: int
    interval: int


class DeviceApprove(Request):
    user_code: Annotated[SecretStr, Field(min_length=1, max_length=16)]
    deny: bool = False


class DeviceTokenBody(Request):
    device_code: Annotated[SecretStr, Field(min_length=1, max_length=128)]
    grant_type: Literal["urn:ietf:params:oauth:grant-type:device_code"] = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceToken(Response):
    access_token: ShownOnce = Field(description="A personal access token (sr_pat_…), shown once")
    token_type: Literal["Bearer"]
    expires_in: int
    token_id: str
