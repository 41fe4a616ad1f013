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


# An entity id is a URI (most IdPs: a URL; some: a URN), printable ASCII without spaces.
EntityId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,1024}$")]
SsoUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=2048)]


class SamlConfigPut(Request):
    idp_entity_id: EntityId = Field(description="The identity provider's entity id (the Issuer of its Responses)")
    idp_sso_url: SsoUrl = Field(description="Its SingleSignOnService URL (HTTP-Redirect binding)")
    idp_x509_cert: str = Field(
        min_length=100, max_length=16384, description="Its signing certificate (PEM, or base64 DER)"
    )
    domains: list[Domain] = Field(min_length=1, max_length=20, description="Email domains that sign in this way")
    default_role: RoleRef = Field(description="The role of a member's first sign-in: built-in (not owner) or custom")


class SamlConfig(Response):
    org_id: str
    idp_entity_id: str
    idp_sso_url: str
    idp_x509_cert: str = Field(description="PEM")
    domains: list[str]
    default_role: str
    sp_entity_id: str = Field(description="Our entityID (the Audience the IdP must name)")
    acs_url: str = Field(description="Our Assertion Consumer Service (HTTP-POST)")
    metadata_url: str = Field(description="Our SP metadata for this org")
    created_at: str
    updated_at: str


class SsoDiscovery(Response):
    org_id: str
    methods: list[Literal["oidc", "saml"]]
