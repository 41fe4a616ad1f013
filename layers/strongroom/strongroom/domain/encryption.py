"""Bring your own KMS key (BYOK), per org. Owner only (`encryption.manage`).

Every environment's data key is wrapped by a KMS key: the service's, or, once an owner enables
BYOK, the org's own. A customer key serves exactly one org, and KMS itself proves it: the key's
policy (or a grant) lets Strongroom use it only when the encryption context's `org` is that org's
id (docs/byok.md). Testing or enabling a key makes three calls: GenerateDataKey and Decrypt under
the org's own context must succeed, and GenerateDataKey under the context of another org (a fresh,
random org id that names no org) must be refused by KMS with AccessDeniedException. A key that
serves any context could serve any tenant, and is refused. One key ARN is claimed by one org at
a time (a claim item, written with `attribute_not_exists` in the enable transaction, released by
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
"""

from __future__ import annotations

from typing import Any

from strongroom import audit, aws, clock, crypto, db, ids, keys
from strongroom.access import EnvironmentAccess, OrgAccess, org_access
from strongroom.config import settings
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data.projects import EnvironmentRecord
from strongroom.data.secrets import DataKeyRecord, SnapshotRecord
from strongroom.errors import Conflict, Unavailable, Unprocessable
from strongroom.models import KmsTest, OrgEncryption, OrgKeysRotated
from strongroom.observability import logger

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


def _access(org_ref: str) -> OrgAccess:
    return org_access(org_ref, "encryption.manage")


def _view(access: OrgAccess, **extra: Any) -> OrgEncryption:
    org = access.org
    return OrgEncryption(
        mode="customer" if org.kms_key_arn else "service",
        kms_key_arn=org.kms_key_arn,
        status=org.encryption_status,
        updated_at=org.encryption_updated_at,
        **extra,
    )


def get(org_ref: str) -> OrgEncryption:
    return _view(_access(org_ref))


# --------------------------------------------------------------------------- test


PROBE_CHECKS = ("generate_data_key", "decrypt", "other_org_denied", "not_claimed")


def test_key(org_ref: str, key_arn: str) -> KmsTest:
    """Whether the key would be accepted by enable: KMS proves it serves this org and only it."""
    access = _access(org_ref)
    return KmsTest(ok=True, kms_key_arn=_probe(access, key_arn), checks=list(PROBE_CHECKS))


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


def enable(org_ref: str, key_arn: str) -> OrgEncryption:
    access = _access(org_ref)
    return _migrate(access, _probe(access, key_arn), "org.kms_enabled")


def disable(org_ref: str) -> OrgEncryption:
    access = _access(org_ref)
    if access.org.kms_key_arn is None and access.org.encryption_status == "active":
        raise Conflict("this organization does not use its own key", code="byok_not_enabled")
    return _migrate(access, None, "org.kms_disabled")


