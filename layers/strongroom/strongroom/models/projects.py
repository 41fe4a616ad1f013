"""Projects, their environments and the project's template of required keys."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from strongroom.models.common import (
    Description,
    Items,
    Name,
    Page,
    Request,
    Response,
    Slug,
)
from strongroom.models.e2e import ENV_ID_PATTERN, GrantBody
from strongroom.models.secrets import SecretName


class ProjectCreate(Request):
    name: Name
    slug: Slug | None = None
    description: Description = ""


class ProjectPatch(Request):
    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None


class Environment(Response):
    id: str
    project_id: str
    name: str
    slug: str
    production: bool
    parent_id: str | None = None
    encryption: Literal["server", "client"] = "server"
    key_version: int | None = Field(default=None, description="A client-encrypted environment's data key version")
    created_at: str
    updated_at: str


class EnvironmentList(Page[Environment]):
    pass


class EnvironmentCreate(Request):
    name: Name
    slug: Slug | None = None
    parent: str | None = Field(default=None, max_length=64, description="Parent environment (ID or slug)")
    production: bool = False
    encryption: Literal["server", "client"] = "server"
    id: Annotated[str, StringConstraints(pattern=ENV_ID_PATTERN)] | None = Field(
        default=None,
        description='A client-encrypted environment\'s ID, chosen by its client: "env_" + 26 lower-case '
        "Crockford base32 characters (48-bit milliseconds, 80 random bits)",
    )
    grant: GrantBody | None = Field(default=None, description="The creator's grant of a client-encrypted environment")

    @model_validator(mode="after")
    def _client_fields(self) -> Self:
        if self.encryption == "client":
            if self.id is None or self.grant is None:
                raise ValueError("a client-encrypted environment needs `id` and `grant`")
            if self.parent is not None:
                raise ValueError("a client-encrypted environment has no parent")
        elif self.id is not None or self.grant is not None:
            raise ValueError("`id` and `grant` are for client-encrypted environments")
        return self


class EnvironmentPatch(Request):
    name: Name | None = None
    slug: Slug | None = None
    parent: str | None = Field(default=None, max_length=64)
    production: bool | None = None


class Project(Response):
    id: str
    org_id: str
    name: str
    slug: str
    description: str = ""
    created_at: str
    updated_at: str
    environments: list[Environment] = Field(default_factory=list)


class ProjectList(Page[Project]):
    pass


MAX_PATTERN_LENGTH = 200


def _compiles(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error:
        raise ValueError("must be a valid regular expression") from None
    return pattern


class TemplateKeyPut(Request):
    key: SecretName = Field(description="A key every environment of the project must have")
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    pattern: Annotated[
        str | None, StringConstraints(min_length=1, max_length=MAX_PATTERN_LENGTH), AfterValidator(_compiles)
    ] = Field(
        default=None,
        description="A regular expression the whole value must match, run by RE2 (linear time): "
        "no backreferences or lookaround (422 pattern_unsupported)",
    )


class TemplateKey(Response):
    key: str
    description: str = ""
    pattern: str | None = None
    created_at: str
    updated_at: str


class Template(Items[TemplateKey]):
    pass


class PatternMismatch(Response):
    key: str
    pattern: str


class ValidationReport(Response):
    valid: bool
    checked: int = Field(description="How many template keys were checked")
    missing: list[str]
    mismatched: list[PatternMismatch] = Field(description="Keys whose value does not match (values are never shown)")
    unsupported: list[str] = Field(
        default_factory=list,
        description="Keys whose stored pattern RE2 cannot run (backreferences, lookaround): not checked; "
        "fix the template",
    )
