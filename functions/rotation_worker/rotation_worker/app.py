"""The rotation schedule (EventBridge Scheduler, every few minutes) → one run of what is due:
old credentials retired, due secrets rotated under their leases (strongroom.domain.rotation)."""

from __future__ import annotations

from typing import Any

from strongroom.domain import rotation
from strongroom.observability import log_metrics, logger


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = rotation.run_due()
    logger.info("rotation run", extra=result)
    return result
