"""An organization's encryption: BYOK (a customer's KMS key) and key rotation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from strongroom.models.common import (
    Request,
    Response,
)

KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]{1,32}:[0-9]{12}:(?:key|alias)/[A-Za-z0-9/_+=,.@-]{1,256}$"


class KmsKeyBody(Request):
    kms_key_arn: Annotated[str, StringConstraints(pattern=KMS_KEY_ARN_PATTERN)] = Field(
        description=(
            "The ARN of a symmetric KMS key (or alias) whose key policy lets Strongroom use it only under this "
            "organization's encryption context (kms:EncryptionContext:org = the organization's id)"
        )
    )


class KmsTest(Response):
    ok: bool
    kms_key_arn: str = Field(description="The key's ARN, as KMS names it")
    checks: list[str] = Field(
        description="What KMS proved: generate_data_key and decrypt under this organization's context, "
        "other_org_denied (refused under another organization's), not_claimed (no other organization uses it)"
    )


class OrgEncryption(Response):
    mode: Literal["service", "customer"]
    kms_key_arn: str | None = None
    status: Literal["active", "migrating"] = Field(description="migrating: re-wrapping; call enable/disable again")
    updated_at: str | None = None
    environments: int | None = Field(default=None, description="Environments checked by this call")
    rewrapped: int | None = Field(default=None, description="Data keys re-wrapped by this call")


class OrgKeysRotated(Response):
    environments: int
    rotated_at: str
