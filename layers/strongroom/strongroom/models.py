"""Pydantic models at every boundary: request bodies (extra="forbid"), responses, stored items."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from strongroom.shown_once import ShownOnce

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]


# No C0/C1 control characters, at least one non-space character (the OpenAPI document shows it too).
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN), AfterValidator(str.strip)]
Description = Annotated[str, StringConstraints(max_length=1000)]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(str.lower)]
RoleName = Literal["owner", "admin", "developer", "viewer"]


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return slug if _SLUG_RE.match(slug or "") else ""


class Request(BaseModel):
    """Base of request bodies: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)
    request_id: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# --------------------------------------------------------------------------- users


class User(Response):
    id: str
    email: str
    # Whether the email is proven to be the user's (an issuer's `email_verified: true`, or dev mode).
    # Records stored before this field existed read as unverified until their own subject proves it.
    email_verified: bool = False
    name: str = ""
    created_at: str
    updated_at: str


class UserPatch(Request):
    name: Name


# --------------------------------------------------------------------------- orgs


class OrgCreate(Request):
    name: Name
    slug: Slug | None = None


class OrgPatch(Request):
    name: Name | None = None
    slug: Slug | None = None


class Org(Response):
    id: str
    name: str
    slug: str
    role: RoleName | Literal["service_token"]  # the caller's: a member's role, or a service token
    created_at: str
    updated_at: str


class OrgList(Response):
    data: list[Org]
    next_cursor: str | None = None


class Member(Response):
    user_id: str
    email: str
    name: str = ""
    role: RoleName
    joined_at: str


class MemberList(Response):
    data: list[Member]
    next_cursor: str | None = None


class MemberPatch(Request):
    role: RoleName


class InvitationCreate(Request):
    email: Email
    role: RoleName


class Invitation(Response):
    id: str
    email: str
    role: RoleName
    invited_by: str
    created_at: str
    expires_at: str
    status: Literal["pending", "accepted", "revoked", "expired"]


class InvitationCreated(Invitation):
    token: ShownOnce = Field(description="Shown once. Send it to the invitee; it is stored only as a hash.")


class InvitationList(Response):
    data: list[Invitation]
    next_cursor: str | None = None


class InvitationAccepted(Response):
    org: Org


class PermissionInfo(Response):
    name: str
    description: str
    environment_scoped: bool


class RoleInfo(Response):
    name: RoleName
    permissions: dict[str, Literal["all", "non_production", "development"]]


class PermissionCatalog(Response):
    data: list[PermissionInfo]
    roles: list[RoleInfo]


class MyPermissions(Response):
    org_id: str
    role: RoleName
    permissions: dict[str, Literal["all", "non_production", "development"]]


# --------------------------------------------------------------------------- projects


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
    created_at: str
    updated_at: str


class EnvironmentList(Response):
    data: list[Environment]
    next_cursor: str | None = None


class EnvironmentCreate(Request):
    name: Name
    slug: Slug | None = None
    parent: str | None = Field(default=None, max_length=64, description="Parent environment (ID or slug)")
    production: bool = False
    encryption: Literal["server", "client"] = "server"


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


class ProjectList(Response):
    data: list[Project]
    next_cursor: str | None = None


class Health(Response):
    status: Literal["ok", "degraded"]
    checks: dict[str, Literal["ok", "fail"]]
    version: str


# --------------------------------------------------------------------------- secrets

SECRET_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"  # noqa: S105 - a name pattern
MAX_VALUE_BYTES = 64 * 1024


