"""Agent items (keys in keys.py, layout in docs/data-model.md): the agent (`AGENT#<id> / AGENT`,
indexed by org on GSI1), its jobs (`ORG#<org> / JOB#<id>`, queued ones also on GSI1 under
`AGENT#<id>#QUEUED`: a sparse index the claim removes them from), the sealed wraps
(`ORG#<org> / WRAP#<id>`) and the discovered secrets (`DISCOVERED#<org> / DSC#<ref>#<id>`). Every
condition and update expression of them is built here; domain/agents.py decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys
from strongroom.errors import AppError


class AgentRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    token_hash: str | None = None  # None once revoked
    status: str = "active"  # active | revoked
    public_key: str | None = None
    last_seen_at: str | None = None
    created_at: str
    created_by: str
    revoked_at: str | None = None


class JobRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    agent_id: str
    type: str
    params: dict[str, Any]
    status: str  # queued | claimed | succeeded | failed | expired
    error: str | None = None
    wrap_id: str | None = None
    access_request_id: str | None = None
    created_at: str
    created_by: str
    expires_at: str
    claimed_at: str | None = None
    completed_at: str | None = None
    history: list[dict[str, str]] = []


class WrapRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    job_id: str
    agent_id: str
    requester_id: str
    sealed: str | None = None  # removed when fetched
    created_at: str
    expires_at: str
    fetched_at: str | None = None


class DiscoveredRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    agent_id: str
    ref: str
    provider: str
    cluster_name: str
    labels: dict[str, str] = {}
    fingerprint: str
    first_seen_at: str
    last_seen_at: str


# --------------------------------------------------------------------------- agents


def get(agent_id: str) -> AgentRecord | None:
    item = db.get(keys.agent(agent_id))
    return AgentRecord.model_validate(item) if item is not None else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[AgentRecord], str | None]:
    found = db.query(keys.org_agents_partition(org_id), index=keys.GSI1, limit=limit, cursor=cursor)
    return [AgentRecord.model_validate(i) for i in found.items], found.next_cursor


def create(rec: AgentRecord, *, on_fail: AppError) -> db.Put:
    item = {
        **keys.agent(rec.id),
        **keys.agent_index(rec.org_id, rec.created_at, rec.id),
        "entity": "agent",
        **rec.model_dump(exclude_none=True),
    }
    return db.Put.new(item, on_fail=on_fail)


def revoke(rec: AgentRecord, now: str, *, on_fail: AppError) -> db.Update:
    """The agent revoked: its secret's hash removed (nothing verifies any more), kept for history."""
    return db.Update(
        keys.agent(rec.id),
        "SET #status = :revoked, revoked_at = :now REMOVE token_hash",
        condition="#status = :active",
        names={"#status": "status"},
        values={":revoked": "revoked", ":now": now, ":active": "active"},
        on_fail=on_fail,
    )


def active_check(rec: AgentRecord, *, on_fail: AppError) -> db.Check:
    """A transaction op: the agent is still active (not revoked meanwhile)."""
    return db.Check(
        keys.agent(rec.id),
        "#status = :active",
        names={"#status": "status"},
        values={":active": "active"},
        on_fail=on_fail,
    )


def set_public_key(rec: AgentRecord, public_key: str, *, on_fail: AppError) -> db.Update:
    return db.Update(
        keys.agent(rec.id),
        "SET public_key = :key",
        condition="#status = :active",
        names={"#status": "status"},
        values={":key": public_key, ":active": "active"},
        on_fail=on_fail,
    )


def stamp_seen(agent_id: str, now: datetime, recent: datetime) -> bool:
    """`last_seen_at = now` unless stamped after `recent` (a heartbeat: unaudited state refresh)."""
    return db.update_plain(
        keys.agent(agent_id),
        "SET last_seen_at = :now",
        condition="#status = :active AND (attribute_not_exists(last_seen_at) OR last_seen_at < :recent)",
        names={"#status": "status"},
        values={":now": clock.iso(now), ":recent": clock.iso(recent), ":active": "active"},
    )


# --------------------------------------------------------------------------- jobs


def job_item(rec: JobRecord) -> dict[str, Any]:
    out = {**keys.job(rec.org_id, rec.id), "entity": "agent_job", **rec.model_dump(exclude_none=True)}
    if rec.status == "queued":
        out.update(keys.job_queue_index(rec.agent_id, rec.id))
    return out


def get_job(org_id: str, job_id: str) -> JobRecord | None:
    item = db.get(keys.job(org_id, job_id))
    return JobRecord.model_validate(item) if item is not None else None


def jobs_page(
    org_id: str, *, agent_id: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[JobRecord], str | None]:
    """The org's jobs, newest first, optionally of one agent and in one status (filtered)."""
    clauses, values, names = [], {}, {}
    if agent_id:
        clauses.append("agent_id = :agent")
        values[":agent"] = agent_id
    if status:
        clauses.append("#status = :status")
        names["#status"] = "status"
        values[":status"] = status
    found = db.query(
        keys.org_partition(org_id),
        prefix=keys.JOB_PREFIX,
        limit=limit,
        cursor=cursor,
        forward=False,
        filter_expression=" AND ".join(clauses) or None,
        filter_values=values or None,
        filter_names=names or None,
    )
    return [JobRecord.model_validate(i) for i in found.items], found.next_cursor


def queued(agent_id: str, *, limit: int) -> list[tuple[str, str]]:
    """(org, job) of the agent's oldest queued jobs (the sparse index; eventually consistent: the
    claim's condition on the job item decides)."""
    found = db.query(keys.agent_queue_partition(agent_id), index=keys.GSI1, limit=limit)
    return [(str(i["org_id"]), str(i["id"])) for i in found.items]


