"""Single sign-on per org with SAML 2.0: the business rules (the SAML itself is security/saml_sp.py).

- An owner sets the org's configuration (`sso.manage`): the IdP's entity id, SSO URL and signing
  certificate (public: answered), the email domains that sign in this way (claimed as OIDC claims
  them, one org per domain; an org's OIDC and SAML configurations may share its domains) and the
  role of a first sign-in (never owner).
- `metadata` is the SP metadata of the org (entityID, ACS, NameID format), public.
- `authorize` issues an AuthnRequest (HTTP-Redirect) and remembers its ID for REQUEST_TTL.
- `acs` accepts a Response to a request we issued and still hold, for the org that issued it,
  if saml_sp verifies it; the NameID is the email (its domain one of the org's); the account is
  the org's IdP's subject (`saml:<org id>` as issuer, the NameID as subject: an IdP of one org
  never names an account another org's IdP provisioned). Then, as the OIDC callback does
  (domain/sso.py: `sign_in`): the user, the membership with the default role on a first sign-in,
  a session. The first write consumes the request and records the assertion ID: a second
  Response to the request, or the same assertion again, signs nobody in.
Each mutation is one transaction with one audit event.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from strongroom import clock
from strongroom.config import ConfigError, settings
from strongroom.data import chain, db, sso_saml
from strongroom.data import orgs as org_data
from strongroom.data import sso as domain_claims
from strongroom.data.sso_saml import SamlConfigRecord, SamlRequestRecord
from strongroom.domain import audit, roles, sso
from strongroom.errors import NotFound
from strongroom.models import LoginResult, SamlConfig, SamlConfigPut
from strongroom.security import saml_sp
from strongroom.security.access import OrgAccess

REQUEST_TTL = 600  # seconds a sign-in may take at the IdP
DRIFT = 300  # python3-saml's allowed clock drift (the assertion's times)
VIA = "sso_saml"


def _api_url() -> str:
    base = settings().api_url
    if not base:
        raise ConfigError("invalid or missing configuration: API_URL")
    return base


def _sp(org_id: str) -> saml_sp.Sp:
    return saml_sp.sp_for(_api_url(), org_id)


def _idp(rec: SamlConfigRecord) -> saml_sp.Idp:
    return saml_sp.Idp(entity_id=rec.idp_entity_id, sso_url=rec.idp_sso_url, x509_cert=rec.idp_x509_cert)


def _not_configured() -> NotFound:
    return NotFound("SAML single sign-on is not configured for this organization")


# --------------------------------------------------------------------------- configuration


def _view(rec: SamlConfigRecord) -> SamlConfig:
    sp = _sp(rec.org_id)
    return SamlConfig(
        org_id=rec.org_id,
        idp_entity_id=rec.idp_entity_id,
        idp_sso_url=rec.idp_sso_url,
        idp_x509_cert=rec.idp_x509_cert,
        domains=rec.domains,
        default_role=rec.default_role,
        sp_entity_id=sp.entity_id,
        acs_url=sp.acs_url,
        metadata_url=sp.entity_id,
        created_at=rec.created_at,
        updated_at=rec.updated_at,
    )


def put_config(access: OrgAccess, body: SamlConfigPut) -> SamlConfig:
    """Create or replace the org's SAML configuration (`sso.manage`)."""
    org = access.org
    sso.check_url("idp_sso_url", body.idp_sso_url, query=True)
    cert = saml_sp.normalized_cert(body.idp_x509_cert)
    sso.check_role(org.id, body.default_role)
    domains = sorted(set(body.domains))
    previous = sso_saml.config(org.id)
    held = previous.domains if previous else []
    oidc = domain_claims.config(org.id)
    kept = oidc.domains if oidc is not None else []
    ops = sso.config_ops(
        org.id, domains, held, kept, role=body.default_role, previous_role=previous.default_role if previous else None
    )
    now = clock.now_iso()
    rec = SamlConfigRecord(
        org_id=org.id,
        idp_entity_id=body.idp_entity_id,
        idp_sso_url=body.idp_sso_url,
        idp_x509_cert=cert,
        domains=domains,
        default_role=body.default_role,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        version=previous.version + 1 if previous else 1,
    )
    ops.append(sso_saml.put_config(rec, previous=previous))
    chain.transact(
        ops,
        audit=audit.event(
            "sso.saml_configured",
            scope_id=org.id,
            resource_type="sso_config",
            resource_id=f"{org.id}:saml",
            metadata={
                "idp_entity_id": rec.idp_entity_id,
                "domains": domains,
                "default_role": rec.default_role,
                "created": previous is None,
            },
        ),
    )
    return _view(rec)