def _value_size(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise ValueError(f"must be at most {MAX_VALUE_BYTES} bytes of UTF-8")
    if "\x00" in value:
        raise ValueError("must not contain NUL (it cannot reach an environment variable)")
    return value


# No NUL (it cannot reach an environment variable): in the schema too, so clients know.
SecretValue = Annotated[
    str, StringConstraints(max_length=MAX_VALUE_BYTES, pattern=r"^[^\x00]*$"), AfterValidator(_value_size)
]


class SecretPut(Request):
    value: SecretValue = Field(description="UTF-8, at most 64 KiB. Never logged, never in an audit entry.")
    comment: Annotated[str, StringConstraints(max_length=500)] = ""

    def __repr__(self) -> str:  # a secret value must not reach a log through repr
        return f"SecretPut(value='**********', comment={self.comment!r})"

    __str__ = __repr__


class SecretWritten(Response):
    key: str
    version: int
    created_at: str
    updated_at: str


class Secret(Response):
    key: str
    value: str
    version: int
    updated_at: str
    updated_by: str
    source: str = Field(description="Slug of the environment holding the value (a parent when inherited)")
    inherited: bool = False


class SecretListItem(Response):
    key: str
    value: str | None = None
    version: int
    updated_at: str
    source: str = Field(description="Slug of the environment holding the value (a parent when inherited)")
    inherited: bool = False


class SecretList(Response):
    data: list[SecretListItem]
    next_cursor: str | None = None


class SecretVersion(Response):
    key: str
    version: int
    action: Literal["set", "delete"]
    comment: str = ""
    created_at: str
    created_by: str


class SecretVersionList(Response):
    data: list[SecretVersion]
    next_cursor: str | None = None


SecretName = Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)]
Comment = Annotated[str, StringConstraints(max_length=500)]


