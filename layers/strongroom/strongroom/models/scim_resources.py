"""The SCIM 2.0 resources Strongroom serves (RFC 7643), as scim2-models models: what
`/scim/v2/Schemas` publishes is generated from them, so the schema is exactly what is served.

A Group is a role of the org (built-in or custom): its members hold it, and adding a member
to one sets their role. A User is a user the org's identity provider provisioned: `userName` (immutable; the account's
email when it is an email address, docs/decisions.md), `name`, `displayName`, `emails` (required:
the account's email when `userName` is not one), `externalId`, and `active`, which is whether the
user is a member of the org right now (required; a request without it means true)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Context,
    Email,
    ETag,
    Filter,
    Mutability,
    Name,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import User as CoreUser

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
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


class GroupMember(ComplexAttribute):
    """A member of a Group: a User (no nested Groups), by id and URI."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    # Reference[<a class named User>]: its referenceTypes are ["User"] (the served User's name).
    ref: Annotated[Reference[CoreUser] | None, Mutability.immutable] = Field(  # type: ignore[type-arg]
        None, serialization_alias="$ref", validation_alias="$ref"
    )


class ScimGroup(Resource[Any]):
    """A role of the org: built-in (id = its slug, displayName immutable) or custom (id = rol_…);
    its members are the users holding it."""

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


def group_schema() -> Schema:
    schema = ScimGroup.to_schema()
    schema.name = "Group"
    schema.description = "A role of the organization; its members hold it (adding a member sets their role)"
    return schema


def group_resource_type() -> ResourceType:
    return ResourceType(
        id="Group",
        name="Group",
        description="Roles of the organization, built-in and custom",
        endpoint="/Groups",
        schema_=GROUP_SCHEMA,
    )


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
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="SCIM token",
                description="Authorization: Bearer sr_scim_… (minted at POST /v1/orgs/{org}/scim/tokens)",
                primary=True,
            )
        ],
    )


def versioned[R: Resource[Any]](resource: R) -> R:
    """`meta.version`: a weak entity tag of the resource as it is answered (RFC 7644 §3.14), a
    digest of its whole representation, so that whatever changes it (a membership's state, a
    group's members, a rename) changes the tag."""
    if resource.meta is None:
        return resource
    resource.meta.version = None
    dumped = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    digest = hashlib.sha256(json.dumps(dumped, sort_keys=True, default=str).encode()).hexdigest()[:24]
    resource.meta.version = f'W/"{digest}"'
    return resource


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def matches(resource: Resource[Any], header: str | None) -> bool:
    """Whether an If-Match/If-None-Match list names the resource's version (weak comparison,
    RFC 9110 §8.8.3.2; `*` names any)."""
    if header is None or resource.meta is None or resource.meta.version is None:
        return False
    tags = {_opaque(t) for t in header.split(",") if t.strip()}
    return "*" in tags or _opaque(resource.meta.version) in tags
