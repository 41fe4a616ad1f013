"""Agents: minted, listed and revoked by admins; their own routes (`/v1/agents/{id}/…`, an agent's
secret only): public key, heartbeat, job claim and completion, data keys, sealed wraps, discovery
reports; jobs, wraps and the discovered-secret inventory of an org."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from strongroom.domain import agent_jobs, agents, discovery
from strongroom.http.app import build_app, make_handler
from strongroom.http.envelope import JSON
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models.agents import (
    Agent,
    AgentCreate,
    AgentCreated,
    AgentList,
    DataKeyIssued,
    DiscoveredList,
    DiscoveryBulk,
    DiscoveryResult,
    Job,
    JobComplete,
    JobCreate,
    JobList,
    JobStatus,
    LabelFilter,
    PublicKeyPut,
    Ref,
    Token,
    WrapCreate,
    WrapCreated,
    WrapFetched,
)
from strongroom.security.access import org_access

app = build_app()

AgentRef = Annotated[str, Path(pattern=REF_PATTERN, description="Agent ID (agt_…)")]
JobRef = Annotated[str, Path(pattern=REF_PATTERN, description="Job ID (job_…)")]
WrapRef = Annotated[str, Path(pattern=REF_PATTERN, description="Wrap ID (wrp_…)")]


# --------------------------------------------------------------------------- management, by admins


@app.post("/v1/orgs/<org>/agents", responses={201: {"description": "Created; `agent_secret` is shown this once"}})
def create_agent(org: OrgRef, body: AgentCreate) -> Response[AgentCreated]:
    access = org_access(org, "agents.manage")
    return created(agents.create(access, body))


@app.get("/v1/orgs/<org>/agents")
def list_agents(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> AgentList:
    """Never with a credential; each with its status (online, stale, revoked)."""
    access = org_access(org, "agents.manage")
    return AgentList.of(agents.list_agents(access, limit=limit, cursor=cursor))


@app.get("/v1/orgs/<org>/agents/<id>")
def get_agent(org: OrgRef, id: AgentRef) -> Agent:  # noqa: A002 - the contract's name
    access = org_access(org, "agents.manage")
    return agents.get(access, id)


@app.post("/v1/orgs/<org>/agents/<id>/revoke")
def revoke_agent(org: OrgRef, id: AgentRef) -> Agent:  # noqa: A002 - the contract's name
    """Its next request is 401; it stays listed, revoked."""
    access = org_access(org, "agents.manage")
    return agents.revoke(access, id)


@app.post("/v1/orgs/<org>/jobs", responses={201: {"description": "Queued for the agent"}})
def create_job(org: OrgRef, body: Annotated[JobCreate, Body()]) -> Response[Job]:
    access = org_access(org, "agents.manage")
    return created(agent_jobs.create(access, body))


@app.get("/v1/orgs/<org>/jobs")
def list_jobs(
    org: OrgRef,
    agent: Annotated[str | None, Query(pattern=REF_PATTERN, description="Only this agent's (agt_…)")] = None,
    status: Annotated[JobStatus | None, Query(description="Only in this status (as stored)")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> JobList:
    """Newest first, each with its history."""
    access = org_access(org, "agents.manage")
    return JobList.of(agent_jobs.list_jobs(access, agent_id=agent, status=status, limit=limit, cursor=cursor))


@app.get("/v1/orgs/<org>/jobs/<id>")
def get_job(org: OrgRef, id: JobRef) -> Job:  # noqa: A002 - the contract's name
    """Admins see every job; a member sees the read jobs made for them."""
    access = org_access(org, "org.read")
    return agent_jobs.get(access, id)


@app.get("/v1/orgs/<org>/wraps/<wrap>")
def get_wrap(org: OrgRef, wrap: WrapRef) -> WrapFetched:
    """The sealed answer to the caller's read job, once (then 410); nobody else's (404)."""
    access = org_access(org, "org.read")
    return agent_jobs.fetch_wrap(access, wrap)


@app.get("/v1/orgs/<org>/discovered-secrets")
def list_discovered_secrets(
    org: OrgRef,
    cluster_name: Annotated[Token | None, Query(description="Only this cluster's")] = None,
    provider: Annotated[Token | None, Query(description="Only this provider's")] = None,
    ref_prefix: Annotated[Ref | None, Query(description="Only refs that start so")] = None,
    status: Annotated[
        str | None, Query(pattern="^(active|stale)$", description="active, or stale (unreported 24 h)")
    ] = None,
    label: Annotated[list[LabelFilter] | None, Query(description="k:v, repeated: every one must match")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DiscoveredList:
    """In ref order; never a value."""
    access = org_access(org, "agents.manage")
    found = discovery.list_discovered(
        access,
        cluster_name=cluster_name,
        provider=provider,
        ref_prefix=ref_prefix,
        status=status,
        labels=label or [],
        limit=limit,
        cursor=cursor,
    )
    return DiscoveredList.of(found)


# --------------------------------------------------------------------------- the agent's own routes


@app.put("/v1/agents/<id>/public-key")
def put_agent_public_key(id: AgentRef, body: PublicKeyPut) -> Agent:  # noqa: A002 - the contract's name
    return agents.register_public_key(agents.agent_self(id), body.public_key)


@app.post("/v1/agents/<id>/heartbeat", responses={204: {"description": "Seen"}})
def agent_heartbeat(id: AgentRef) -> Response[str]:  # noqa: A002 - the contract's name
    agents.heartbeat(agents.agent_self(id))
    return no_content()


CLAIMED = {
    200: {"description": "Claimed: the agent's oldest queued job", "content": {"application/json": {"model": Job}}},
    204: {"description": "None queued"},
}


@app.post("/v1/agents/<id>/jobs/claim", responses=CLAIMED)  # type: ignore[arg-type]
def claim_job(id: AgentRef) -> Response[str]:  # noqa: A002 - the contract's name
    job = agent_jobs.claim(agents.agent_self(id))
    if job is None:
        return no_content()
    return Response(status_code=200, content_type=JSON, body=job.model_dump_json())


@app.post("/v1/agents/<id>/jobs/<job>/complete", responses={204: {"description": "Completed"}})
def complete_job(id: AgentRef, job: JobRef, body: JobComplete) -> Response[str]:  # noqa: A002
    agent_jobs.complete(agents.agent_self(id), job, body)
    return no_content()


@app.post("/v1/agents/<id>/dek")
def issue_agent_data_key(id: AgentRef) -> DataKeyIssued:  # noqa: A002 - the contract's name
    """A KMS data key for the agent's own envelope encryption (context: org and agent)."""
    return agents.issue_data_key(agents.agent_self(id))


@app.post("/v1/agents/<id>/wraps", responses={201: {"description": "Stored for the job's requester"}})
def create_wrap(id: AgentRef, body: WrapCreate) -> Response[WrapCreated]:  # noqa: A002
    """A read job's answer: a libsodium sealed box to the job's recipient key, never readable here."""
    return created(agent_jobs.post_wrap(agents.agent_self(id), body))


@app.post("/v1/agents/<id>/secrets/bulk")
def report_discovered_secrets(id: AgentRef, body: DiscoveryBulk) -> DiscoveryResult:  # noqa: A002
    """Upsert up to 5,000 discovered secrets (refs, fingerprints; never values)."""
    return discovery.report(agents.agent_self(id), body)


lambda_handler = make_handler(app)
