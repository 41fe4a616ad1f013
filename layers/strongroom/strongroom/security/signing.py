"""Signed tree heads of the audit log: ECDSA P-256 / SHA-256 by the KMS asymmetric key
`AuditSigningKey` (template.yaml). Only the sealer may `kms:Sign` with it; the audit function may
`kms:GetPublicKey`, and checks signatures itself with `cryptography`, as any client can with
`GET …/audit/public-key`.

The signed message is the RFC 8785 (JCS) serialization of `{org_id, tree_size, root_hash,
timestamp}`; the signature is base64 DER, `key_id` names the KMS key (its ARN).
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from strongroom import clock
from strongroom.config import settings
from strongroom.errors import Unavailable
from strongroom.security.crypto import kms_call

SIGNED_FIELDS = ("org_id", "tree_size", "root_hash", "timestamp")
_public: dict[str, tuple[str, str]] = {}  # key id -> (key ARN, PEM): public keys do not change
_lock = threading.Lock()


def _key_id() -> str:
    key = settings().audit_signing_key_id
    if not key:
        raise Unavailable("the audit signing key is not configured")
    return key


def message(head: dict[str, Any]) -> bytes:
    import rfc8785  # noqa: PLC0415

    return rfc8785.dumps({k: head[k] for k in SIGNED_FIELDS})


def sign_head(scope_id: str, tree_size: int, root_hash: str) -> dict[str, Any]:
    """A signed tree head of `scope_id`'s tree at `tree_size` (KMS Sign; 503 when KMS fails)."""
    head: dict[str, Any] = {
        "org_id": scope_id,
        "tree_size": tree_size,
        "root_hash": root_hash,
        "timestamp": clock.now_iso(),
    }
    resp = kms_call("sign", KeyId=_key_id(), Message=message(head), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    return {**head, "signature": base64.b64encode(resp["Signature"]).decode(), "key_id": str(resp["KeyId"])}


def public_key() -> tuple[str, str]:
    """(key ARN, PEM) of the signing key (KMS GetPublicKey, once per function instance)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key_id = _key_id()
    with _lock:
        if key_id in _public:
            return _public[key_id]
    resp = kms_call("get_public_key", KeyId=key_id)
    loaded = serialization.load_der_public_key(resp["PublicKey"])
    pem = loaded.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with _lock:
        _public[key_id] = (str(resp["KeyId"]), pem)
    return _public[key_id]


def verify_head(head: dict[str, Any]) -> bool:
    """Whether `head`'s signature is the signing key's over its fields (checked locally)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    _, pem = public_key()
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(base64.b64decode(str(head.get("signature", ""))), message(head), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True
