"""Service tokens of an org: list, create (shown once), rotate (shown once), revoke. Admin."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import tokens
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models import ServiceTokenCreate, ServiceTokenCreated, ServiceTokenList
from strongroom.security.access import org_access

app = build_app()

TokenRef = Annotated[str, Path(pattern=REF_PATTERN, description="Token ID (tok_…)")]


@app.get("/v1/orgs/<org>/tokens")
def list_tokens(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> ServiceTokenList:
    access = org_access(org, "tokens.manage")
    return ServiceTokenList.of(tokens.list_tokens(access, limit=limit, cursor=cursor))


@app.post("/v1/orgs/<org>/tokens", responses={201: {"description": "Created; `token` is shown this once"}})
def create_token(org: OrgRef, body: ServiceTokenCreate) -> Response[ServiceTokenCreated]:
    """A token for one environment: read, or read and write; optionally expiring and limited to
    source networks. The creator needs `tokens.manage` and the permissions it grants."""
    access = org_access(org, "tokens.manage")
    return created(tokens.create(access, body))


@app.post("/v1/orgs/<org>/tokens/<id>/rotate")
def rotate_token(org: OrgRef, id: TokenRef) -> ServiceTokenCreated:  # noqa: A002 - the contract's name
    """A new secret for the token; the old one stops working now. `token` is shown this once."""
    access = org_access(org, "tokens.manage")
    return tokens.rotate(access, id)


@app.delete("/v1/orgs/<org>/tokens/<id>", responses={204: {"description": "Revoked"}})
def revoke_token(org: OrgRef, id: TokenRef) -> Response[str]:  # noqa: A002 - the contract's name
    """Revoke: the next request with it is 401."""
    access = org_access(org, "tokens.manage")
    tokens.revoke(access, id)
    return no_content()


lambda_handler = make_handler(app)
