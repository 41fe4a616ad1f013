"""DynamoDB stream (outbox items only, by the event source's filter) → one sync message per
integration of each environment a change touched, and per forced sync → SyncQueue."""

from __future__ import annotations

from typing import Any

from strongroom.domain.integration_sync import fan_in
from strongroom.observability import log_metrics, logger


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = fan_in(list(event.get("Records", [])))
    logger.info("sync messages queued", extra=result)
    return result
