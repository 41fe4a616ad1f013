"""Machine identities (keyless workload sign-in) and the token exchange."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Name, Page, Request, Response, ScopeRef

MIN_TTL_SECONDS, MAX_TTL_SECONDS = 5, 3600
MAX_CLAIM_RULES = 20

_PRINTABLE = r"^[!-~](?:[ -~]*[!-~])?$"  # printable ASCII, no leading or trailing space
ClaimName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,128}$")]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=_PRINTABLE)]


class IdentityRules(Request):
    """What a workload must prove. OIDC: `issuer`, `audience` and `claims`; AWS IAM: `account` and
    `role_arn`. In a pattern `*` matches any run of characters (`/` and `:` included); nothing else
    is special."""

    issuer: Annotated[str, StringConstraints(max_length=512, pattern=r"^https?://[!-~]+$")] | None = Field(
        default=None, description="OIDC: the issuer URL, exactly as the tokens' `iss` (https outside dev mode)"
    )
    audience: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=_PRINTABLE)] | None = Field(
        default=None, description="OIDC: the `aud` the tokens must carry"
    )
    claims: dict[ClaimName, Pattern] = Field(
        default_factory=dict,
        max_length=MAX_CLAIM_RULES,
        description='OIDC: claim -> exact value or glob, e.g. {"sub": "repo:acme/web:ref:refs/heads/main"}',
        json_schema_extra={"additionalProperties": False},  # a claim's name is what patternProperties says
    )
    account: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = Field(
        default=None, description="AWS IAM: the 12-digit account ID"
    )
    role_arn: Annotated[str, StringConstraints(max_length=2048, pattern=r"^arn:[!-~]+$")] | None = Field(
        default=None, description="AWS IAM: the role's ARN (arn:aws:iam::<account>:role/<name>), exact or glob"
    )


class IdentityCreate(Request):
    name: Name
    type: Literal["oidc", "aws_iam"]
    project: ScopeRef = Field(description="ID or slug")
    environment: ScopeRef = Field(description="ID or slug")
    permissions: list[Literal["read", "write"]] = Field(
        default=["read"], min_length=1, max_length=2, description='["read"] or ["read", "write"]'
    )
    ttl_seconds: int = Field(
        default=900, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS, description="Lifetime of each token issued"
    )
    rules: IdentityRules


class Identity(Response):
    id: str
    name: str
    type: str
    project_id: str
    environment_id: str
    permissions: list[str]
    ttl_seconds: int
    rules: dict[str, object]
    revision: int
    created_at: str
    created_by: str
    updated_at: str | None = None


class IdentityList(Page[Identity]):
    pass


class SignedCallerIdentity(Request):
    """An `sts:GetCallerIdentity` request signed (SigV4) by the workload with its own credentials,
    for the STS endpoint this stack names, with the header `X-Strongroom-Identity: <identity id>`
    among the signed headers."""

    method: Literal["POST"]
    url: Annotated[str, StringConstraints(max_length=256)]
    headers: dict[Annotated[str, StringConstraints(max_length=64)], Annotated[SecretStr, Field(max_length=8192)]] = (
        Field(max_length=20)
    )
    body: Annotated[str, StringConstraints(max_length=256)]


class IdentityTokenRequest(Request):
    identity: Annotated[str, StringConstraints(max_length=64)] = Field(description="The identity's ID (idn_…)")
    jwt: Annotated[SecretStr, Field(min_length=1, max_length=16384)] | None = Field(
        default=None, description="OIDC: the workload's JWT"
    )
    aws: SignedCallerIdentity | None = Field(default=None, description="AWS IAM: the signed GetCallerIdentity")


class IdentityToken(Response):
    token: ShownOnce = Field(description="A service token (sr_svc_…), shown once, dead at `expires_at`")
    expires_at: str
