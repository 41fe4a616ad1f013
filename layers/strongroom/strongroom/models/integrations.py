"""Integrations: destinations an environment's values are pushed to after every change
(docs/design.md, "Integrations")."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, StringConstraints, model_validator

from strongroom.models.common import Page, Request, Response, ScopeRef

IntegrationType = Literal["aws_secrets_manager", "aws_ssm_parameter_store", "github_actions"]
SyncStatus = Literal["pending", "synced", "failing"]

RoleArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
]
ExternalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")]
# A Secrets Manager secret name, an SSM parameter name (or, per key, the prefix each key follows).
DestinationName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/_+=.@-]{1,400}$")]
KmsKeyId = Annotated[
    str,
    StringConstraints(
        pattern=r"^(arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]{1,256}|alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$"
    ),
]
Repository = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", max_length=140)
]
ApiUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=2048)]  # printable ASCII
_SSM_NAME = r"^(/?[A-Za-z0-9_.-]+)(/[A-Za-z0-9_.-]+)*/?$"


class AwsConfig(Request):
    """Secrets Manager or SSM Parameter Store in the customer's account, reached through
    sts:AssumeRole of their role with their external id."""

    role_arn: RoleArn = Field(description="The role Strongroom assumes in your account")
    external_id: ExternalId = Field(description="The external id the role's trust policy requires")
    region: Region = Field(description="Where the secrets or parameters live, e.g. eu-west-1")
    mode: Literal["json", "per_key"] = Field(
        default="json",
        description="json: one secret/parameter (`name`) holding a JSON object; per_key: one per key, `name` + key",
    )
    name: DestinationName = Field(description="json: the secret or parameter name; per_key: the prefix of each name")
    kms_key_id: KmsKeyId | None = Field(
        default=None, description="The KMS key (id, ARN or alias) to encrypt under; required for SSM SecureString"
    )


class GithubConfig(Request):
    """A repository's GitHub Actions secrets, through GitHub's REST API."""

    repository: Repository = Field(description="owner/name")
    api_url: ApiUrl = Field(
        default="https://api.github.com", description="GitHub Enterprise Server: https://HOST/api/v3 (public addresses)"
    )
    token: SecretStr = Field(
        min_length=1,
        max_length=255,
        description="A token that may write the repository's Actions secrets; sealed by KMS, never returned",
    )


class IntegrationCreate(Request):
    type: IntegrationType
    project: ScopeRef = Field(description="Project ID or slug")
    environment: ScopeRef = Field(description="Environment ID or slug")
    config: AwsConfig | GithubConfig = Field(
        description="aws_*: role_arn, external_id, region, mode, name, kms_key_id?; github_actions: repository, token"
    )

    @model_validator(mode="after")
    def _config_of_type(self) -> Self:
        if self.type == "github_actions":
            if not isinstance(self.config, GithubConfig):
                raise ValueError("github_actions takes {repository, api_url?, token}")
            return self
        if not isinstance(self.config, AwsConfig):
            raise ValueError(f"{self.type} takes {{role_arn, external_id, region, mode, name, kms_key_id?}}")
        if self.type == "aws_ssm_parameter_store":
            if self.config.kms_key_id is None:
                raise ValueError("aws_ssm_parameter_store needs kms_key_id (SecureString parameters)")
            if not re.match(_SSM_NAME, self.config.name):
                raise ValueError("an SSM parameter name holds letters, digits, _ . - and / between its parts")
        return self


class IntegrationStatus(Response):
    status: SyncStatus = Field(description="pending: never synced; synced; failing: the last attempt failed")
    last_synced_revision: int | None = Field(default=None, description="The environment's revision last pushed")
    last_error: str | None = None
    last_synced_at: str | None = None


class Integration(IntegrationStatus):
    id: str
    type: IntegrationType
    project_id: str
    environment_id: str
    config: dict[str, str] = Field(description="As configured, without the token")
    created_at: str
    created_by: str


class IntegrationList(Page[Integration]):
    pass
