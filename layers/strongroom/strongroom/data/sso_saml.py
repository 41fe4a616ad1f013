"""SAML 2.0 single sign-on: an org's configuration `ORG#<org> / SSO#SAML`, the AuthnRequests in
flight `SAMLREQ#<request id>` and the assertions accepted `SAMLSEEN#<org>#<sha256(assertion id)>`
(layout in docs/data-model.md). The email-domain claims are data/sso.py's (one org per domain,
whichever method). Every read of these items and every condition is built here; domain/sso_saml.py
decides which happens.

A request's item names the org and where to go afterwards, and expires by TTL; the ACS's first
write deletes it on the condition that it is still there (InResponseTo is good once) and creates
the assertion's item on the condition that it is not (an assertion is good once, even inside a
new request's Response), in the same transaction as the sign-in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import Conflict, Unauthorized

ENTITY = "sso_saml"


class SamlConfigRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    idp_entity_id: str
    idp_sso_url: str
    idp_x509_cert: str  # PEM: public, not sealed
    domains: list[str]
    default_role: str
    created_at: str
    updated_at: str
    version: int = 1


class SamlRequestRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    request_id: str
    org_id: str
    return_to: str | None = None
    expires_at: int  # epoch seconds


# --------------------------------------------------------------------------- reads


def config(org_id: str) -> SamlConfigRecord | None:
    item = db.get(keys.sso_saml(org_id))
    return SamlConfigRecord.model_validate(item) if item else None


def request(request_id: str) -> SamlRequestRecord | None:
    item = db.get(keys.saml_request(request_id))
    return SamlRequestRecord.model_validate(item) if item else None


# --------------------------------------------------------------------------- audited ops


def _changed() -> Conflict:
    return Conflict("the single sign-on configuration changed meanwhile; retry", code="sso_changed")


def put_config(rec: SamlConfigRecord, *, previous: SamlConfigRecord | None) -> db.Put:
    """The configuration, created or replaced, while it is still the one read (no lost update)."""
    item = {**keys.sso_saml(rec.org_id), "entity": ENTITY, **rec.model_dump()}
    if previous is None:
        return db.Put.new(item, on_fail=_changed())
    return db.Put(item, condition="version = :v", values={":v": previous.version}, on_fail=_changed())


def delete_config(rec: SamlConfigRecord) -> db.Delete:
    return db.Delete(
        keys.sso_saml(rec.org_id), condition="version = :v", values={":v": rec.version}, on_fail=_changed()
    )


def refused() -> Unauthorized:
    return Unauthorized("the SAML response is not valid for this service provider", code="invalid_saml_response")


def consume_request(request_id: str) -> db.Delete:
    """The request is answered: once (a second Response to it fails the condition)."""
    return db.Delete(keys.saml_request(request_id), condition="attribute_exists(PK)", on_fail=refused())


def remember_assertion(org_id: str, assertion_hash: str, expires_at: int) -> db.Put:
    """The assertion is used: once (the same assertion again fails the condition); kept until it
    could no longer be accepted anyway."""
    item = {
        **keys.saml_assertion(org_id, assertion_hash),
        "entity": "saml_seen",
        "org_id": org_id,
        keys.TTL: expires_at,
    }
    return db.Put.new(item, on_fail=refused())


# --------------------------------------------------------------------------- unaudited


def put_request(rec: SamlRequestRecord) -> None:
    """An AuthnRequest in flight: bookkeeping of an unauthenticated request, as a sign-in's state
    is (docs/decisions.md); it expires by TTL."""
    db.put_plain(
        {
            **keys.saml_request(rec.request_id),
            "entity": "saml_request",
            **rec.model_dump(exclude_none=True),
            keys.TTL: rec.expires_at,
        },
        condition="attribute_not_exists(PK)",
    )
