"""Single sign-on: an org's OIDC configuration `ORG#<org> / SSO#OIDC`, the email-domain claims
`SSODOMAIN#<domain>` (one org per domain) and the sign-ins in flight `SSOSTATE#<sha256(state)>`
(layout in docs/data-model.md). Every read of them and every condition and update expression is
built here; domain/sso.py decides which happens.

The configuration holds `sealed_secret`: the client secret, KMS-encrypted under the service key
with the context `{purpose: sso, org: <org>}`, so a ciphertext copied to another org's item fails
to open. A sign-in's item holds what its callback needs (nonce, PKCE verifier, the browser binding's
SHA-256, where to go afterwards) and expires by TTL; the callback's first write deletes it, on the
condition that it is still there (a second use of the same `state` writes nothing).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import Conflict, Invalid

ENTITY = "sso_oidc"


class OidcConfigRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    org_id: str
    issuer: str
    client_id: str
    sealed_secret: bytes
    domains: list[str]
    default_role: str
    created_at: str
    updated_at: str
    version: int = 1


class StateRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    state_hash: str
    org_id: str
    nonce: str
    verifier: str
    binding_hash: str
    return_to: str | None = None
    expires_at: int  # epoch seconds


# --------------------------------------------------------------------------- reads


def config(org_id: str) -> OidcConfigRecord | None:
    item = db.get(keys.sso_oidc(org_id))
    return OidcConfigRecord.model_validate(item) if item else None


def domain_holder(domain: str) -> str | None:
    """The org whose single sign-on claims this email domain, if any."""
    item = db.get(keys.sso_domain(domain))
    return str(item["org_id"]) if item else None


def domain_holders(domains: list[str]) -> dict[str, str]:
    """domain -> org for the claimed ones among `domains`, in one BatchGetItem."""
    found = db.batch_get([keys.sso_domain(d) for d in domains])
    return {str(i["PK"]).removeprefix("SSODOMAIN#"): str(i["org_id"]) for i in found}


def state(state_hash: str) -> StateRecord | None:
    item = db.get(keys.sso_state(state_hash))
    return StateRecord.model_validate(item) if item else None


# --------------------------------------------------------------------------- audited ops


def _changed() -> Conflict:
    return Conflict("the single sign-on configuration changed meanwhile; retry", code="sso_changed")


def put_config(rec: OidcConfigRecord, *, previous: OidcConfigRecord | None) -> db.Put:
    """The configuration, created or replaced, while it is still the one read (no lost update)."""
    item = {**keys.sso_oidc(rec.org_id), "entity": ENTITY, **rec.model_dump()}
    if previous is None:
        return db.Put.new(item, on_fail=_changed())
    return db.Put(item, condition="version = :v", values={":v": previous.version}, on_fail=_changed())


def delete_config(rec: OidcConfigRecord) -> db.Delete:
    return db.Delete(
        keys.sso_oidc(rec.org_id), condition="version = :v", values={":v": rec.version}, on_fail=_changed()
    )


def domain_taken(domain: str) -> Conflict:
    return Conflict(
        "an email domain is claimed by another organization's single sign-on",
        code="domain_taken",
        details={"fields": [{"field": "domains", "location": "body", "issue": f"{domain} is claimed elsewhere"}]},
    )


def claim_domain(org_id: str, domain: str, *, stale_holder: str | None = None) -> db.Put:
    """`domain` is the org's, unless another org holds it (409 `domain_taken`); `stale_holder` is a
    deleted org whose claim lingers (it may be taken over)."""
    condition = "attribute_not_exists(PK) OR org_id = :org"
    values: dict[str, Any] = {":org": org_id}
    if stale_holder is not None:
        condition += " OR org_id = :stale"
        values[":stale"] = stale_holder
    return db.Put(
        {**keys.sso_domain(domain), "entity": "sso_domain", "org_id": org_id, "method": "oidc"},
        condition=condition,
        values=values,
        on_fail=domain_taken(domain),
    )


def release_domain(org_id: str, domain: str) -> db.Delete:
    """The org's claim of `domain` ends (only its own)."""
    return db.Delete(keys.sso_domain(domain), condition="org_id = :org", values={":org": org_id}, on_fail=_changed())


def used_state() -> Invalid:
    return Invalid("the sign-in is unknown, expired or already used; start again", code="invalid_state")


def consume_state(state_hash: str) -> db.Delete:
    """The sign-in is used: once (a replay fails the condition, and its transaction writes nothing)."""
    return db.Delete(keys.sso_state(state_hash), condition="attribute_exists(PK)", on_fail=used_state())


# --------------------------------------------------------------------------- unaudited


def put_state(rec: StateRecord) -> None:
    """A sign-in in flight: bookkeeping of an unauthenticated request, not an audited mutation
    (docs/decisions.md); it expires by TTL."""
    db.put_plain(
        {
            **keys.sso_state(rec.state_hash),
            "entity": "sso_state",
            **rec.model_dump(exclude_none=True),
            keys.TTL: rec.expires_at,
        },
        condition="attribute_not_exists(PK)",
    )
