"""The sync pipeline's two workers (docs/design.md, "Integrations"):

- the fan-in (`SyncFanInFunction`, the table's stream of outbox items): an audit event that
  changed an environment's values (`secret.*`, `secrets.*`, `environment.*` but reads, exports
  and the deletion; `change_request.applied`) makes one message per integration of that
  environment and of the environments that inherit from it; `integration.created` and
  `integration.sync_requested` one forced message for their integration. Ten messages a
  SendMessageBatch on SyncQueue.
- the sync (`SyncWorkerFunction`, SyncQueue, partial batch failures): one integration per
  message. It takes the integration's lease (one sync of an integration at a time, so that pushes
  never interleave), reads the environment's current values as the runtime API gives them (the
  snapshot, decrypted, inheritance and references resolved), pushes them (domain/
  integration_targets.py) and records the outcome: `synced` with the revision, conditional on the
  lease and on no newer revision recorded (an older revision never overwrites a newer one), with
  its `integration.synced` audit event; or `failing` with the error, the message back on the
  queue after the retry schedule's delay, and after the last one, the dead-letter queue.

Ordering: every sync reads the state current when it holds the lease, so a message about an old
revision pushes the newest one, and a message whose state was already pushed (same revisions of
every environment read) changes nothing unless forced. Nothing is lost by a dead-lettered
message: the next change, or `POST …/sync`, pushes the latest state.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from strongroom import aws, clock
from strongroom.config import settings
from strongroom.context import SYSTEM, Principal, current
from strongroom.data import chain, db
from strongroom.data import integrations as data
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data.integrations import IntegrationRecord
from strongroom.domain import audit, integration_targets, integrations, paths, runtime
from strongroom.domain.delivery import outcome
from strongroom.domain.integration_targets import DestinationError, Pushed
from strongroom.errors import AppError, Conflict
from strongroom.observability import logger, metrics
from strongroom.security.access import SERVICE_TOKEN_ROLE, EnvironmentAccess

LEASE = timedelta(minutes=5)  # longer than the worker's timeout
BUSY_DELAY = 5  # seconds: another sync of the integration holds its lease
FORCING = frozenset({"integration.created", "integration.sync_requested"})
NOT_CHANGES = frozenset({"secret.read", "secrets.read", "secrets.exported", "environment.deleted"})
# Changes of an environment's values whose action is not a secret's (governance's apply of a held change).
CHANGES_TOO = frozenset({"change_request.applied"})
MAX_ERROR = 500


# --------------------------------------------------------------------------- fan-in


# A change of the org's shared secrets may change any environment that references one
# (`${shared.KEY}`): every integration of the org is asked to sync, and one whose environment
# references none finds its tag unchanged (one read, nothing pushed).
SHARED_CHANGES = frozenset({"shared_secret.created", "shared_secret.updated", "shared_secret.deleted"})


def changes_environment(action: str) -> bool:
    """Whether an audit event's action may change what an environment's values are."""
    if action in CHANGES_TOO:
        return True
    return action.split(".", 1)[0] in {"secret", "secrets", "environment"} and action not in NOT_CHANGES


@dataclass(frozen=True, slots=True)
class Message:
    org_id: str
    integration_id: str
    force: bool = False

    def body(self) -> str:
        return json.dumps({"org_id": self.org_id, "integration_id": self.integration_id, "force": self.force})


def _descendants(org_id: str, project_id: str, env_id: str) -> list[str]:
    """The environments that inherit from env_id (children, grandchildren…), one Query."""
    envs = project_data.environments(org_id, project_id)
    children: dict[str, list[str]] = {}
    for e in envs:
        if e.parent_id:
            children.setdefault(e.parent_id, []).append(e.id)
    out: list[str] = []
    todo = list(children.get(env_id, []))
    while todo and len(out) < len(envs):
        nxt = todo.pop()
        if nxt not in out:
            out.append(nxt)
            todo.extend(children.get(nxt, []))
    return out


@dataclass
class _Batch:
    """What a batch of audit events asks of the syncs."""

    forced: dict[str, Message] = field(default_factory=dict)  # integration -> its forced message
    touched: set[tuple[str, str, str]] = field(default_factory=set)  # (org, project, environment) changed
    shared: set[str] = field(default_factory=set)  # orgs whose shared secrets changed


def _read(events: list[dict[str, Any]]) -> _Batch:
    batch = _Batch()
    for event in events:
        org_id = str(event.get("scope_id", ""))
        action = str(event.get("action", ""))
        if not org_id.startswith("org_"):
            continue
        resource = event.get("resource") or {}
        if action in FORCING and resource.get("type") == "integration":
            batch.forced[str(resource["id"])] = Message(org_id, str(resource["id"]), force=True)
        elif action in SHARED_CHANGES:
            batch.shared.add(org_id)
        elif changes_environment(action) and event.get("environment_id") and event.get("project_id"):
            batch.touched.add((org_id, str(event["project_id"]), str(event["environment_id"])))
    return batch


def messages_of(events: list[dict[str, Any]]) -> list[Message]:
    """The sync messages a batch of audit events makes, one per integration (forced if any is)."""
    batch = _read(events)
    wanted = dict(batch.forced)
    for org_id in sorted(batch.shared):
        for integration_id in data.of_org(org_id):
            wanted.setdefault(integration_id, Message(org_id, integration_id))
    for org_id, project_id, env_id in sorted(batch.touched):
        for env in [env_id, *_descendants(org_id, project_id, env_id)]:
            for org, integration_id in data.of_environment(env):
                wanted.setdefault(integration_id, Message(org, integration_id))
    return list(wanted.values())


def fan_in(records: list[dict[str, Any]]) -> dict[str, int]:
    """Stream records (INSERTs of outbox audit events) → sync messages on SyncQueue."""
    events = []
    for r in records:
        image = r.get("dynamodb", {}).get("NewImage")
        if r.get("eventName") == "INSERT" and image:
            item = db.deserialize(image)
            if item.get("entity") == audit.ENTITY:
                events.append(item)
    found = messages_of(events)
    queue = settings().sync_queue_url
    for i in range(0, len(found), 10):
        chunk = found[i : i + 10]
        resp = aws.sqs().send_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": m.body()} for n, m in enumerate(chunk)]
        )
        if resp.get("Failed"):  # the stream's batch is retried (a message twice is one sync)
            raise RuntimeError(f"{len(resp['Failed'])} sync messages were not queued")
    metrics.add_metric(name="IntegrationSyncsQueued", unit="Count", value=len(found))
    return {"events": len(events), "messages": len(found)}


# --------------------------------------------------------------------------- the sync


class RetryLater(Exception):
    """The sync did not complete; the message comes back after `delay` seconds."""

    def __init__(self, integration_id: str, delay: int) -> None:
        super().__init__(integration_id)
        self.delay = delay


@dataclass(frozen=True, slots=True)
class State:
    values: dict[str, str]
    revision: int  # the environment's own snapshot revision
    tag: str  # every snapshot read and its revision (the runtime ETag)


def read_environment(rec: IntegrationRecord) -> State:
    """The environment's values as a read token of it pulls them (runtime.pull's path, without its
    audit event: the sync's own event says what was read and where it went)."""
    from strongroom.domain.resolve import Resolver, etag  # noqa: PLC0415

    org = org_data.get(rec.org_id)
    project = project_data.get(rec.org_id, rec.project_id)
    env = project_data.environment(rec.org_id, rec.project_id, rec.environment_id)
    if org is None or project is None or env is None:
        raise DestinationError("the environment no longer exists", retryable=False)
    reader = Principal(
        type="service_token",
        id=rec.id,
        via="integration",
        org_ids=frozenset({rec.org_id}),
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        permissions=frozenset({"secrets.read"}),
    )
    access = EnvironmentAccess(principal=reader, org=org, role=SERVICE_TOKEN_ROLE, project=project, environment=env)
    resolver = Resolver(access)
    # what a runtime pull of the root gives: its keys (a folder's keys are not pushed), resolved
    values, _names = runtime.folder_values(resolver, env, paths.ROOT, recursive=False)
    return State(values, resolver.revisions.get(env.id, 0), etag(resolver.revisions, env.id))


