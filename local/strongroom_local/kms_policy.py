"""KMS key policies and key states, enforced for moto's cryptographic operations.

moto 5.2 stores a key's policy but evaluates it only for DescribeKey, and only its Deny
statements, and it ignores a key's state: Encrypt, Decrypt, GenerateDataKey and ReEncrypt succeed
on a disabled key and whatever the policy says.
BYOK rests on exactly that evaluation in KMS: a customer's key policy lets Strongroom use the key
only under its organization's encryption context (`kms:EncryptionContext:org`), and Strongroom
enables a key only after KMS has answered a call naming another organization with
AccessDeniedException (docs/byok.md). So the local stack evaluates each stored key policy for the
cryptographic operations Strongroom makes, before moto performs them, and answers as KMS does:

- the operation's permission is `kms:<Operation>`; ReEncrypt needs `kms:ReEncryptFrom` on the
  key of the ciphertext and `kms:ReEncryptTo` on the destination key;
- a statement applies when its principal is this account (its root, any of its roles or users,
  or "*"), its action covers the permission (IAM wildcards), and each of its conditions holds;
- an applicable Deny refuses, else an applicable Allow is needed;
- conditions understood: `StringEquals`, `StringLike` (and their `IfExists` forms) on
  `kms:EncryptionContext:<key>` and `kms:CallerAccount`; a statement with any other condition or
  with `NotPrincipal`/`NotAction` never allows, and always denies (it cannot be shown not to).

A key that is not `Enabled` is refused as KMS refuses it: DisabledException when disabled,
KMSInvalidStateException in any other state (pending deletion, pending import…).

Every process here is one caller (this account), standing for the functions' roles; IAM itself
is not evaluated (the template's statements allow these calls on any key). A key whose policy
is not JSON keeps moto's behaviour (allowed); the policy moto writes by default lets the account
do anything, as KMS's default key policy does together with IAM. The refusal is moto's own
AccessDeniedException, so clients see exactly what KMS sends.
"""

from __future__ import annotations

import fnmatch
import json
import struct
import threading
from collections.abc import Iterator
from typing import Any

_installed = False
_install_lock = threading.Lock()

_UNDERSTOOD_OPERATORS = {"stringequals", "stringlike", "stringequalsifexists", "stringlikeifexists"}
_CONTEXT_PREFIX = "kms:encryptioncontext:"


def allows(policy: dict[str, Any], permission: str, context: dict[str, str], account: str) -> bool:
    """Whether `policy` lets `account` use the key for `permission` (e.g. "kms:Decrypt") under
    `context`."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        effect = str(statement.get("Effect", "")).lower()
        applies = _applies(statement, permission, context, account)
        if effect == "deny" and applies is not False:
            return False
        if effect == "allow" and applies is True:
            allowed = True
    return allowed


def _applies(statement: dict[str, Any], permission: str, context: dict[str, str], account: str) -> bool | None:
    """True or False when the statement does or does not apply; None when it cannot be told."""
    if "NotPrincipal" in statement or "NotAction" in statement:
        return None
    if not _principal_matches(statement.get("Principal"), account):
        return False
    if not _action_matches(statement.get("Action"), permission):
        return False
    return _conditions_hold(statement.get("Condition") or {}, context, account)


def _principal_matches(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    names = principal.get("AWS", [])
    for name in [names] if isinstance(names, str) else names:
        if not isinstance(name, str):
            continue
        parts = name.split(":")
        if name in {"*", account} or (len(parts) > 4 and parts[2] in {"iam", "sts"} and parts[4] == account):
            return True
    return False


def _action_matches(actions: Any, permission: str) -> bool:
    patterns = [actions] if isinstance(actions, str) else actions or []
    return any(isinstance(p, str) and fnmatch.fnmatchcase(permission.lower(), p.lower()) for p in patterns)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str], account: str) -> bool | None:
    for operator, tests in conditions.items():
        op = str(operator).lower()
        if op not in _UNDERSTOOD_OPERATORS or not isinstance(tests, dict):
            return None
        for name, wanted in tests.items():
            key = str(name).lower()
            if key.startswith(_CONTEXT_PREFIX):
                actual = _context_value(context, str(name)[len(_CONTEXT_PREFIX) :])
            elif key == "kms:calleraccount":
                actual = account
            else:
                return None
            if actual is None:
                if op.endswith("ifexists"):
                    continue
                return False
            if not _value_matches(op, actual, wanted):
                return False
    return True


def _value_matches(op: str, actual: str, wanted: Any) -> bool:
    """Whether `actual` is one of the condition's values (StringLike: matches one of its patterns)."""
    values = [wanted] if isinstance(wanted, str) else [str(v) for v in wanted]
    if op.startswith("stringlike"):
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    return actual in values


