"""SQS → one signed webhook POST per message, with partial batch failures: a failed delivery
stays on the queue (after its backoff) until the redrive policy dead-letters it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from strongroom.domain.delivery import dispatch, message_of, queue_url_of
from strongroom.observability import log_metrics, logger

processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> str:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    return dispatch(
        message_of(record.body), receive_count, record.receipt_handle, queue_url_of(record.event_source_arn)
    )


@logger.inject_lambda_context(log_event=False, clear_state=True)
@log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
