"""Single sign-on per org (OpenID Connect and SAML 2.0): the owner's configurations, the sign-in
page's domain lookup, and the sign-ins themselves (OIDC: authorize → the issuer → callback; SAML:
authorize → the IdP → the ACS, with the SP metadata an IdP is configured from)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Form, Query
from pydantic import AfterValidator, SecretStr

from strongroom.domain import sso, sso_saml
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, OrgRef, no_content
from strongroom.http.session_cookie import cookie, signed_in, signed_in_redirect
from strongroom.models import (
    DOMAIN_PATTERN,
    LoginResult,
    OidcConfig,
    OidcConfigPut,
    SamlConfig,
    SamlConfigPut,
    SsoDiscovery,
)
from strongroom.security.access import org_access
from strongroom.security.saml_sp import MAX_RESPONSE_BYTES
from strongroom.security.sessions import cookie_value

app = build_app()

DomainQuery = Annotated[str, Query(pattern=DOMAIN_PATTERN, max_length=253, description="An email domain")]
OrgQuery = Annotated[str, Query(pattern=REF_PATTERN, description="Org ID (org_…) or slug")]
# A path of the console to land on afterwards (never another origin): JSON is answered without one.
ReturnTo = Annotated[
    str | None,
    Query(
        pattern=r"^/([A-Za-z0-9_.~%?=&-][A-Za-z0-9/_.~%?=&-]{0,510})?$",
        description="A console path to redirect to afterwards",
    ),
]
_CODE, _STATE = r"^[!-~]{1,2048}$", r"^[A-Za-z0-9_-]{16,128}$"


def _matching(pattern: str) -> Callable[[SecretStr | None], SecretStr | None]:
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(pattern, value.get_secret_value()):
            raise ValueError("not of the expected form")
        return value

    return check


# The code and the state are credentials of a sign-in: SecretStr, so that what logs the parsed
# request (Powertools at DEBUG) shows them masked.
Code = Annotated[
    SecretStr | None,
    Query(min_length=1, max_length=2048, description="The authorization code", json_schema_extra={"pattern": _CODE}),
    AfterValidator(_matching(_CODE)),
]
State = Annotated[
    SecretStr,
    Query(min_length=16, max_length=128, description="The state authorize sent", json_schema_extra={"pattern": _STATE}),
    AfterValidator(_matching(_STATE)),
]
IdpError = Annotated[str | None, Query(pattern=r"^[!-~]{1,128}$", description="The issuer's error code")]
_BINDING_PATH = "/v1/sso/oidc"


@app.put("/v1/orgs/<org>/sso/oidc")
def put_oidc_config(org: OrgRef, body: OidcConfigPut) -> OidcConfig:
    access = org_access(org, "sso.manage")
    return sso.put_config(access, body)


@app.get("/v1/orgs/<org>/sso/oidc")
def get_oidc_config(org: OrgRef) -> OidcConfig:
    access = org_access(org, "sso.manage")
    return sso.get_config(access)


@app.delete("/v1/orgs/<org>/sso/oidc", responses={204: {"description": "Removed; members stay"}})
def delete_oidc_config(org: OrgRef) -> Response[str]:
    access = org_access(org, "sso.manage")
    sso.delete_config(access)
    return no_content()


@app.get("/v1/sso/by-domain")
def sso_by_domain(domain: DomainQuery) -> SsoDiscovery:
    """No credentials. Which org an email domain signs in with."""
    return sso.by_domain(domain)


@app.get("/v1/sso/oidc/authorize", responses={302: {"description": "To the issuer's authorization endpoint"}})
def sso_oidc_authorize(org: OrgQuery, return_to: ReturnTo = None) -> Response[str]:
    """No credentials. Sets the sr_sso cookie that binds the sign-in to this browser."""
    started = sso.authorize(org, return_to)
    binding = cookie(sso.BINDING_COOKIE, started.binding, sso.STATE_TTL, path=_BINDING_PATH)
    return Response(
        status_code=302, body="", headers={"Location": started.location, "Cache-Control": "no-store"}, cookies=[binding]
    )


@app.get(
    "/v1/sso/oidc/callback",
    responses={
        200: {
            "description": "Signed in; the token is also the sr_session cookie",
            "content": {"application/json": {"model": LoginResult}},
        },
        303: {"description": "Signed in (the cookie); to the console path authorize was given"},
    },
)
def sso_oidc_callback(state: State, code: Code = None, error: IdpError = None) -> Response[Any]:
    """No credentials but the sr_sso cookie authorize set. A replayed or forged callback is refused."""
    binding = cookie_value(list(app.current_event.cookies or []), name=sso.BINDING_COOKIE)
    done = sso.callback(
        code.get_secret_value() if code is not None else None, state.get_secret_value(), binding, idp_error=error
    )
    spent = cookie(sso.BINDING_COOKIE, "", 0, path=_BINDING_PATH)
    if done.return_to is not None:
        return signed_in_redirect(done.result, sso.console_location(done.return_to), extra=[spent])
    return signed_in(done.result, extra=[spent])


# --------------------------------------------------------------------------- SAML 2.0

SAML_METADATA = "application/samlmetadata+xml"
# The HTTP-POST binding's fields: the Response (base64; a credential of a sign-in, so SecretStr)
# and the RelayState we sent (the org's id; not trusted: the request names the org).
SamlResponse = Annotated[
    SecretStr,
    Form(alias="SAMLResponse", min_length=1, max_length=MAX_RESPONSE_BYTES, description="The Response, base64"),
]
RelayState = Annotated[str | None, Form(alias="RelayState", max_length=80, description="What authorize sent")]


@app.put("/v1/orgs/<org>/sso/saml")
def put_saml_config(org: OrgRef, body: SamlConfigPut) -> SamlConfig:
    access = org_access(org, "sso.manage")
    return sso_saml.put_config(access, body)


@app.get("/v1/orgs/<org>/sso/saml")
def get_saml_config(org: OrgRef) -> SamlConfig:
    access = org_access(org, "sso.manage")
    return sso_saml.get_config(access)


@app.delete("/v1/orgs/<org>/sso/saml", responses={204: {"description": "Removed; members stay"}})
def delete_saml_config(org: OrgRef) -> Response[str]:
    access = org_access(org, "sso.manage")
    sso_saml.delete_config(access)
    return no_content()


@app.get(
    "/v1/sso/saml/metadata",
    responses={200: {"description": "The SP metadata", "content": {SAML_METADATA: {"schema": {"type": "string"}}}}},
)
def sso_saml_metadata(org: OrgQuery) -> Response[str]:
    """No credentials. The org's SP metadata (entityID, ACS URL, NameID format) for its IdP."""
    return Response(status_code=200, content_type=SAML_METADATA, body=sso_saml.metadata(org))