class _Masked(Request):
    """A request carrying values: its repr never shows them."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(**********)"

    __str__ = __repr__


class SecretsPatch(_Masked):
    set: dict[SecretName, SecretValue] = Field(
        default_factory=dict,
        max_length=500,
        description="KEY -> new value",
        json_schema_extra={"additionalProperties": False},
    )
    delete: list[SecretName] = Field(default_factory=list, max_length=500, description="Keys to delete")
    comment: Comment = ""


class SecretChange(Response):
    key: str
    action: Literal["created", "updated", "deleted", "unchanged", "add", "update"]
    version: int | None = None


class BatchResult(Response):
    revision: int
    changes: list[SecretChange]


class SecretRollback(Request):
    version: int = Field(ge=1, le=10**12, description="The version whose value becomes the new version")
    comment: Comment = ""


class SecretsImport(_Masked):
    format: Literal["dotenv", "json"]
    content: Annotated[str, StringConstraints(max_length=512 * 1024)]
    overwrite: bool = Field(default=False, description="Replace the values of keys that exist (default: keep)")


class ImportResult(Response):
    created: int
    updated: int
    unchanged: int
    revision: int


class Promote(Request):
    from_: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(alias="from")
    to: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    keys: list[SecretName] | None = Field(default=None, max_length=500, description="Only these keys")
    dry_run: bool = Field(default=False, description="true only shows the diff and writes nothing")


class PromoteResult(Response):
    changes: list[SecretChange]
    dry_run: bool
    revision: int


class EnvironmentRestore(Request):
    at: AwareDatetime = Field(description="The instant to go back to (RFC 3339 with an offset)")


class KeyRotated(Response):
    key_version: int = Field(description="The data key version new writes use")
    revision: int
    rotated_at: str


class EnvironmentRestored(Response):
    at: str
    revision: int
    restored: int
    trashed: int


# --------------------------------------------------------------------------- templates

MAX_PATTERN_LENGTH = 200


def _compiles(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    import re  # noqa: PLC0415

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


class Template(Response):
    data: list[TemplateKey]


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


# --------------------------------------------------------------------------- BYOK encryption

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


# --------------------------------------------------------------------------- service tokens

MAX_CIDRS = 20


class ServiceTokenCreate(Request):
    name: Name
    project: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    environment: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    permissions: list[Literal["read", "write"]] = Field(
        default=["read"], min_length=1, max_length=2, description='["read"] or ["read", "write"]'
    )
    expires_at: AwareDatetime | None = None
    allowed_cidrs: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_CIDRS, description="Source networks allowed (API Gateway's view)"
    )


class ServiceToken(Response):
    id: str
    name: str
    project_id: str
    environment_id: str
    permissions: list[str]
    expires_at: str | None = None
    allowed_cidrs: list[str] = []
    created_at: str
    created_by: str
    rotated_at: str | None = None
    last_used_at: str | None = None


class ServiceTokenCreated(ServiceToken):
    token: ShownOnce = Field(description="Shown once (sr_svc_…). Stored only as a SHA-256 hash.")


class ServiceTokenList(Response):
    data: list[ServiceToken]
    next_cursor: str | None = None


# --------------------------------------------------------------------------- runtime


class RuntimeIdentity(Response):
    token_id: str
    org_id: str
    project_id: str
    environment_id: str
    environment: str
    permissions: list[str]
    expires_at: str | None = None


class RuntimeSecrets(Response):
    secrets: dict[str, str]
    version: str = Field(description="The ETag: changes whenever a value this read depends on changes")


class RuntimeSecret(Response):
    key: str
    value: str
    version: str


# --------------------------------------------------------------------------- personal access tokens


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


class PersonalTokenList(Response):
    data: list[PersonalToken]


# --------------------------------------------------------------------------- device login


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
    user_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    deny: bool = False


class DeviceTokenBody(Request):
    device_code: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    grant_type: Literal["urn:ietf:params:oauth:grant-type:device_code"] = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceToken(Response):
    access_token: ShownOnce = Field(description="A personal access token (sr_pat_…), shown once")
    token_type: Literal["Bearer"]
    expires_in: int
    token_id: str


# --------------------------------------------------------------------------- audit log


class AuditParty(Response):
    type: str
    id: str


class AuditEntry(Response):
    id: str
    seq: int
    action: str
    actor: AuditParty
    resource: AuditParty
    project_id: str | None = None
    environment_id: str | None = None
    request_id: str = ""
    ip: str = ""
    created_at: str
    metadata: dict[str, Any] = {}
    hash: str = Field(description="SHA-256 chaining this event to the previous one")


class AuditList(Response):
    data: list[AuditEntry]
    next_cursor: str | None = None


class AuditVerification(Response):
    ok: bool
    checked: int = Field(description="Events checked in the window")
    first_seq: int | None = None
    last_seq: int | None = None
    first_broken_seq: int | None = Field(default=None, description="Where the chain first breaks")
    reason: str | None = None
    next_cursor: str | None = Field(
        default=None, description="Set when the walk stopped at its per-call bound: pass it as `cursor` to go on"
    )


# --------------------------------------------------------------------------- webhooks

EventPattern = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+(\.([a-z_]+|\*))*)$", max_length=100)]
WebhookUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=2048)]  # printable ASCII
ScopeRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class WebhookCreate(Request):
    url: WebhookUrl = Field(description="https (http to 127.0.0.1 only in dev mode); public addresses only")
    events: list[EventPattern] = Field(min_length=1, max_length=50, description='e.g. ["secret.*", "member.invited"]')
    project: ScopeRef | None = None
    environment: ScopeRef | None = None
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    enabled: bool = True


class WebhookPatch(Request):
    url: WebhookUrl | None = None
    events: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    project: ScopeRef | None = None
    environment: ScopeRef | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    enabled: bool | None = None


class WebhookSecretRotate(Request):
    grace_seconds: int = Field(default=86_400, ge=0, le=7 * 86_400, description="How long the old secret still signs")


class Webhook(Response):
    id: str
    url: str
    events: list[str]
    project_id: str | None = None
    environment_id: str | None = None
    description: str = ""
    enabled: bool
    status: Literal["active", "failing", "disabled"]
    failing_since: str | None = None
    created_at: str
    updated_at: str


class WebhookCreated(Webhook):
    secret: ShownOnce = Field(description="whsec_… (Standard Webhooks). Shown once; stored encrypted by KMS.")


class WebhookList(Response):
    data: list[Webhook]


class Delivery(Response):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "retrying", "failed"]
    attempts: int
    response_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    created_at: str
    updated_at: str
    log: list[dict[str, Any]] = Field(default_factory=list, description="Each attempt: at, status code, latency")


class DeliveryList(Response):
    data: list[Delivery]
    next_cursor: str | None = None
