"""Jobs of agents, and the sealed hand-off of read jobs (docs/design.md, "Agents").

A job is queued for one agent (`discover` or `read`), claimed by it, completed `succeeded` or
`failed` (with an error), or `expired` when nobody claimed it before `expires_at`. Every
transition is the job's item updated on the condition of the status read, with its one audit
event, in one transaction: of racing claims exactly one lands; the others go on to the next queued
job, or answer that there is none. The queue is a sparse index (GSI1 `AGENT#<id>#QUEUED`) the claim
takes the job off: no Scan, and a claimer reads only its own agent's queue.

A read job carries the requester's X25519 public key. Its agent answers with a libsodium sealed
box (`crypto_box_seal`) of the value to that key: the server stores it, cannot open it, and gives
it once to the job's requester (`GET …/wraps/{wrap}`; then 410), within WRAP_TTL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from strongroom import clock, ids
from strongroom.context import principal
from strongroom.data import agents as data
from strongroom.data import chain, db
from strongroom.data.agents import AgentRecord, JobRecord, WrapRecord
from strongroom.domain import agents, audit
from strongroom.errors import Conflict, Gone, NotFound, Unprocessable
from strongroom.models.agents import Job, JobComplete, JobCreate, WrapCreate, WrapCreated, WrapFetched
from strongroom.security.access import OrgAccess

WRAP_TTL = timedelta(minutes=15)
CLAIM_CANDIDATES = 10
CLAIM_ROUNDS = 3


class _Lost(Conflict):
    """The job moved meanwhile (another claim, an expiry): the claim goes on to the next one."""

    def __init__(self) -> None:
        super().__init__("the job moved meanwhile", code="job_moved")


def _job_event(action: str, rec: JobRecord, **metadata: object) -> audit.AuditEvent:
    # Never the params' values beyond their names: a read job's ref is a name, its key public.
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="agent_job",
        resource_id=rec.id,
        metadata={"agent_id": rec.agent_id, "type": rec.type, **metadata},
    )


def view(rec: JobRecord) -> Job:
    status = "expired" if rec.status == "queued" and rec.expires_at <= clock.now_iso() else rec.status
    return Job.model_validate({**rec.model_dump(), "status": status})


def _moved(rec: JobRecord, status: str, by: str, **changes: Any) -> JobRecord:
    now = clock.now_iso()
    history = [*rec.history, {"status": status, "at": now, "by": by}]
    return rec.model_copy(update={"status": status, "history": history, **changes})


# --------------------------------------------------------------------------- create, read


def new_job(
    org_id: str,
    agent: AgentRecord,
    job_type: str,
    params: dict[str, Any],
    *,
    ttl_seconds: int,
    created_by: str,
    access_request_id: str | None = None,
) -> JobRecord:
    now = clock.now()
    return JobRecord(
        id=ids.new_id("job"),
        org_id=org_id,
        agent_id=agent.id,
        type=job_type,
        params=params,
        status="queued",
        access_request_id=access_request_id,
        created_at=clock.iso(now),
        created_by=created_by,
        expires_at=clock.iso(now + timedelta(seconds=ttl_seconds)),
        history=[{"status": "queued", "at": clock.iso(now), "by": created_by}],
    )


def _agent_of_org(org_id: str, agent_id: str) -> AgentRecord:
    """The active agent a job is for (422 when the body names none of this org, 409 revoked)."""
    agent = agents.get_record(org_id, agent_id)
    if agent is None:
        raise Unprocessable(
            "`agent` names no agent of this organization",
            code="unknown_agent",
            details={"fields": [{"field": "agent", "location": "body", "issue": "no such agent"}]},
        )
    if agent.status != "active":
        raise Conflict("this agent is revoked", code="agent_revoked")
    return agent


def job_op(rec: JobRecord) -> db.Put:
    """The op that queues a job (for a transaction of its own, or an approval's)."""
    return data.create_job(rec, on_fail=NotFound("job id collision; retry"))


def queue_read(org_id: str, agent_id: str, params: dict[str, Any], *, requester: str, request_id: str) -> JobRecord:
    """The read job an approved access request queues (domain/access_requests.py writes it in its
    approval's transaction)."""
    agent = _agent_of_org(org_id, agent_id)
    return new_job(org_id, agent, "read", params, ttl_seconds=3600, created_by=requester, access_request_id=request_id)


def create(access: OrgAccess, body: JobCreate) -> Job:
    access.require("agents.manage")
    agent = _agent_of_org(access.org.id, body.agent)
    rec = new_job(
        access.org.id,
        agent,
        body.type,
        body.params.model_dump(),
        ttl_seconds=body.ttl_seconds,
        created_by=access.principal.id,
    )
    chain.transact([job_op(rec)], audit=_job_event("job.created", rec))
    return view(rec)


def get(access: OrgAccess, job_id: str) -> Job:
    """Admins see every job; a requester sees the read jobs made for them (their wrap's ID)."""
    rec = data.get_job(access.org.id, job_id) if ids.is_id(job_id, "job") else None
    if rec is None or not (access.allows("agents.manage") or rec.created_by == access.principal.id):
        raise NotFound("job not found")
    return view(rec)


def list_jobs(
    access: OrgAccess, *, agent_id: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Job], str | None]:
    access.require("agents.manage")
    found, next_cursor = data.jobs_page(access.org.id, agent_id=agent_id, status=status, limit=limit, cursor=cursor)
    return [view(r) for r in found], next_cursor


