"""Machine identities of an org (admin): list, create, show, replace, delete; and the token
exchange a workload signs in with (no credentials: its platform's identity is the proof)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import identities
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef, created, no_content
from strongroom.models import Identity, IdentityCreate, IdentityList, IdentityToken, IdentityTokenRequest
from strongroom.security.access import org_access

app = build_app()

IdentityRef = Annotated[str, Path(pattern=REF_PATTERN, description="Identity ID (idn_…)")]


@app.get("/v1/orgs/<org>/identities")
def list_identities(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> IdentityList:
    access = org_access(org, "identities.manage")
    return IdentityList.of(identities.list_identities(access, limit=limit, cursor=cursor))


@app.post("/v1/orgs/<org>/identities", responses={201: {"description": "Created"}})
def create_identity(org: OrgRef, body: IdentityCreate) -> Response[Identity]:
    """An identity for one environment (`oidc`: a JWT issuer's workloads; `aws_iam`: an AWS role).
    The creator needs `identities.manage` and the permissions it grants there."""
    access = org_access(org, "identities.manage")
    return created(identities.create(access, body))


@app.get("/v1/orgs/<org>/identities/<id>")
def get_identity(org: OrgRef, id: IdentityRef) -> Identity:  # noqa: A002 - the contract's name
    access = org_access(org, "identities.manage")
    return identities.get(access, id)


@app.put("/v1/orgs/<org>/identities/<id>")
def replace_identity(org: OrgRef, id: IdentityRef, body: IdentityCreate) -> Identity:  # noqa: A002
    """Replaced whole; the tokens issued before stop working now."""
    access = org_access(org, "identities.manage")
    return identities.replace(access, id, body)


@app.delete("/v1/orgs/<org>/identities/<id>", responses={204: {"description": "Deleted"}})
def delete_identity(org: OrgRef, id: IdentityRef) -> Response[str]:  # noqa: A002 - the contract's name
    """Deleted; the tokens issued to it stop working now."""
    access = org_access(org, "identities.manage")
    identities.delete(access, id)
    return no_content()


@app.post("/v1/auth/identity/token", responses={200: {"description": "A short-lived service token, shown once"}})
def exchange_identity_token(body: IdentityTokenRequest) -> IdentityToken:
    """No credentials: `jwt` (an `oidc` identity) or `aws` (an `aws_iam` identity's signed
    GetCallerIdentity) proves the identity. 401 for a credential that is not accepted (or used
    twice), 403 naming the rule it does not satisfy."""
    return identities.exchange(body)


lambda_handler = make_handler(app)
