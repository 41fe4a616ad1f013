"""Rotation policies of secrets: what rotates a secret (a rotator), how often, and how it went."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Request, Response

DEFAULT_ALPHABET = string.ascii_letters + string.digits
# Printable ASCII but `$` (a value holding `${…}` would read as a reference) and whitespace.
_ALPHABET_PATTERN = r"^[!-#%-~]{2,256}$"
PgRole = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
IamUserName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$")]
RotatorUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=2048)]


class RandomRotator(Request):
    """A new random value from `alphabet` (the `secrets` module)."""

    type: Literal["random"]
    length: int = Field(default=32, ge=8, le=4096)
    alphabet: Annotated[str, StringConstraints(pattern=_ALPHABET_PATTERN)] = Field(
        default=DEFAULT_ALPHABET, description="At least 2 distinct printable ASCII characters; no `$`, no space"
    )

    @field_validator("alphabet")
    @classmethod
    def _distinct(cls, value: str) -> str:
        if len(set(value)) < 2:
            raise ValueError("the alphabet needs at least 2 distinct characters")
        return value


class PostgresRotator(Request):
    """Two-user (alternating) rotation of a PostgreSQL connection URL: a new password is set on the
    user the URL does not name (with the master credential), and the URL switches to it."""

    type: Literal["postgres"]
    users: list[PgRole] = Field(
        min_length=2, max_length=2, description="The two login roles the URL alternates between"
    )
    master_username: PgRole
    master_password: SecretStr = Field(
        min_length=1,
        max_length=1024,
        description="Sealed by KMS; never returned",
        json_schema_extra={"writeOnly": True},
    )

    @model_validator(mode="after")
    def _two_users(self) -> PostgresRotator:
        if self.users[0] == self.users[1]:
            raise ValueError("the two users must differ")
        return self


class AwsIamAccessKeyRotator(Request):
    """A new access key for the IAM user; the old one is deleted after the grace period."""

    type: Literal["aws_iam_access_key"]
    user_name: IamUserName
    grace_period_hours: int = Field(default=24, ge=0, le=720)


class WebhookRotator(Request):
    """A Standard Webhooks-signed POST to the customer's endpoint, which sets the new value."""

    type: Literal["webhook"]
    url: RotatorUrl = Field(description="https (http to loopback only in dev mode); public addresses only")


Rotator = Annotated[
    RandomRotator | PostgresRotator | AwsIamAccessKeyRotator | WebhookRotator, Field(discriminator="type")
]


class RotationPut(Request):
    interval_days: int = Field(ge=1, le=3650, description="Days between rotations")
    rotator: Rotator


class PostgresRotatorView(Response):
    type: Literal["postgres"]
    users: list[str]
    master_username: str


class RandomRotatorView(Response):
    type: Literal["random"]
    length: int
    alphabet: str


class AwsIamAccessKeyRotatorView(Response):
    type: Literal["aws_iam_access_key"]
    user_name: str
    grace_period_hours: int


class WebhookRotatorView(Response):
    type: Literal["webhook"]
    url: str


RotatorView = Annotated[
    RandomRotatorView | PostgresRotatorView | AwsIamAccessKeyRotatorView | WebhookRotatorView,
    Field(discriminator="type"),
]

RotationStatus = Literal["scheduled", "rotating", "succeeded", "failed"]
RotationStep = Literal["create", "set", "test", "finish"]


class RotationPolicy(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the secret (`/`: the root)")
    interval_days: int
    rotator: RotatorView
    status: RotationStatus
    step: RotationStep | None = Field(default=None, description="The step of a rotation in progress")
    next_rotation_at: str
    last_rotated_at: str | None = None
    last_error: str | None = None
    version: int | None = Field(default=None, description="The secret's version the last rotation wrote")
    created_at: str
    updated_at: str


class RotationPolicySet(RotationPolicy):
    signing_secret: ShownOnce | None = Field(
        default=None,
        description="A webhook rotator's whsec_… (Standard Webhooks): shown when the policy first gets one",
    )
