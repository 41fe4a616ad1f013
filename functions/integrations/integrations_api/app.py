"""Integrations: destinations an environment's values are pushed to after every change (AWS
Secrets Manager, SSM Parameter Store, GitHub Actions), their sync status and forced syncs. The
syncs themselves run in the sync worker, never here."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import integrations
from strongroom.http.app import build_app, make_handler
from strongroom.http.envelope import JSON
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models.integrations import Integration, IntegrationCreate, IntegrationList, IntegrationStatus
from strongroom.security.access import environment_access, org_access

app = build_app()

IntegrationRef = Annotated[str, Path(pattern=REF_PATTERN, description="Integration ID (int_…)")]


@app.post("/v1/orgs/<org>/integrations", responses={201: {"description": "Created; its first sync follows"}})
def create_integration(org: OrgRef, body: IntegrationCreate) -> Response[Integration]:
    """The creator must read the environment (`secrets.read`): its values go to the destination."""
    access = org_access(org, "integrations.manage")
    env_access = environment_access(org, body.project, body.environment, "secrets.read")
    return created(integrations.create(access, env_access, body))


@app.get("/v1/orgs/<org>/integrations")
def list_integrations(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> IntegrationList:
    """Never with a token."""
    access = org_access(org, "integrations.manage")
    return IntegrationList.of(integrations.list_integrations(access, limit=limit, cursor=cursor))


@app.get("/v1/orgs/<org>/integrations/<id>")
def get_integration(org: OrgRef, id: IntegrationRef) -> Integration:  # noqa: A002 - the contract's name
    access = org_access(org, "integrations.manage")
    return integrations.get(access, id)


@app.delete("/v1/orgs/<org>/integrations/<id>", responses={204: {"description": "Deleted"}})
def delete_integration(org: OrgRef, id: IntegrationRef) -> Response[str]:  # noqa: A002 - the contract's name
    """No sync after this; what it pushed stays at the destination."""
    access = org_access(org, "integrations.manage")
    integrations.delete(access, id)
    return no_content()


@app.get("/v1/orgs/<org>/integrations/<id>/status")
def get_integration_status(org: OrgRef, id: IntegrationRef) -> IntegrationStatus:  # noqa: A002
    access = org_access(org, "integrations.manage")
    return integrations.status(access, id)


@app.post("/v1/orgs/<org>/integrations/<id>/sync", responses={202: {"description": "Queued; the status as it was"}})
def sync_integration(org: OrgRef, id: IntegrationRef) -> Response[IntegrationStatus]:  # noqa: A002
    """Forces one sync of the environment's current values (even at the revision last pushed)."""
    access = org_access(org, "integrations.manage")
    status = integrations.request_sync(access, id)
    return Response(status_code=202, content_type=JSON, body=status)


lambda_handler = make_handler(app)