def _context_value(context: dict[str, str], key: str) -> str | None:
    """Encryption context keys in condition keys are not case-sensitive; their values are."""
    for k, v in context.items():
        if k.lower() == key.lower():
            return v
    return None


# --------------------------------------------------------------------------- moto


def _ciphertext_key(blob: Any) -> str | None:
    """The moto key ID a moto ciphertext names (its header; moto's own format)."""
    from moto.kms.utils import CIPHERTEXT_HEADER_FORMAT, HEADER_LEN  # noqa: PLC0415

    if not isinstance(blob, bytes) or len(blob) < HEADER_LEN:
        return None
    try:
        key_id: bytes = struct.unpack(CIPHERTEXT_HEADER_FORMAT, blob[:HEADER_LEN])[0]
        return key_id.decode("utf-8")
    except (struct.error, UnicodeDecodeError):
        return None


def _uses(response: Any, operation: str) -> Iterator[tuple[str | None, dict[str, str], str]]:
    """(key reference, encryption context, permission) of each key the request uses."""
    get = response._get_param  # moto's own parameter reader (decodes blobs)
    if operation == "encrypt":
        yield get("KeyId"), get("EncryptionContext", {}), "kms:Encrypt"
    elif operation == "generate_data_key":
        yield get("KeyId"), get("EncryptionContext", {}), "kms:GenerateDataKey"
    elif operation == "decrypt":
        yield get("KeyId") or _ciphertext_key(get("CiphertextBlob")), get("EncryptionContext", {}), "kms:Decrypt"
    elif operation == "re_encrypt":
        source = get("SourceKeyId") or _ciphertext_key(get("CiphertextBlob"))
        yield source, get("SourceEncryptionContext", {}), "kms:ReEncryptFrom"
        yield get("DestinationKeyId"), get("DestinationEncryptionContext", {}), "kms:ReEncryptTo"


def _check(response: Any, operation: str) -> None:
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415
    from moto.kms.exceptions import AccessDeniedException  # noqa: PLC0415

    backend = response.kms_backend
    for ref, context, permission in _uses(response, operation):
        if not ref:
            continue
        try:
            key = backend.keys[backend.any_id_to_key_id(ref)]
        except (KeyError, AttributeError, TypeError):
            continue  # moto answers NotFound itself
        if key.key_state == "Disabled":
            raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")
        try:
            policy = json.loads(key.policy)
        except (TypeError, ValueError):
            continue
        if isinstance(policy, dict) and not allows(policy, permission, context or {}, response.current_account):
            raise AccessDeniedException(
                f"User: arn:aws:iam::{response.current_account}:root is not authorized to perform: {permission} "
                f"on resource: {key.arn} because no resource-based policy allows the {permission} action"
            )


def enforce_kms_key_policies() -> None:
    """Check key states and evaluate key policies before moto's KMS Encrypt, Decrypt, GenerateDataKey and ReEncrypt
    (idempotent; one patch per process)."""
    global _installed  # noqa: PLW0603 - one patch per process
    with _install_lock:
        if _installed:
            return
        from moto.kms.responses import KmsResponse  # noqa: PLC0415 - moto loads lazily

        for operation in ("encrypt", "decrypt", "generate_data_key", "re_encrypt"):
            original = getattr(KmsResponse, operation)

            def guarded(self: Any, _original: Any = original, _operation: str = operation) -> Any:
                _check(self, _operation)
                return _original(self)

            guarded.__wrapped__ = original  # type: ignore[attr-defined]
            setattr(KmsResponse, operation, guarded)
        _installed = True
