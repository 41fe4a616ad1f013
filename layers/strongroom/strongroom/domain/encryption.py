"""Bring your own KMS key (BYOK), per org. Owner only (`encryption.manage`).

Every environment's data key is wrapped by a KMS key: the service's, or, once an owner enables
BYOK, the org's own. A customer key serves exactly one org, and KMS itself proves it: the key's
policy (or a grant) lets Strongroom use it only when the encryption context's `org` is that org's
id (docs/byok.md). Testing or enabling a key makes three calls: GenerateDataKey and Decrypt under
the org's own context must succeed, and GenerateDataKey under the context of another org (a fresh,
random org id that names no org) must be refused by KMS with AccessDeniedException. A key that
serves any context could serve any tenant, and is refused. One key ARN is claimed by one org at
a time (a claim item, written only where none exists in the enable transaction, released by
disable, by a switch to another key and by the org's purge). Whatever is wrong with a key (it does
not exist, is disabled, is in an account we cannot reach, is not limited to this org, is
another org's), the answer is the same 422 `key_unusable` with the same message, so a caller
learns nothing about keys that are not theirs.

Enabling re-wraps every data key of the org with KMS ReEncrypt (the plaintext key never leaves
KMS), under the same encryption context (org, project, environment); disabling re-wraps back.
Both are resumable: the org records the target key and `migrating` in one audited transaction,
new data keys use the target at once, and the re-wrap walks environments, skipping what is
already under the target; calling again finishes an interrupted run. Revoking our access to the
customer key makes every read fail closed (503), which is the point.

`POST …/encryption/rotate` gives every environment of the org a new data key version (each its
own audited change, as `POST E/rotate-key` does), resumable in the same way.

The routes name the permission (`org_access(org, "encryption.manage")`) and hand over the access
object; every public function takes it (and checks `encryption.manage` on it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strongroom import aws, clock, ids
from strongroom.config import settings
from strongroom.data import chain, db
from strongroom.data import encryption as data
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data import secrets as secret_data
from strongroom.data.orgs import OrgRecord
from strongroom.data.projects import EnvironmentRecord
from strongroom.domain import audit, shared_scope
from strongroom.errors import Conflict, Unavailable, Unprocessable
from strongroom.models import KmsTest, OrgEncryption, OrgKeysRotated
from strongroom.observability import logger
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess, OrgAccess

# KMS answers that mean "this key cannot be used by us" (the customer's to fix): 422.
_UNUSABLE = frozenset(
    {
        "AccessDeniedException",
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
        "IncorrectKeyException",
        "InvalidArnException",
        "ValidationException",
        "KeyUnavailableException",
        "UnsupportedOperationException",
    }
)
TEST_CONTEXT_PURPOSE = "byok-test"
UNUSABLE_MESSAGE = (
    "the key cannot be used for this organization: it must be an enabled symmetric KMS key whose key policy "
    "(or grant) lets Strongroom use it only under this organization's encryption context, used by no other "
    "organization"
)


def _unusable() -> Unprocessable:
    """The one answer for every key that is not this org's to use (nothing about the key is told)."""
    return Unprocessable(UNUSABLE_MESSAGE, code="key_unusable")


class _Refused(Exception):
    """KMS refused a call on a customer key (one of `_UNUSABLE`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _call(operation: str, **params: Any) -> dict[str, Any]:
    """A KMS call on a customer key: `_Refused` when KMS refuses it, 503 when KMS itself fails."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return getattr(aws.kms(), operation)(**params)  # type: ignore[no-any-return]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _UNUSABLE:
            raise _Refused(code) from None
        logger.warning("customer key call failed", extra={"operation": operation, "error_code": code})
        raise Unavailable("the key service is unavailable; nothing was changed") from exc
    except BotoCoreError as exc:
        raise Unavailable("the key service is unavailable; nothing was changed") from exc


def _kms(operation: str, **params: Any) -> dict[str, Any]:
    """A KMS call on a customer key: 422 `key_unusable` when KMS refuses it, 503 when it fails."""
    try:
        return _call(operation, **params)
    except _Refused as refused:
        logger.warning("customer key refused", extra={"operation": operation, "error_code": refused.code})
        raise _unusable() from None


def _manage(access: OrgAccess) -> OrgAccess:
    """The access the route resolved with `encryption.manage` (checked again: it is the permission
    every function here needs)."""
    access.require("encryption.manage")
    return access