def _migrate(access: OrgAccess, target: str | None, action: str) -> OrgEncryption:
    """Record the target (audited), then re-wrap every data key of the org under it."""
    org = access.org
    now = clock.now_iso()
    resuming = org.encryption_status == "migrating" and org.kms_key_arn == target
    if not resuming:
        if org.encryption_status == "migrating":
            raise Conflict(
                "a change of key is in progress; finish it first (call it again)",
                code="encryption_migrating",
                details={"kms_key_arn": org.kms_key_arn},
            )
        if org.kms_key_arn == target:
            raise Conflict("the organization already uses this key", code="already_active")
        claims: list[db.Op] = []
        if org.kms_key_arn:
            claims.append(org_data.release_kms_key(org.id, org.kms_key_arn))
        if target:
            claims.append(org_data.claim_kms_key(org.id, target, now, on_fail=_unusable()))
        db.transact(
            [
                db.Update(
                    keys.org(org.id),
                    ("SET kms_key_arn = :arn, " if target else "REMOVE kms_key_arn SET ")
                    + "encryption_status = :migrating, encryption_updated_at = :now",
                    condition=(
                        "#st = :active AND (attribute_not_exists(encryption_status) OR encryption_status = :done)"
                    ),
                    names={"#st": "status"},
                    values={
                        **({":arn": target} if target else {}),
                        ":migrating": "migrating",
                        ":now": now,
                        ":active": "active",
                        ":done": "active",
                    },
                    on_fail=Conflict("the organization's encryption changed; retry", code="encryption_changed"),
                ),
                *claims,
            ],
            audit=audit.event(
                action,
                scope_id=org.id,
                resource_type="org",
                resource_id=org.id,
                metadata={"kms_key_arn": target or "service", "previous": org.kms_key_arn or "service"},
            ),
        )
    destination = target or settings().kms_key_id
    environments = _environments(org.id)
    rewrapped = sum(_rewrap_environment(org.id, env, destination) for env in environments)
    db.update_plain(
        keys.org(org.id),
        "SET encryption_status = :done, encryption_updated_at = :now",
        condition="encryption_status = :migrating",
        values={":done": "active", ":migrating": "migrating", ":now": clock.now_iso()},
    )
    refreshed = org.model_copy(
        update={"kms_key_arn": target, "encryption_status": "active", "encryption_updated_at": clock.now_iso()}
    )
    return _view(
        OrgAccess(principal=access.principal, org=refreshed, role=access.role),
        environments=len(environments),
        rewrapped=rewrapped,
    )


def _environments(org_id: str) -> list[EnvironmentRecord]:
    return [
        EnvironmentRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix="ENV#")
        if i.get("entity") == "environment"
    ]


def _rewrap_environment(org_id: str, env: EnvironmentRecord, destination: str) -> int:
    """Re-wrap the environment's data keys and its snapshot's copy under `destination`."""
    scope = crypto.Scope(org_id, env.project_id, env.id)
    partition = keys.environment_partition(env.id)
    count = 0
    for item in db.query_all(partition, prefix="DATAKEY#"):
        rec = DataKeyRecord.model_validate(item)
        if rec.kms_key_id == destination:
            continue
        wrapped = _reencrypt(scope, rec.wrapped_key, rec.kms_key_id, destination)
        db.update_plain(
            keys.env_data_key(env.id, rec.version),
            "SET wrapped_key = :w, kms_key_id = :k",
            condition="kms_key_id = :old",
            values={":w": wrapped, ":k": destination, ":old": rec.kms_key_id},
        )
        count += 1
    for _attempt in range(5):
        snap_item = db.get(keys.env_snapshot(env.id))
        if snap_item is None:
            break
        snap = SnapshotRecord.model_validate(snap_item)
        if snap.kms_key_id == destination:
            break
        key_item = db.get(keys.env_data_key(env.id, snap.key_version))
        if key_item is None:
            break
        current = DataKeyRecord.model_validate(key_item)
        if db.update_plain(
            keys.env_snapshot(env.id),
            "SET wrapped_key = :w, kms_key_id = :k",
            condition="revision = :r AND kms_key_id = :old",
            values={":w": current.wrapped_key, ":k": current.kms_key_id, ":r": snap.revision, ":old": snap.kms_key_id},
        ):
            break
    return count


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


def rotate(org_ref: str) -> OrgKeysRotated:
    """A new data key version for every environment of the org (each one audited change)."""
    from strongroom.domain import secrets  # noqa: PLC0415 - the change path lives there

    access = _access(org_ref)
    projects = {p.id: p for p in _projects(access.org.id)}
    rotated = 0
    for env in _environments(access.org.id):
        project = projects.get(env.project_id)
        if project is None or env.encryption != "server":
            continue
        env_access = EnvironmentAccess(
            principal=access.principal, org=access.org, role=access.role, project=project, environment=env
        )
        secrets.rotate_key(env_access)
        rotated += 1
    return OrgKeysRotated(environments=rotated, rotated_at=clock.now_iso())


def _projects(org_id: str) -> list[project_data.ProjectRecord]:
    return [
        project_data.ProjectRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix="PROJECT#")
        if i.get("status", "active") == "active"
    ]
