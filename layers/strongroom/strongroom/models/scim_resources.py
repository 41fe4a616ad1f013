"""The SCIM 2.0 resources Strongroom serves (RFC 7643), as scim2-models models: what
`/scim/v2/Schemas` publishes is generated from them, so the schema is exactly what is served.

A User is a user the org's identity provider provisioned: `userName` (immutable; the account's
email when it is an email address, docs/decisions.md), `name`, `displayName`, `emails` (required:
the account's email when `userName` is not one), `externalId`, and `active`, which is whether the
user is a member of the org right now (required; a request without it means true)."""

from __future__ import annotations

from typing import Annotated, Any

from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Email,
    ETag,
    Filter,
    Mutability,
    Name,
    Patch,
    Required,
    Resource,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
MAX_RESULTS = 100


class MemberEmail(Email):
    value: Annotated[str | None, Required.true] = None


class ScimUser(Resource[Any]):
    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Required.true, Uniqueness.server, Mutability.immutable] = None
    name: Name | None = None
    display_name: str | None = None
    emails: Annotated[list[MemberEmail] | None, Required.true] = None
    active: Annotated[bool | None, Required.true] = None


def user_schema() -> Schema:
    schema = ScimUser.to_schema()
    schema.name = "User"
    schema.description = "A user the organization's identity provider provisions; active = a member of the org"
    return schema


def user_resource_type() -> ResourceType:
    return ResourceType(
        id="User",
        name="User",
        description="Members of the organization",
        endpoint="/Users",
        schema_=USER_SCHEMA,
    )


def service_provider_config() -> ServiceProviderConfig:
    """What works, and only that (advertise only what works)."""
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="SCIM token",
                description="Authorization: Bearer sr_scim_… (minted at POST /v1/orgs/{org}/scim/tokens)",
                primary=True,
            )
        ],
    )