def get_config(access: OrgAccess) -> SamlConfig:
    rec = sso_saml.config(access.org.id)
    if rec is None:
        raise _not_configured()
    return _view(rec)


def delete_config(access: OrgAccess) -> None:
    """Remove the org's SAML configuration and the domain claims only it holds. Members stay."""
    rec = sso_saml.config(access.org.id)
    if rec is None:
        raise _not_configured()
    oidc = domain_claims.config(rec.org_id)
    kept = oidc.domains if oidc is not None else []
    chain.transact(
        [
            sso_saml.delete_config(rec),
            *(domain_claims.release_domain(rec.org_id, d) for d in rec.domains if d not in kept),
            *roles.uses(rec.org_id, {rec.default_role: -1}),
        ],
        audit=audit.event(
            "sso.saml_removed",
            scope_id=rec.org_id,
            resource_type="sso_config",
            resource_id=f"{rec.org_id}:saml",
            metadata={"idp_entity_id": rec.idp_entity_id, "domains": rec.domains},
        ),
    )


# --------------------------------------------------------------------------- SP side, public


def _configured(org_ref: str) -> tuple[org_data.OrgRecord, SamlConfigRecord]:
    org = org_data.resolve(org_ref)
    rec = sso_saml.config(org.id) if org is not None and org.status == "active" else None
    if org is None or rec is None:
        raise _not_configured()
    return org, rec


def metadata(org_ref: str) -> str:
    """The org's SP metadata XML (404 when the org has no SAML single sign-on)."""
    org, rec = _configured(org_ref)
    return saml_sp.metadata(_sp(org.id), _idp(rec))


def authorize(org_ref: str, return_to: str | None) -> str:
    """Issue an AuthnRequest: the IdP's SSO URL to redirect to."""
    org, rec = _configured(org_ref)
    request = saml_sp.authn_request(_sp(org.id), _idp(rec), relay_state=org.id)
    sso_saml.put_request(
        SamlRequestRecord(
            request_id=request.id,
            org_id=org.id,
            return_to=return_to,
            expires_at=int(clock.now().timestamp()) + REQUEST_TTL,
        )
    )
    return request.location


@dataclass(frozen=True, slots=True)
class SignedIn:
    result: LoginResult
    return_to: str | None


def acs(saml_response: str) -> SignedIn:
    """Accept a Response (see the module docstring): 401 `invalid_saml_response` for every
    refusal (writes nothing), 401 `domain_not_allowed`, 409 `account_exists`."""
    request_id = saml_sp.in_response_to(saml_response)
    pending = sso_saml.request(request_id)
    if pending is None or pending.expires_at <= int(clock.now().timestamp()):
        raise sso_saml.refused()
    org = org_data.get(pending.org_id)
    rec = sso_saml.config(pending.org_id) if org is not None and org.status == "active" else None
    if org is None or rec is None:
        raise sso_saml.refused()
    assertion = saml_sp.verify(_sp(org.id), _idp(rec), saml_response, request_id)
    email = sso.accepted_email({"email_verified": True, "email": assertion.name_id}, rec.domains)
    names = assertion.attributes.get("displayName") or assertion.attributes.get("name") or []
    who = sso.Identity(
        issuer=f"saml:{org.id}",
        subject=assertion.name_id.lower(),
        email=email,
        name=names[0] if names else None,
        via=VIA,
    )
    # Kept until the assertion could no longer be accepted (its NotOnOrAfter and the drift), and at
    # least as long as the request it answers could be.
    until = max(assertion.not_on_or_after or 0, int(time.time()) + REQUEST_TTL) + DRIFT
    seen = hashlib.sha256(assertion.assertion_id.encode()).hexdigest()
    consume: list[db.Op] = [sso_saml.consume_request(request_id), sso_saml.remember_assertion(org.id, seen, until)]
    return SignedIn(result=sso.sign_in(org, rec.default_role, who, consume), return_to=pending.return_to)
