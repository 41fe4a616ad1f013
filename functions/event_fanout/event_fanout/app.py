"""DynamoDB stream (outbox items only, by the event source's filter) → webhook deliveries → SQS."""

from __future__ import annotations

from typing import Any

from strongroom.domain.delivery import fan_out
from strongroom.observability import log_metrics, logger


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = fan_out(list(event.get("Records", [])))
    logger.info("fanned out", extra=result)
    return result
