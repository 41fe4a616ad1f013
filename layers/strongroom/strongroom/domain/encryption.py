"""Bring your own KMS key (BYOK), per org. Owner only (`encryption.manage`).

Every environment's data key is wrapped by a KMS key: the service's, or, once an owner enables
BYOK, the org's own (in their account, granting our role Encrypt/Decrypt/ReEncrypt/GenerateDataKey
/DescribeKey). Enabling re-wraps every data key of the org with KMS ReEncrypt (the plaintext key
never leaves KMS), under the same encryption context (org, project, environment); disabling
re-wraps back. Both are resumable: the org records the target key and `migrating` in one audited
transaction, new data keys use the target at once, and the re-wrap walks environments, skipping
what is already under the target; calling again finishes an interrupted run. Revoking our grant
on the customer key makes every read fail closed (503), which is the point.

`POST …/encryption/rotate` gives every environment of the org a new data key version (each its
own audited change, as `POST E/rotate-key` does), resumable in the same way.
"""

from __future__ import annotations

from typing import Any

from strongroom import audit, aws, clock, crypto, db, keys
from strongroom.access import EnvironmentAccess, OrgAccess, org_access
from strongroom.config import settings
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


def _kms(operation: str, **params: Any) -> dict[str, Any]:
    """A KMS call on a customer key: 422 naming the operation when the key is unusable, 503 when
    KMS itself fails."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return getattr(aws.kms(), operation)(**params)  # type: ignore[no-any-return]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        logger.warning("customer key call failed", extra={"operation": operation, "error_code": code})
        if code in _UNUSABLE:
            raise Unprocessable(
                "the key cannot be used by Strongroom",
                code="key_unusable",
                details={"operation": operation, "error": code},
            ) from None
        raise Unavailable("the key service is unavailable; nothing was changed") from exc
    except BotoCoreError as exc:
        raise Unavailable("the key service is unavailable; nothing was changed") from exc


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


def test_key(org_ref: str, key_arn: str) -> KmsTest:
    """DescribeKey, then a data key generated and decrypted under the org's encryption context."""
    access = _access(org_ref)
    return _probe(access, key_arn)


def _probe(access: OrgAccess, key_arn: str) -> KmsTest:
    meta = _kms("describe_key", KeyId=key_arn)["KeyMetadata"]
    problems = []
    if meta.get("KeyState") != "Enabled":
        problems.append(f"key state is {meta.get('KeyState')}")
    # KMS always answers KeyUsage and KeySpec; where they are absent, the round trip below decides.
    if meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        problems.append(f"key usage is {meta.get('KeyUsage')}")
    if meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT")) != "SYMMETRIC_DEFAULT":
        problems.append("the key is not a symmetric encryption key")
    if problems:
        raise Unprocessable("the key cannot be used by Strongroom", code="key_unusable", details={"problems": problems})
    context = {"org": access.org.id, "purpose": TEST_CONTEXT_PURPOSE}
    generated = _kms("generate_data_key", KeyId=key_arn, KeySpec="AES_256", EncryptionContext=context)
    back = _kms("decrypt", CiphertextBlob=generated["CiphertextBlob"], KeyId=key_arn, EncryptionContext=context)
    if back["Plaintext"] != generated["Plaintext"]:
        raise Unprocessable("the key did not decrypt what it encrypted", code="key_unusable")
    return KmsTest(
        ok=True,
        kms_key_arn=str(meta.get("Arn", key_arn)),
        key_state=str(meta.get("KeyState")),
        key_manager=str(meta.get("KeyManager", "")),
        checks=["describe_key", "generate_data_key", "decrypt"],
    )


# --------------------------------------------------------------------------- enable / disable


def enable(org_ref: str, key_arn: str) -> OrgEncryption:
    access = _access(org_ref)
    arn = _probe(access, key_arn).kms_key_arn
    return _migrate(access, arn, "org.kms_enabled")


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
                )
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
