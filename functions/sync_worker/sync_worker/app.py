"""SyncQueue → one integration brought to its environment's current state per message, with
partial batch failures: a failed sync's message comes back after its backoff until the redrive
policy dead-letters it."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from strongroom.domain.integration_sync import RetryLater, backoff, queue_url_of, sync
from strongroom.observability import log_metrics, logger

processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> str:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        return sync(json.loads(record.body), receive_count)
    except RetryLater as later:
        backoff(queue_url_of(record.event_source_arn), record.receipt_handle, later.delay)
        raise


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
