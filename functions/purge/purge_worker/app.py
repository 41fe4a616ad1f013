"""DynamoDB stream (purge job items only, by the event source's filter) → one purge step per job:
what a deletion left behind, removed after its audited tombstone (strongroom.domain.purge)."""

from __future__ import annotations

from typing import Any

from strongroom.domain import purge
from strongroom.observability import log_metrics, logger


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = purge.handle(list(event.get("Records", [])))
    logger.info("purged", extra=result)
    return result