def push(rec: IntegrationRecord, state: State) -> Pushed:
    config = rec.config
    if rec.type == "github_actions":
        token = integrations.unseal_token(rec)
        return integration_targets.push_github(config, token, state.values, rec.written)
    if rec.type == "aws_secrets_manager":
        return integration_targets.push_secrets_manager(rec.id, config, state.values, rec.written, state.tag)
    if rec.type == "aws_ssm_parameter_store":
        return integration_targets.push_ssm(rec.id, config, state.values, rec.written, state.tag)
    raise DestinationError(f"unknown integration type {rec.type}", retryable=False)


def _record_success(rec: IntegrationRecord, lease: str, state: State, pushed: Pushed) -> None:
    note = f"skipped keys the destination cannot name: {', '.join(pushed.skipped[:20])}" if pushed.skipped else None
    op = data.record_synced(
        rec,
        lease,
        (state.revision, state.tag),
        pushed.written,
        clock.now_iso(),
        note=note,
        on_fail=Conflict("the sync's lease was lost"),
    )
    chain.transact(
        [op],
        audit=integrations.event(
            "integration.synced",
            rec,
            revision=state.revision,
            keys=len(state.values),
            removed=len(set(rec.written) - set(pushed.written)),
            skipped=len(pushed.skipped),
        ),
    )