# --------------------------------------------------------------------------- the agent's side


def _try_claim(agent: AgentRecord, org_id: str, job_id: str) -> JobRecord | None:
    rec = data.get_job(org_id, job_id)
    if rec is None or rec.status != "queued" or rec.agent_id != agent.id:
        return None
    try:
        if rec.expires_at <= clock.now_iso():
            new = _moved(rec, "expired", "system")
            chain.transact(
                [data.transition(rec, new, on_fail=_Lost(), unqueue=True)], audit=_job_event("job.expired", new)
            )
            return None
        new = _moved(rec, "claimed", agent.id, claimed_at=clock.now_iso())
        op = data.transition(rec, new, expect_agent=agent.id, on_fail=_Lost(), unqueue=True)
        chain.transact([op], audit=_job_event("job.claimed", new))
    except _Lost:
        return None
    return new


def claim(agent: AgentRecord) -> Job | None:
    """The agent's oldest queued job, now claimed by it; None when its queue is empty."""
    for _round in range(CLAIM_ROUNDS):
        candidates = data.queued(agent.id, limit=CLAIM_CANDIDATES)
        for org_id, job_id in candidates:
            if org_id != agent.org_id:
                continue
            won = _try_claim(agent, org_id, job_id)
            if won is not None:
                return view(won)
        if len(candidates) < CLAIM_CANDIDATES:
            return None
    return None


def _claimed_job(agent: AgentRecord, job_id: str) -> JobRecord:
    rec = data.get_job(agent.org_id, job_id) if ids.is_id(job_id, "job") else None
    if rec is None or rec.agent_id != agent.id:
        raise NotFound("job not found")
    if rec.status != "claimed":
        raise Conflict(f"this job is {rec.status}", code="not_claimed", details={"status": rec.status})
    return rec


def complete(agent: AgentRecord, job_id: str, body: JobComplete) -> None:
    rec = _claimed_job(agent, job_id)
    new = _moved(rec, body.status, agent.id, completed_at=clock.now_iso(), error=body.error)
    moved = Conflict("the job moved meanwhile", code="not_claimed")
    chain.transact(
        [data.transition(rec, new, expect_agent=agent.id, on_fail=moved)],
        audit=_job_event(f"job.{body.status}", new, has_error=body.error is not None),
    )


# --------------------------------------------------------------------------- sealed hand-off


def post_wrap(agent: AgentRecord, body: WrapCreate) -> WrapCreated:
    """The sealed answer to a claimed read job of this agent, for the job's requester."""
    rec = _claimed_job(agent, body.job)
    if rec.type != "read":
        raise Unprocessable("only a read job is answered with a wrap", code="not_a_read_job")
    if rec.wrap_id is not None:
        raise Conflict("this job has its wrap already", code="already_answered")
    now = clock.now()
    wrap = WrapRecord(
        id=ids.new_id("wrp"),
        org_id=rec.org_id,
        job_id=rec.id,
        agent_id=agent.id,
        requester_id=rec.created_by,
        sealed=body.sealed,
        created_at=clock.iso(now),
        expires_at=clock.iso(now + WRAP_TTL),
    )
    answered = rec.model_copy(update={"wrap_id": wrap.id})
    moved = Conflict("this job has its wrap already, or moved", code="already_answered")
    chain.transact(
        [
            data.create_wrap(wrap, on_fail=NotFound("wrap id collision; retry")),
            data.transition(rec, answered, on_fail=moved),
        ],
        audit=_job_event("job.wrap_created", answered, wrap_id=wrap.id),
    )
    return WrapCreated(id=wrap.id, job_id=rec.id, expires_at=wrap.expires_at)


def fetch_wrap(access: OrgAccess, wrap_id: str) -> WrapFetched:
    """Once, by the job's requester: the sealed value, removed as it is handed over (a second
    fetch, or one past its end, is 410). Anyone else: 404."""
    rec = data.get_wrap(access.org.id, wrap_id) if ids.is_id(wrap_id, "wrp") else None
    if rec is None or rec.requester_id != principal().id:
        raise NotFound("wrap not found")
    now = clock.now_iso()
    if rec.sealed is None or rec.expires_at <= now:
        raise Gone("this wrap was fetched already, or has expired", code="wrap_gone")
    gone = Gone("this wrap was fetched already, or has expired", code="wrap_gone")
    chain.transact(
        [data.consume_wrap(rec, now, on_fail=gone)],
        audit=audit.event(
            "wrap.fetched",
            scope_id=rec.org_id,
            resource_type="agent_wrap",
            resource_id=rec.id,
            metadata={"job_id": rec.job_id, "agent_id": rec.agent_id},
        ),
    )
    return WrapFetched(id=rec.id, job_id=rec.job_id, sealed=rec.sealed)
