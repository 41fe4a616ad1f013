"""Dependency checks for GET /health: one cheap call to DynamoDB and one to KMS."""

from __future__ import annotations

from strongroom import aws
from strongroom.config import settings
from strongroom.data import db
from strongroom.models import Health
from strongroom.observability import logger

VERSION = "0.1.0"


def check() -> Health:
    cfg = settings()
    checks: dict[str, str] = {}
    try:
        db.describe_table()
        checks["dynamodb"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "fail"; the type is logged, not the text
        logger.warning("health check failed", extra={"dependency": "dynamodb", "error_type": type(exc).__name__})
        checks["dynamodb"] = "fail"
    try:
        meta = aws.kms().describe_key(KeyId=cfg.kms_key_id)["KeyMetadata"]
        checks["kms"] = "ok" if meta.get("Enabled") else "fail"
    except Exception as exc:  # noqa: BLE001
        logger.warning("health check failed", extra={"dependency": "kms", "error_type": type(exc).__name__})
        checks["kms"] = "fail"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return Health.model_validate({"status": status, "checks": checks, "version": VERSION})
