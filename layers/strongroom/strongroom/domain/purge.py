"""Purges: what a deletion leaves behind, removed by a worker after the audited tombstone.

Deleting an org, a project, an environment or a webhook is one transaction: the tombstone (or the
item's removal), the audit event and a purge job item (`PURGE#<id>`, `job_op`, data/purge.py). The resource is
gone for every reader at once, and what lies under it is unreachable from then on (a service token
of a deleted scope no longer authenticates and is not listed, tokens.py); the purge worker, fed by
the table's stream with the job's INSERT and MODIFY records, removes it.

A purge is a fixed sequence of named sources, each the keys of one kind of leftover (an
environment's data keys, its partition, the org's service tokens, …), read afresh each time. A
step deletes at most STEP_ITEMS keys in that order, then records on the job the first source not
yet exhausted (`phase`), which makes the MODIFY record that runs the next step; the step that
exhausts the last source deletes the job. A step cut short (a crash, a timeout) is finished by the
stream's retry of the same record, and a step run again after the end finds no job: a no-op.
These deletions are the follow-up of the audited change, not changes of their own (no event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strongroom.context import SYSTEM, RequestContext, set_current
from strongroom.data import counters as counter_data
from strongroom.data import db, keys
from strongroom.data import orgs as org_data
from strongroom.data import purge as data
from strongroom.data.purge import ENTITY, Kind, PurgeJob, job_op
from strongroom.domain import shared_scope
from strongroom.observability import logger, metrics

STEP_ITEMS = 1000  # keys one step deletes at most (40 BatchWriteItem calls)

DELIVERY_CHUNK = 60  # deliveries a transaction deletes, with their counters (at most 31 days' buckets)
RELEASE_ATTEMPTS = 3  # a snapshot moving under the purge (a change that passed before the deletion)
Keys = list[dict[str, str]]
# A source: up to n keys of what is left, and whether nothing is left after them.
Source = Callable[[int], tuple[Keys, bool]]
__all__ = ["ENTITY", "Kind", "PurgeJob", "handle", "job_op", "run", "step"]


# --------------------------------------------------------------------------- sources


def _key(item: dict[str, Any]) -> dict[str, str]:
    return {keys.PK: item[keys.PK], keys.SK: item[keys.SK]}


def _query(partition: str, prefix: str | None = None, *, keep: dict[str, str] | None = None) -> Source:
    """The items of a partition (or of a sort-key prefix), except `keep`."""

    def read(n: int) -> tuple[Keys, bool]:
        page = db.query(partition, prefix=prefix, limit=n, attributes=(keys.SK,))
        found = [_key(i) for i in page.items if keep is None or _key(i) != keep]
        return found, page.next_cursor is None

    return read


def _item(key: dict[str, str]) -> Source:
    """One item (a tombstone), if it is still there."""

    def read(_n: int) -> tuple[Keys, bool]:
        return ([key] if db.get(key) is not None else []), True

    return read


def _scan_index(partition: str, wanted: Callable[[dict[str, Any]], bool]) -> Source:
    """The items of a GSI1 partition that `wanted` picks."""

    def read(n: int) -> tuple[Keys, bool]:
        found: Keys = []
        for item in db.query_all(partition, index=keys.GSI1):
            if wanted(item):
                found.append(_key(item))
                if len(found) == n:
                    return found, False
        return found, True

    return read


def _service_tokens(org_id: str, *, project_id: str | None = None, env_id: str | None = None) -> Source:
    return _scan_index(
        keys.org_tokens_partition(org_id),
        lambda i: (
            (project_id is None or i.get("project_id") == project_id)
            and (env_id is None or i.get("environment_id") == env_id)
        ),
    )


def _identities(org_id: str, *, project_id: str | None = None, env_id: str | None = None) -> Source:
    return _scan_index(
        keys.org_identities_partition(org_id),
        lambda i: (
            (project_id is None or i.get("project_id") == project_id)
            and (env_id is None or i.get("environment_id") == env_id)
        ),
    )


def _scim_tokens(org_id: str) -> Source:
    return _scan_index(keys.org_scim_tokens_partition(org_id), lambda _i: True)


def _narrowed_pats(org_id: str) -> Source:
    """Personal access tokens of the org's members that are narrowed to orgs none of which is
    active any more (this one among them): they can do nothing now."""

    def read(n: int) -> tuple[Keys, bool]:
        found: Keys = []
        for member in db.query_all(keys.org_partition(org_id), prefix=keys.MEMBER_PREFIX):
            for pat in db.query_all(keys.personal_tokens_partition(str(member["user_id"])), index=keys.GSI1):
                narrowed = pat.get("org_ids") or []
                if org_id in narrowed and all(org_data.get(o) is None for o in narrowed):
                    found.append(_key(pat))
                    if len(found) == n:
                        return found, False
        return found, True

    return read


def _invitations(org_id: str) -> Source:
    """Invitations with their token pointers (the pointer first: nothing accepts it after)."""

    def read(n: int) -> tuple[Keys, bool]:
        page = db.query(
            keys.org_partition(org_id), prefix=keys.INVITE_PREFIX, limit=max(n // 2, 1), attributes=("token_hash",)
        )
        found: Keys = []
        for item in page.items:
            found += [keys.invitation_token(str(item["token_hash"])), _key(item)]
        return found, page.next_cursor is None

    return read


def _snapshot(env_id: str) -> Source:
    """The environment's snapshot: its SNAPSHOT item first, deleted together with the subtraction
    of its live secrets from the platform's count (one transaction: a step run again finds it
    gone and subtracts nothing), then its parts."""
    head_key = keys.env_snapshot(env_id)
    parts = _query(keys.environment_partition(env_id), keys.SNAPSHOT_PREFIX, keep=head_key)

    def read(n: int) -> tuple[Keys, bool]:
        for _ in range(RELEASE_ATTEMPTS):
            head = db.get(head_key, attributes=["revision", "count"])
            if head is None:
                break
            counter_data.release_snapshot(head_key, int(head.get("revision", 0)), int(head.get("count", 0)))
        else:  # still moving under the purge: the stream's retry of this step tries again
            raise db.Contended("the snapshot kept changing under its purge")
        return parts(n)

    return read


class _Deliveries:
    """A webhook's deliveries, each deleted together with its subtraction from the platform's
    deliveries by status (a transaction of up to DELIVERY_CHUNK deletes, each conditional on the
    status read, and their counters): the source removes what it returns (`removes`)."""

    removes = True

    def __init__(self, webhook_id: str) -> None:
        self.partition = keys.deliveries_partition(webhook_id)

    def __call__(self, n: int) -> tuple[Keys, bool]:
        page = db.query(self.partition, limit=min(n, DELIVERY_CHUNK), attributes=("status", "created_at"))
        if page.items:
            counter_data.release_deliveries(page.items)
        return [_key(i) for i in page.items], page.next_cursor is None


def _environments(env_ids: list[str]) -> list[tuple[str, Source]]:
    """Wrapped data keys and snapshots of every environment first (once they are gone nothing of
    them can be decrypted, whatever an interrupted purge leaves), then the rest of each partition."""
    partitions = [(env_id, keys.environment_partition(env_id)) for env_id in env_ids]
    out: list[tuple[str, Source]] = []
    for env_id, partition in partitions:
        out += [
            (f"datakeys:{env_id}", _query(partition, keys.DATA_KEY_PREFIX)),
            (f"snapshot:{env_id}", _snapshot(env_id)),
        ]
    # their integrations (in the org's partition, found by the environment's index): no sync after
    out += [
        (f"integrations:{env_id}", _scan_index(keys.environment_integrations_partition(env_id), lambda _i: True))
        for env_id, _partition in partitions
    ]
    out += [(f"partition:{env_id}", _query(partition)) for env_id, partition in partitions]
    return out


def _kms_claim(org_id: str) -> Source:
    """The org's claim on the customer key its (tombstoned) item names, if the claim is the org's
    (another org's claim on the same ARN is never removed)."""

    def read(_n: int) -> tuple[Keys, bool]:
        org = db.get(keys.org(org_id))
        arn = str(org.get("kms_key_arn") or "") if org else ""
        if arn and org_data.kms_key_holder(arn) == org_id:
            return [keys.kms_key_claim(arn)], True
        return [], True

    return read


def _env_ids(org_id: str, project_id: str | None = None) -> list[str]:
    """The environments of an org (or of one project), from their items in the org partition,
    which the purge deletes only after their partitions; an org's also its shared secrets' store."""
    prefix = keys.environment_prefix(project_id) if project_id else "ENV#"
    found = [
        str(i["id"])
        for i in db.query_all(keys.org_partition(org_id), prefix=prefix)
        if i.get("entity") == "environment"
    ]
    return found if project_id else [*found, shared_scope.shared_id(org_id)]


def _sources(job: PurgeJob) -> list[tuple[str, Source]]:
    """What a purge removes, in order; the names are stable while it runs."""
    org_partition = keys.org_partition(job.org_id)
    if job.kind == "webhook":
        return [("deliveries", _Deliveries(job.target_id))]
    if job.kind == "environment":
        return [
            ("tokens", _service_tokens(job.org_id, env_id=job.target_id)),
            ("identities", _identities(job.org_id, env_id=job.target_id)),
            *_environments([job.target_id]),
        ]
    if job.kind == "project":
        project = job.target_id
        return [
            ("tokens", _service_tokens(job.org_id, project_id=project)),
            ("identities", _identities(job.org_id, project_id=project)),
            *_environments(_env_ids(job.org_id, project)),
            ("environments", _query(org_partition, keys.environment_prefix(project))),
            ("environment_slugs", _query(org_partition, keys.environment_slug_prefix(project))),
            ("template", _query(org_partition, keys.template_prefix(project))),
            ("project", _item(keys.project(job.org_id, project))),
        ]
    webhooks = [
        str(i["id"]) for i in db.query_all(org_partition, prefix=keys.WEBHOOK_PREFIX) if i.get("entity") == "webhook"
    ]
    tombstone = keys.org(job.org_id)
    return [
        ("tokens", _service_tokens(job.org_id)),
        ("identities", _identities(job.org_id)),
        ("scim_tokens", _scim_tokens(job.org_id)),
        ("agents", _scan_index(keys.org_agents_partition(job.org_id), lambda _i: True)),
        ("discovered", _query(keys.discovered_partition(job.org_id))),
        ("pats", _narrowed_pats(job.org_id)),
        *_environments(_env_ids(job.org_id)),
        *((f"deliveries:{w}", _Deliveries(w)) for w in webhooks),
        ("invitations", _invitations(job.org_id)),
        # once nothing encrypted under its customer key is left, and while the tombstone (which
        # names the key) still stands: the key may serve another org from then on
        ("kms_claim", _kms_claim(job.org_id)),
        ("org_partition", _query(org_partition, keep=tombstone)),  # members, projects, envs, webhooks…
        ("tombstone", _item(tombstone)),
    ]


# --------------------------------------------------------------------------- steps


def step(job: PurgeJob, *, budget: int = STEP_ITEMS) -> str | None:
    """Delete up to `budget` keys, from the job's phase on: the phase to go on from, or None
    when nothing is left."""
    plan = _sources(job)
    names = [name for name, _ in plan]
    start = names.index(job.phase) if job.phase in names else 0  # unknown: from the start (idempotent)
    for name, source in plan[start:]:
        exhausted = False
        while not exhausted and budget > 0:
            found, exhausted = source(budget)
            if not getattr(source, "removes", False):
                db.delete_many(found)
            budget -= len(found)
            exhausted = exhausted or not found
        if not exhausted:
            return name
    return None


def run(target_id: str) -> bool:
    """One step of the pending purge of `target_id`: True when the purge is finished (or there
    was none), False when a next step is due (the job's update triggers it)."""
    job = data.get(target_id)
    if job is None:
        return True  # finished already: a replayed record
    phase = step(job)
    if phase is None:
        data.finish(target_id)
        logger.info("purge finished", extra={"kind": job.kind, "target_id": target_id, "rounds": job.rounds + 1})
        metrics.add_metric(name="PurgesFinished", unit="Count", value=1)
        return True
    data.advance(target_id, phase)
    return False


def handle(records: list[dict[str, Any]]) -> dict[str, int]:
    """Stream records of purge jobs (INSERT, and MODIFY after each step) → one step each."""
    set_current(RequestContext(request_id="", principal=SYSTEM))  # nothing read ahead survives
    targets: list[str] = []
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage")
        if record.get("eventName") in {"INSERT", "MODIFY"} and image:
            item = db.deserialize(image)
            if item.get("entity") == ENTITY and item.get("target_id") not in targets:
                targets.append(str(item["target_id"]))
    finished = sum(run(t) for t in targets)
    return {"jobs": len(targets), "finished": finished}