def _view(access: OrgAccess, **extra: Any) -> OrgEncryption:
    org = access.org
    return OrgEncryption(
        mode="customer" if org.kms_key_arn else "service",
        kms_key_arn=org.kms_key_arn,
        status=org.encryption_status,
        updated_at=org.encryption_updated_at,
        **extra,
    )


def get(access: OrgAccess) -> OrgEncryption:
    return _view(_manage(access))


# --------------------------------------------------------------------------- test


PROBE_CHECKS = ("generate_data_key", "decrypt", "other_org_denied", "not_claimed")


def test_key(access: OrgAccess, key_arn: str) -> KmsTest:
    """Whether the key would be accepted by enable: KMS proves it serves this org and only it."""
    return KmsTest(ok=True, kms_key_arn=_probe(_manage(access), key_arn), checks=list(PROBE_CHECKS))


def _probe(access: OrgAccess, key_arn: str) -> str:
    """The key's ARN (as KMS names it), once KMS has shown that it serves this org under this
    org's encryption context and refuses another org's, and no other org has claimed it."""
    org_id = access.org.id
    own = {"org": org_id, "purpose": TEST_CONTEXT_PURPOSE}
    generated = _kms("generate_data_key", KeyId=key_arn, KeySpec="AES_256", EncryptionContext=own)
    arn = str(generated.get("KeyId", ""))
    if not arn.startswith("arn:"):  # KMS names the key by its ARN
        raise _unusable()
    back = _kms("decrypt", CiphertextBlob=generated["CiphertextBlob"], KeyId=arn, EncryptionContext=own)
    if back["Plaintext"] != generated["Plaintext"]:
        raise _unusable()
    # Another org's context: a fresh org id, so no policy can have named it. KMS must refuse.
    other = {"org": ids.new_id("org"), "purpose": TEST_CONTEXT_PURPOSE}
    try:
        _call("generate_data_key", KeyId=arn, KeySpec="AES_256", EncryptionContext=other)
    except _Refused as refused:
        if refused.code != "AccessDeniedException":
            logger.warning("customer key refused", extra={"operation": "generate_data_key", "error_code": refused.code})
            raise _unusable() from None
    else:
        logger.warning("customer key is not limited to one org's encryption context")
        raise _unusable()
    if org_data.kms_key_holder(arn) not in (None, org_id):
        raise _unusable()
    return arn


# --------------------------------------------------------------------------- enable / disable


@dataclass(frozen=True, slots=True)
class Migration:
    """What a change of key does, decided from the org as read: record the target (an audited
    transaction that also moves the key claims) unless it resumes an interrupted run, then
    re-wrap every data key under it."""

    target: str | None  # the org's own key, or None: the service key
    previous: str | None  # the key the org used before (None: the service key)
    resume: bool  # the target is recorded already (an interrupted run): re-wrap only

    @property
    def release(self) -> str | None:
        """The customer key the org gives back."""
        return None if self.resume else self.previous

    @property
    def claim(self) -> str | None:
        """The customer key the org claims."""
        return None if self.resume else self.target

    def audit_metadata(self) -> dict[str, str]:
        return {"kms_key_arn": self.target or "service", "previous": self.previous or "service"}


def plan_migration(org: OrgRecord, target: str | None) -> Migration:
    """Pure: the migration of `org` to `target`, or the refusal (409) when another change of key
    is in progress or the org already uses `target`."""
    if org.encryption_status == data.MIGRATING:
        if org.kms_key_arn == target:
            return Migration(target, previous=org.kms_key_arn, resume=True)
        raise Conflict(
            "a change of key is in progress; finish it first (call it again)",
            code="encryption_migrating",
            details={"kms_key_arn": org.kms_key_arn},
        )
    if org.kms_key_arn == target:
        raise Conflict("the organization already uses this key", code="already_active")
    return Migration(target, previous=org.kms_key_arn, resume=False)


def enable(access: OrgAccess, key_arn: str) -> OrgEncryption:
    access = _manage(access)
    return _migrate(access, _probe(access, key_arn), "org.kms_enabled")


def disable(access: OrgAccess) -> OrgEncryption:
    access = _manage(access)
    if access.org.kms_key_arn is None and access.org.encryption_status == data.ACTIVE:
        raise Conflict("this organization does not use its own key", code="byok_not_enabled")
    return _migrate(access, None, "org.kms_disabled")


