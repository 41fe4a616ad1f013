"""The local stand-ins for the template's event source mappings, as workers:

- `outbox-stream`: reads the table's stream on moto (from its start), keeps the records the
  EventFanoutFunction's FilterCriteria keep (INSERTs with `outbox = 1`), and invokes the
  function with them in batches of 100; a batch whose invocation fails is read again.
- `purge-stream`: the same for PurgeFunction, with its filter (INSERTs and MODIFYs of
  `entity = purge_job` items), in batches of 10: each step of a purge updates its job item,
  whose MODIFY record runs the next step.
- `audit-sealer`: the same for AuditSealerFunction, with its filter (INSERTs of
  `entity = audit_event` items), in batches of 500: it seals each named org's events into its
  Merkle tree and signs the new head.
- `webhook-queue`: polls WebhookQueue and invokes WebhookDispatcherFunction with up to 10
  messages as an SQS event; messages not in `batchItemFailures` are deleted, the others come back
  when their visibility timeout (the dispatcher's backoff) ends, and moto's redrive policy
  moves them to the dead-letter queue after maxReceiveCount receives, as SQS does.
- `rotation-schedule`: the stand-in for RotationWorkerFunction's EventBridge Scheduler schedule
  (moto's Scheduler never fires): invokes the function every STRONGROOM_ROTATION_SECONDS seconds
  (default 10) with a scheduled event, so that a due rotation happens locally without a request.
- `sync-stream` and `sync-queue` (integrations, #17): the outbox stream → SyncFanInFunction (the
  EventFanoutFunction's filter), and SyncQueue → SyncWorkerFunction (one message a batch, as the
  template says), as the webhook pipeline's two.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from strongroom_local.workers import WorkerContext, register_worker

POLL_SECONDS = 0.2
REGION = "us-east-1"


def _keep(record: dict[str, Any]) -> bool:
    image = record.get("dynamodb", {}).get("NewImage", {})
    return record.get("eventName") == "INSERT" and image.get("outbox", {}).get("N") == "1"


def _purge_job(record: dict[str, Any]) -> bool:
    image = record.get("dynamodb", {}).get("NewImage", {})
    return record.get("eventName") in {"INSERT", "MODIFY"} and image.get("entity", {}).get("S") == "purge_job"


def _stream(ctx: WorkerContext, name: str, keep: Callable[[dict[str, Any]], bool], function: str, batch: int) -> None:
    """Reads moto's stream shard of the table (moto's DynamoDB Streams API answers 404 "Not yet
    implemented" to this botocore), under the DynamoDB request lock so that only committed
    records are seen, from its first record; invokes `function` with the records `keep` keeps."""
    from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    from strongroom_local import atomic  # noqa: PLC0415

    if not ctx.resources.tables:
        return
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(ctx.resources.tables[0])
    if table.stream_shard is None:
        return
    position = {"next": 0}

    def step() -> None:
        with atomic.LOCK:
            shard = table.stream_shard
            fresh = [r.record for r in shard.items[position["next"] :]] if shard else []
        records = [json.loads(json.dumps(r, default=str)) for r in fresh if keep(r)]
        for i in range(0, len(records), batch):
            ctx.invoke(function, {"Records": records[i : i + batch]})
        position["next"] += len(fresh)  # only once the batch was handled

    ctx.every(POLL_SECONDS, step, name=name)


@register_worker("outbox-stream")
def outbox_stream(ctx: WorkerContext) -> None:
    _stream(ctx, "outbox-stream", _keep, "EventFanoutFunction", 100)


def _audit_event(record: dict[str, Any]) -> bool:
    image = record.get("dynamodb", {}).get("NewImage", {})
    return record.get("eventName") == "INSERT" and image.get("entity", {}).get("S") == "audit_event"


@register_worker("audit-sealer")
def audit_sealer(ctx: WorkerContext) -> None:
    _stream(ctx, "audit-sealer", _audit_event, "AuditSealerFunction", 500)


@register_worker("purge-stream")
def purge_stream(ctx: WorkerContext) -> None:
    _stream(ctx, "purge-stream", _purge_job, "PurgeFunction", 10)


def _queue(ctx: WorkerContext, name: str, queue: str, function: str, batch: int) -> None:
    """Polls `queue` and invokes `function` with up to `batch` messages as an SQS event; messages
    not in its `batchItemFailures` are deleted."""
    import boto3  # noqa: PLC0415

    url = ctx.resources.queues.get(queue)
    if not url:
        return
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def step() -> None:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=batch, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }
        try:
            result = ctx.invoke(function, event) or {}
        except Exception as exc:
            if type(exc).__name__ == "BatchProcessingError":  # every record failed: all stay queued
                return
            raise
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    ctx.every(POLL_SECONDS, step, name=name)


@register_worker("webhook-queue")
def webhook_queue(ctx: WorkerContext) -> None:
    _queue(ctx, "webhook-queue", "WebhookQueue", "WebhookDispatcherFunction", 10)


@register_worker("sync-stream")
def sync_stream(ctx: WorkerContext) -> None:
    _stream(ctx, "sync-stream", _keep, "SyncFanInFunction", 100)


@register_worker("sync-queue")
def sync_queue(ctx: WorkerContext) -> None:
    _queue(ctx, "sync-queue", "SyncQueue", "SyncWorkerFunction", 1)


ROTATION_SECONDS = "STRONGROOM_ROTATION_SECONDS"


@register_worker("rotation-schedule")
def rotation_schedule(ctx: WorkerContext) -> None:
    seconds = float(os.environ.get(ROTATION_SECONDS) or "10")
    event = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
    ctx.every(seconds, lambda: ctx.invoke("RotationWorkerFunction", event), name="rotation-schedule")
