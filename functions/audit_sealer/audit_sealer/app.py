"""DynamoDB stream (INSERTs of audit events, by the event source's filter) → each named org's
events sealed into its Merkle tree, in order, and its new head signed (domain/sealer.py)."""

from __future__ import annotations

from typing import Any

from strongroom.domain import sealer
from strongroom.observability import log_metrics, logger


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    scopes, hinted = sealer.scopes_of(list(event.get("Records", [])))
    sealed = sealer.seal(scopes, hinted)
    result = {"scopes": len(sealed), "sealed": sum(sealed.values())}
    logger.info("sealed", extra=result)
    return result