def _migrate(access: OrgAccess, target: str | None, action: str) -> OrgEncryption:
    """Record the target (audited), then re-wrap every data key of the org under it."""
    org = access.org
    migration = plan_migration(org, target)
    if not migration.resume:
        _record_target(org, migration, action)
    destination = target or settings().kms_key_id
    environments = project_data.org_environments(org.id)
    shared = shared_scope.environment(org.id)  # the org's shared secrets: keys of their own
    rewrapped = sum(_rewrap_environment(org.id, env, destination) for env in [*environments, shared])
    data.finish_migration(org.id, clock.now_iso())
    refreshed = org.model_copy(
        update={"kms_key_arn": target, "encryption_status": data.ACTIVE, "encryption_updated_at": clock.now_iso()}
    )
    return _view(
        OrgAccess(principal=access.principal, org=refreshed, role=access.role),
        environments=len(environments),
        rewrapped=rewrapped,
    )


def _record_target(org: OrgRecord, migration: Migration, action: str) -> None:
    """One audited transaction: the org's new key and `migrating`, the key claims moved with it."""
    now = clock.now_iso()
    claims: list[db.Op] = []
    if migration.release:
        claims.append(org_data.release_kms_key(org.id, migration.release))
    if migration.claim:
        claims.append(org_data.claim_kms_key(org.id, migration.claim, now, on_fail=_unusable()))
    changed = Conflict("the organization's encryption changed; retry", code="encryption_changed")
    chain.transact(
        [data.begin_migration(org.id, migration.target, now, on_fail=changed), *claims],
        audit=audit.event(
            action, scope_id=org.id, resource_type="org", resource_id=org.id, metadata=migration.audit_metadata()
        ),
    )


def _rewrap_environment(org_id: str, env: EnvironmentRecord, destination: str) -> int:
    """Re-wrap the environment's data keys and its snapshot's copy under `destination`."""
    scope = crypto.Scope(org_id, env.project_id, env.id)
    count = 0
    for rec in secret_data.data_keys(env.id):
        if rec.kms_key_id == destination:
            continue
        wrapped = _reencrypt(scope, rec.wrapped_key, rec.kms_key_id, destination)
        secret_data.rewrap_data_key(env.id, rec, wrapped, destination)
        count += 1
    _rewrap_snapshot(env.id, destination)
    return count


def _rewrap_snapshot(env_id: str, destination: str) -> None:
    """Give the snapshot the wrapping of its data key, re-read when a write moved it meanwhile."""
    for _attempt in range(5):
        snap = secret_data.snapshot_head(env_id)
        if snap is None or snap.kms_key_id == destination:
            return
        key = secret_data.data_key(env_id, snap.key_version)
        if key is None or secret_data.rewrap_snapshot(env_id, snap, key):
            return


def _reencrypt(scope: crypto.Scope, wrapped: bytes, source: str, destination: str) -> bytes:
    resp = _kms(
        "re_encrypt",
        CiphertextBlob=wrapped,
        SourceKeyId=source,
        SourceEncryptionContext=scope.context(),
        DestinationKeyId=destination,
        DestinationEncryptionContext=scope.context(),
    )
    blob: bytes = resp["CiphertextBlob"]
    return blob


# --------------------------------------------------------------------------- rotate


def rotate(access: OrgAccess) -> OrgKeysRotated:
    """A new data key version for every environment of the org (each one audited change)."""
    from strongroom.domain import secrets, shared_secrets  # noqa: PLC0415 - the change path lives there

    access = _manage(access)
    projects = {p.id: p for p in project_data.active_projects(access.org.id)}
    rotated = 0
    for env in project_data.org_environments(access.org.id):
        project = projects.get(env.project_id)
        if project is None or env.encryption != "server":
            continue
        env_access = EnvironmentAccess(
            principal=access.principal, org=access.org, role=access.role, project=project, environment=env
        )
        secrets.rotate_key(env_access)
        rotated += 1
    if secret_data.snapshot_head(shared_scope.shared_id(access.org.id)) is not None:
        secrets.rotate_key(shared_secrets.store_access(access))  # the org's shared secrets too
    return OrgKeysRotated(environments=rotated, rotated_at=clock.now_iso())