def create_job(rec: JobRecord, *, on_fail: AppError) -> db.Put:
    return db.Put.new(job_item(rec), on_fail=on_fail)


def transition(
    rec: JobRecord, new: JobRecord, *, expect_agent: str | None = None, on_fail: AppError, unqueue: bool = False
) -> db.Update:
    """The job moved from the status read to `new`'s (its fields set), on the condition that it
    is still in the status read (so of racing claims exactly one lands); `unqueue` takes it off
    the agent's queue."""
    fields = {
        "status": new.status,
        "history": new.history,
        **{
            f: getattr(new, f)
            for f in ("error", "wrap_id", "claimed_at", "completed_at")
            if getattr(new, f) is not None
        },
    }
    names = {f"#{f}": f for f in fields}
    values: dict[str, Any] = {f":{f}": v for f, v in fields.items()}
    expression = "SET " + ", ".join(f"#{f} = :{f}" for f in fields)
    if unqueue:
        expression += f" REMOVE {keys.GSI1PK}, {keys.GSI1SK}"
    condition = "#status = :was"
    values[":was"] = rec.status
    if expect_agent is not None:
        condition += " AND agent_id = :agent"
        values[":agent"] = expect_agent
    if rec.wrap_id is None and new.wrap_id is not None:
        condition += " AND attribute_not_exists(wrap_id)"
    return db.Update(
        keys.job(rec.org_id, rec.id), expression, condition=condition, names=names, values=values, on_fail=on_fail
    )


# --------------------------------------------------------------------------- wraps


def get_wrap(org_id: str, wrap_id: str) -> WrapRecord | None:
    item = db.get(keys.wrap(org_id, wrap_id))
    return WrapRecord.model_validate(item) if item is not None else None


def create_wrap(rec: WrapRecord, *, on_fail: AppError) -> db.Put:
    item = {**keys.wrap(rec.org_id, rec.id), "entity": "agent_wrap", **rec.model_dump(exclude_none=True)}
    # TTL a day after its end (a fetch refuses it from `expires_at` on, whether or not TTL has run).
    item[keys.TTL] = int(clock.parse(rec.expires_at).timestamp()) + 86_400
    return db.Put.new(item, on_fail=on_fail)


def consume_wrap(rec: WrapRecord, now: str, *, on_fail: AppError) -> db.Update:
    """The sealed value removed as it is handed over: once (of two racing fetches one lands)."""
    return db.Update(
        keys.wrap(rec.org_id, rec.id),
        "SET fetched_at = :now REMOVE sealed",
        condition="attribute_exists(sealed) AND expires_at > :now",
        values={":now": now},
        on_fail=on_fail,
    )


# --------------------------------------------------------------------------- discovered secrets


def discovered_key(rec: DiscoveredRecord) -> dict[str, str]:
    return keys.discovered_secret(rec.org_id, rec.ref, rec.id)


def discovered_existing(org_id: str, wanted: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """The stored items of these (ref, id), by ID (BatchGetItem, 100 a request), their first-seen
    and fingerprint only."""
    found = db.batch_get(
        [keys.discovered_secret(org_id, ref, sid) for ref, sid in wanted], attributes=["id", "first_seen_at"]
    )
    return {str(i["id"]): i for i in found}


def upsert_discovered(records: Sequence[DiscoveredRecord]) -> None:
    """BatchWriteItem puts, 25 a request (idempotent: the same report twice is the same items)."""
    db.put_many(
        [{**discovered_key(r), "entity": "discovered_secret", **r.model_dump(exclude_none=True)} for r in records]
    )


def discovered_page(
    org_id: str,
    *,
    ref_prefix: str | None,
    cluster_name: str | None,
    provider: str | None,
    stale_before: str | None,
    active_since: str | None,
    labels: Sequence[tuple[str, str]],
    limit: int,
    cursor: str | None,
) -> tuple[list[DiscoveredRecord], str | None]:
    """A page of the org's discovered secrets in ref order: the ref prefix is a key condition, the
    rest filters (at most db.FILTER_BUDGET items evaluated a page)."""
    clauses: list[str] = []
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for field, value in (("cluster_name", cluster_name), ("provider", provider)):
        if value is not None:
            clauses.append(f"#{field} = :{field}")
            names[f"#{field}"] = field
            values[f":{field}"] = value
    if stale_before is not None:
        clauses.append("last_seen_at < :cutoff")
        values[":cutoff"] = stale_before
    if active_since is not None:
        clauses.append("last_seen_at >= :cutoff")
        values[":cutoff"] = active_since
    for n, (label, value) in enumerate(labels):
        clauses.append(f"#labels.#l{n} = :l{n}")
        names["#labels"] = "labels"
        names[f"#l{n}"] = label
        values[f":l{n}"] = value
    found = db.query(
        keys.discovered_partition(org_id),
        prefix=f"{keys.DISCOVERED_PREFIX}{ref_prefix or ''}",
        limit=limit,
        cursor=cursor,
        filter_expression=" AND ".join(clauses) or None,
        filter_values=values or None,
        filter_names=names or None,
    )
    return [DiscoveredRecord.model_validate(i) for i in found.items], found.next_cursor


def discovered_of_ref(org_id: str, ref: str) -> list[DiscoveredRecord]:
    """The discovered secrets with exactly this ref (any cluster, provider, agent)."""
    found = db.query(keys.discovered_partition(org_id), prefix=f"{keys.DISCOVERED_PREFIX}{ref}#", limit=100)
    return [DiscoveredRecord.model_validate(i) for i in found.items if i.get("ref") == ref]