def _record_failure(rec: IntegrationRecord, lease: str, exc: DestinationError) -> None:
    now = clock.now_iso()
    error = exc.message[:MAX_ERROR]
    written = exc.written if exc.written is not None else list(rec.written)
    if rec.status == "failing":
        data.fail_plain(rec, lease, error, now, written)
        return
    chain.transact(
        [data.record_failure(rec, lease, error, now, written)],
        audit=integrations.event("integration.sync_failed", rec, error=error),
    )


def schedule() -> list[int]:
    return [int(s) for s in settings().sync_retry_schedule.split(",") if s.strip()]


def _attempt(rec: IntegrationRecord, lease: str, *, force: bool) -> tuple[State, Pushed] | None:
    """Read and push, under the lease: None when the state read was pushed already (not forced);
    every failure a DestinationError whose message is safe to keep."""
    try:
        state = read_environment(rec)
        if not force and rec.status == "synced" and rec.last_synced_tag == state.tag:
            return None
        return state, push(rec, state)
    except AppError as exc:  # KMS or the table unavailable, an integrity failure: ours, retried
        raise DestinationError(f"strongroom: {exc.code}") from None
    except DestinationError:
        raise
    except Exception as exc:  # noqa: BLE001 - never a value in what is kept: its type only
        raise DestinationError(f"strongroom: {type(exc).__name__}") from None


def _failed(rec: IntegrationRecord, lease: str, exc: DestinationError, receive_count: int) -> str:
    """The failure recorded; RetryLater (after the schedule's delay) unless it cannot succeed."""
    if not _recorded(lambda: _record_failure(rec, lease, exc), rec):
        return "superseded"
    logger.info("integration sync failed", extra={"integration_id": rec.id, "attempt": receive_count})
    if not exc.retryable:
        return "failed"
    result = outcome(None, receive_count, schedule(), jitter=random.uniform(0.8, 1.2))  # noqa: S311
    # Failed for good: back at once, so that the next receive passes maxReceiveCount and SQS moves
    # it to the dead-letter queue; else back after the backoff.
    raise RetryLater(rec.id, 0 if result.state == "failed" else int(result.next_delay or 1))


def sync(message: dict[str, Any], receive_count: int) -> str:
    """One message: the integration brought to its environment's current state, or RetryLater."""
    current().principal = SYSTEM
    rec = data.get(str(message["org_id"]), str(message["integration_id"]))
    if rec is None:
        return "gone"
    lease = secrets.token_hex(16)
    now = clock.now()
    if not data.take_lease(rec, lease, clock.iso(now), clock.iso(now + LEASE)):
        raise RetryLater(rec.id, BUSY_DELAY)
    rec = data.get(rec.org_id, rec.id) or rec
    try:
        done = _attempt(rec, lease, force=bool(message.get("force")))
    except DestinationError as exc:
        return _failed(rec, lease, exc, receive_count)
    if done is None:
        data.release_lease(rec, lease)
        return "unchanged"
    state, pushed = done
    if not _recorded(lambda: _record_success(rec, lease, state, pushed), rec):
        return "superseded"
    metrics.add_metric(name="IntegrationSynced", unit="Count", value=1)
    return "synced"


def _recorded(write: Callable[[], None], rec: IntegrationRecord) -> bool:
    """The outcome written; False when the integration was deleted or its lease taken over
    meanwhile (the sync that holds it now records its own)."""
    try:
        write()
    except db.Contended:
        raise  # a concurrent transaction on the item: the message comes back, the sync runs again
    except Conflict:
        logger.info("integration sync superseded", extra={"integration_id": rec.id})
        return False
    return True


def backoff(queue_url: str, receipt_handle: str, delay: int) -> None:
    aws.sqs().change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay)


def queue_url_of(arn: str) -> str:
    configured = settings().sync_queue_url
    if configured:
        return configured
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