@app.get("/v1/sso/saml/authorize", responses={302: {"description": "To the IdP with an AuthnRequest"}})
def sso_saml_authorize(org: OrgQuery, return_to: ReturnTo = None) -> Response[str]:
    """No credentials. An AuthnRequest (HTTP-Redirect binding) whose ID the ACS expects."""
    location = sso_saml.authorize(org, return_to)
    return Response(status_code=302, body="", headers={"Location": location, "Cache-Control": "no-store"})


@app.post(
    "/v1/sso/saml/acs",
    responses={
        200: {
            "description": "Signed in; the token is also the sr_session cookie",
            "content": {"application/json": {"model": LoginResult}},
        },
        303: {"description": "Signed in (the cookie); to the console path authorize was given"},
    },
)
def sso_saml_acs(saml_response: SamlResponse, relay_state: RelayState = None) -> Response[Any]:
    """No credentials but the IdP's signed Response (HTTP-POST binding). Anything but a valid
    Response to a request we issued, with an assertion never seen, is 401."""
    done = sso_saml.acs(saml_response.get_secret_value())
    if done.return_to is not None:
        return signed_in_redirect(done.result, sso.console_location(done.return_to))
    return signed_in(done.result)


lambda_handler = make_handler(app, form_routes=frozenset({"POST /v1/sso/saml/acs"}))
