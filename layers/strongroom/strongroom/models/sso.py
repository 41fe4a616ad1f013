"""Single sign-on per org: the OIDC configuration an owner sets, and what a sign-in page asks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, StringConstraints

from strongroom.models.common import Request, Response
from strongroom.models.orgs import RoleRef

# A DNS name of at least two labels, lowercase ASCII (IDN domains in punycode), no trailing dot.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*\.[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$"
Domain = Annotated[
    str,
    AfterValidator(str.lower),
    StringConstraints(pattern=DOMAIN_PATTERN, min_length=4, max_length=253),
]
# https (http to loopback only in dev mode: the callback checks with netguard), no query or fragment.
IssuerUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=512)]
ClientId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,255}$")]


class OidcConfigPut(Request):
    issuer: IssuerUrl = Field(description="The issuer URL (its discovery document: /.well-known/openid-configuration)")
    client_id: ClientId
    client_secret: SecretStr = Field(min_length=1, max_length=1024, description="Sealed by KMS; never returned")
    domains: list[Domain] = Field(min_length=1, max_length=20, description="Email domains that sign in this way")
    default_role: RoleRef = Field(description="The role of a member's first sign-in: built-in (not owner) or custom")


class OidcConfig(Response):
    org_id: str
    issuer: str
    client_id: str
    client_secret_set: bool = True
    domains: list[str]
    default_role: str
    redirect_uri: str = Field(description="Register this as the client's redirect URI at the issuer")
    created_at: str
    updated_at: str


class SsoDiscovery(Response):
    org_id: str
    methods: list[Literal["oidc"]]
