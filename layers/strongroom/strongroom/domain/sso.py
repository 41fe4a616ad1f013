"""Single sign-on per org with OpenID Connect: the business rules.

- An owner sets the org's configuration (`sso.manage`): issuer, client id and secret (sealed by KMS
  under the context `{purpose: sso, org}`, never answered), the email domains that sign in this
  way (each claimed by one org at most: 409 `domain_taken`) and the role of a first sign-in (a
  built-in role but owner, or one of the org's custom roles, whose `in_use` counts the
  configuration naming it).
- `by_domain` tells a sign-in page which org an email domain signs in with (public).
- `authorize` starts a sign-in: `state`, `nonce`, a PKCE S256 verifier and a browser binding (the
  `sr_sso` cookie; its SHA-256 is kept) stored single-use for STATE_TTL, and the issuer's
  authorization endpoint (from its discovery document) to redirect to.
- `callback` ends it: the state (once, in the same browser), the code exchanged with
  `client_secret_basic`, the ID token checked (security/oidc_rp.py), `email_verified` true and the
  email's domain one of the org's; then the user (provisioned on a first sign-in, by issuer and
  subject), the membership with the default role (first sign-in into the org) and a session, as
  password login starts one (domain/accounts.py). A refusal writes nothing; the first write
  consumes the state, so a replayed callback signs nobody in.
Each mutation is one transaction with one audit event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit

from strongroom import clock
from strongroom.config import AuthMode, ConfigError, settings
from strongroom.context import Principal, acting_as
from strongroom.data import chain, db, invitations, sso_saml, users
from strongroom.data import orgs as org_data
from strongroom.data import roles as role_data
from strongroom.data import sso as data
from strongroom.data.invitations import InvitationRecord
from strongroom.data.orgs import MembershipRecord, OrgRecord
from strongroom.data.sso import OidcConfigRecord, StateRecord
from strongroom.domain import accounts, audit, plans, roles
from strongroom.errors import Conflict, Invalid, NotFound, Unauthorized
from strongroom.models import LoginResult, OidcConfig, OidcConfigPut, SsoDiscovery, User
from strongroom.observability import logger, metrics
from strongroom.security import crypto, oidc_rp, permissions
from strongroom.security.access import OrgAccess

STATE_TTL = 600  # seconds a sign-in may take at the issuer
BINDING_COOKIE = "sr_sso"
CALLBACK_PATH = "/v1/sso/oidc/callback"
SCOPE = "openid email profile"
VIA = "sso_oidc"


def _context(org_id: str) -> dict[str, str]:
    return {"purpose": "sso", "org": org_id}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def redirect_uri() -> str:
    base = settings().api_url
    if not base:
        raise ConfigError("invalid or missing configuration: API_URL")
    return base.rstrip("/") + CALLBACK_PATH


def _not_configured() -> NotFound:
    return NotFound("single sign-on is not configured for this organization")


def _field(field: str, issue: str, message: str) -> Invalid:
    return Invalid(message, details={"fields": [{"field": field, "location": "body", "issue": issue}]})


# --------------------------------------------------------------------------- configuration


def _view(rec: OidcConfigRecord) -> OidcConfig:
    return OidcConfig(
        org_id=rec.org_id,
        issuer=rec.issuer,
        client_id=rec.client_id,
        domains=rec.domains,
        default_role=rec.default_role,
        redirect_uri=redirect_uri(),
        created_at=rec.created_at,
        updated_at=rec.updated_at,
    )


def _check_issuer(issuer: str) -> None:
    """https, no user info, query or fragment (http only in dev mode, to loopback: netguard decides
    at each call)."""
    check_url("issuer", issuer, query=False)


def check_url(field: str, url: str, *, query: bool) -> None:
    """An identity provider's URL: https (http only in dev mode), a host, no user info or fragment,
    and a query only where `query` allows one: else 400 naming `field`."""
    parts = urlsplit(url)
    dev = settings().auth_mode is AuthMode.DEV
    if parts.scheme != "https" and not (dev and parts.scheme == "http"):
        raise _field(field, "must be https", f"the {field} must be an https URL")
    if not parts.hostname or "@" in parts.netloc or (parts.query and not query) or parts.fragment or "#" in url:
        what = "credentials or fragment" if query else "credentials, query or fragment"
        raise _field(field, "invalid", f"the {field} must be a URL without {what}")


def check_role(org_id: str, role: str) -> None:
    if role == permissions.Role.OWNER:
        raise _field("default_role", "owner is never granted by a sign-in", "a first sign-in never makes an owner")
    if not permissions.builtin(role) and role_data.get(org_id, role) is None:
        raise _field("default_role", "unknown role", f"no role '{role}' in this organization")


def claims(org_id: str, wanted: list[str], held: list[str]) -> list[db.Op]:
    """Claims of the domains new to the org (409 `domain_taken` for another active org's)."""
    new = [d for d in wanted if d not in held]
    holders = data.domain_holders(new) if new else {}
    others = {holders[d] for d in new if d in holders and holders[d] != org_id}
    active = org_data.active_orgs(others) if others else {}
    ops: list[db.Op] = []
    for domain in new:
        holder = holders.get(domain)
        if holder is not None and holder != org_id and holder in active:
            raise data.domain_taken(domain)
        stale = holder if holder is not None and holder != org_id else None
        ops.append(data.claim_domain(org_id, domain, stale_holder=stale))
    return ops


def saml_domains(org_id: str) -> list[str]:
    """The domains the org's SAML configuration claims (domain/sso_saml.py): a claim both
    methods hold is released only when neither does."""
    rec = sso_saml.config(org_id)
    return rec.domains if rec is not None else []


def config_ops(
    org_id: str, domains: list[str], held: list[str], kept: list[str], *, role: str, previous_role: str | None
) -> list[db.Op]:
    """What a single sign-on configuration's write (OIDC or SAML) carries beside its record: the
    org active, claims of its new `domains`, releases of the `held` ones it gives up that the org's
    other method does not keep (`kept`), and the default role's use moved from `previous_role`."""
    ops = [org_data.guard(org_id), *claims(org_id, domains, held + kept)]
    ops += [data.release_domain(org_id, d) for d in held if d not in domains and d not in kept]
    deltas: dict[str, int] = {role: 1}
    if previous_role is not None:
        deltas[previous_role] = deltas.get(previous_role, 0) - 1
    return [*ops, *roles.uses(org_id, deltas)]


def put_config(access: OrgAccess, body: OidcConfigPut) -> OidcConfig:
    """Create or replace the org's OIDC configuration (`sso.manage`)."""
    org = access.org
    _check_issuer(body.issuer)
    check_role(org.id, body.default_role)
    domains = sorted(set(body.domains))
    previous = data.config(org.id)
    held = previous.domains if previous else []
    kept = saml_domains(org.id)
    ops = config_ops(
        org.id, domains, held, kept, role=body.default_role, previous_role=previous.default_role if previous else None
    )
    now = clock.now_iso()
    sealed = crypto.seal(body.client_secret.get_secret_value().encode(), _context(org.id), settings().kms_key_id)
    rec = OidcConfigRecord(
        org_id=org.id,
        issuer=body.issuer,
        client_id=body.client_id,
        sealed_secret=sealed,
        domains=domains,
        default_role=body.default_role,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        version=previous.version + 1 if previous else 1,
    )
    ops.append(data.put_config(rec, previous=previous))
    chain.transact(
        ops,
        audit=audit.event(
            "sso.oidc_configured",
            scope_id=org.id,
            resource_type="sso_config",
            resource_id=f"{org.id}:oidc",
            metadata={
                "issuer": rec.issuer,
                "client_id": rec.client_id,
                "domains": domains,
                "default_role": rec.default_role,
                "created": previous is None,
            },
        ),
    )
    return _view(rec)


def get_config(access: OrgAccess) -> OidcConfig:
    """The org's OIDC configuration, without its secret (`sso.manage`)."""
    rec = data.config(access.org.id)
    if rec is None:
        raise _not_configured()
    return _view(rec)


def delete_config(access: OrgAccess) -> None:
    """Remove the org's OIDC configuration and its domain claims (`sso.manage`). Members stay."""
    rec = data.config(access.org.id)
    if rec is None:
        raise _not_configured()
    chain.transact(
        [
            data.delete_config(rec),
            *(data.release_domain(rec.org_id, d) for d in rec.domains if d not in saml_domains(rec.org_id)),
            *roles.uses(rec.org_id, {rec.default_role: -1}),
        ],
        audit=audit.event(
            "sso.oidc_removed",
            scope_id=rec.org_id,
            resource_type="sso_config",
            resource_id=f"{rec.org_id}:oidc",
            metadata={"issuer": rec.issuer, "domains": rec.domains},
        ),
    )


# --------------------------------------------------------------------------- domain lookup


def _active(org_id: str) -> OrgRecord | None:
    org = org_data.get(org_id)
    return org if org is not None and org.status == "active" else None


def by_domain(domain: str) -> SsoDiscovery:
    """Which org an email domain signs in with (404 when none)."""
    wanted = domain.lower()
    holder = data.domain_holder(wanted)
    oidc = data.config(holder) if holder is not None and _active(holder) is not None else None
    saml = sso_saml.config(holder) if holder is not None and _active(holder) is not None else None
    methods: list[Literal["oidc", "saml"]] = []
    if oidc is not None and wanted in oidc.domains:
        methods.append("oidc")
    if saml is not None and wanted in saml.domains:
        methods.append("saml")
    if holder is None or not methods:
        raise NotFound("no single sign-on for this domain")
    return SsoDiscovery(org_id=holder, methods=methods)


# --------------------------------------------------------------------------- sign-in


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class Started:
    location: str  # the issuer's authorization endpoint with this sign-in's parameters
    binding: str  # the browser binding: the value of the sr_sso cookie


def authorize(org_ref: str, return_to: str | None) -> Started:
    """Start a sign-in with the org's issuer (404 when the org has no single sign-on)."""
    org = org_data.resolve(org_ref)
    rec = data.config(org.id) if org is not None and org.status == "active" else None
    if org is None or rec is None:
        raise _not_configured()
    discovery = oidc_rp.discover(rec.issuer)
    state, nonce, binding = (secrets.token_urlsafe(32) for _ in range(3))
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-] (RFC 7636: 43-128)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    data.put_state(
        StateRecord(
            state_hash=_sha256(state),
            org_id=org.id,
            nonce=nonce,
            verifier=verifier,
            binding_hash=_sha256(binding),
            return_to=return_to,
            expires_at=int(clock.now().timestamp()) + STATE_TTL,
        )
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": rec.client_id,
            "redirect_uri": redirect_uri(),
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    endpoint = discovery.authorization_endpoint
    return Started(location=f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", binding=binding)


@dataclass(frozen=True, slots=True)
class SignedIn:
    result: LoginResult
    return_to: str | None  # a console path to redirect to, or None: answer JSON


def _state(state: str, binding: str | None) -> StateRecord:
    rec = data.state(_sha256(state))
    if rec is None or rec.expires_at <= int(clock.now().timestamp()):
        raise data.used_state()
    if not binding or not hmac.compare_digest(_sha256(binding), rec.binding_hash):
        raise Invalid(
            "this sign-in was started in another browser (the sr_sso cookie is missing or another's)",
            code="invalid_state",
        )
    return rec


def _identity(rec: StateRecord, cfg: OidcConfigRecord, code: str) -> dict[str, object]:
    """The checked claims of the ID token the code is exchanged for."""
    discovery = oidc_rp.discover(cfg.issuer)
    secret = crypto.unseal(cfg.sealed_secret, _context(cfg.org_id)).decode()
    token = oidc_rp.exchange(
        discovery,
        code=code,
        redirect_uri=redirect_uri(),
        client_id=cfg.client_id,
        client_secret=secret,
        verifier=rec.verifier,
    )
    keys = oidc_rp.keys_for(discovery.jwks_uri, token)
    claims = oidc_rp.check_id_token(token, keys=keys, issuer=cfg.issuer, client_id=cfg.client_id, nonce=rec.nonce)
    return {**claims, "email": accepted_email(claims, cfg.domains)}


def accepted_email(claims: dict[str, object], domains: list[str]) -> str:
    """The token's email, lower-cased, if the issuer verified it and its domain is one of `domains`."""
    if claims.get("email_verified") is not True:
        raise Unauthorized("the identity provider has not verified this email address", code="email_not_verified")
    email = str(claims.get("email") or "").lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or domain not in domains:
        raise Unauthorized("this email's domain does not sign in to this organization", code="domain_not_allowed")
    return email


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an identity provider vouches for: `issuer` and `subject` name the account it
    provisions; `email` has been accepted for the org's domains."""

    issuer: str
    subject: str
    email: str
    name: str | None
    via: str  # sso_oidc / sso_saml


def _user(who: Identity, consume: list[db.Op]) -> tuple[User, bool]:
    """The user of (issuer, subject), provisioned on a first sign-in (with `consume` in its
    transaction: True then). An account holding the email by other means is not taken over."""
    known = users.by_identity(who.issuer, who.subject)
    if known is not None:
        return known, False
    if users.by_email(who.email) is not None:
        raise Conflict(
            "an account with this email exists already: sign in to it as before (single sign-on does not take "
            "over an account it did not create)",
            code="account_exists",
        )
    name = (who.name or who.email.split("@", 1)[0])[:100]
    with acting_as(Principal(type="system", id="signup", via=who.via)):
        user = users.create(
            who.email, name, issuer=who.issuer, subject=who.subject, via=who.via, verified=False, extra=consume
        )
    metrics.add_metric(name="SsoUsersProvisioned", unit="Count", value=1)
    return user, True


def _as_user(user: User, via: str) -> Principal:
    return Principal(type="user", id=user.id, email=user.email, email_verified=user.email_verified, via=via)


def _join(org: OrgRecord, default_role: str, user: User, ops: list[db.Op], via: str) -> bool:
    """The membership of a first sign-in into the org, with the default role; `ops` join its
    transaction. False when the user is a member already (nothing written)."""
    if org_data.membership(org.id, user.id) is not None:
        return False
    member = MembershipRecord(
        org_id=org.id, user_id=user.id, email=user.email, role=default_role, joined_at=clock.now_iso()
    )
    already = Conflict("already a member", code="already_member")
    at = clock.now_iso()

    def attempt(released: list[InvitationRecord]) -> None:
        """The membership, counted against `members`, releasing the expired invitations given."""
        joins, note = plans.joins_releasing(org, default_role, released, at)
        metadata = {"role": default_role, "via": via, **note}
        with acting_as(_as_user(user, via)):
            chain.transact(
                [*joins, org_data.add_member(member, on_fail=already), *ops],
                audit=audit.event(
                    "member.joined", scope_id=org.id, resource_type="member", resource_id=user.id, metadata=metadata
                ),
            )

    try:
        plans.create_releasing(attempt, lambda: invitations.expired_pending(org.id, at, limit=plans.RELEASE_AT_MOST))
    except Conflict as exc:
        if exc.code != "already_member":
            raise
        return False  # a concurrent first sign-in added it
    metrics.add_metric(name="SsoMembershipsProvisioned", unit="Count", value=1)
    return True


def sign_in(org: OrgRecord, default_role: str, who: Identity, consume: list[db.Op]) -> LoginResult:
    """The user (provisioned on a first sign-in), the membership (default role, on a first
    sign-in into the org) and a session, as password login starts one. `consume` (what makes the
    sign-in single-use) joins the first of these transactions: a replay writes nothing."""
    user, consumed = _user(who, consume)
    joined = _join(org, default_role, user, [] if consumed else consume, who.via)
    consumed = consumed or joined
    now = clock.now()
    session = accounts.new_session(user, now)
    with acting_as(_as_user(user, who.via)):
        chain.transact(
            [session.op, *([] if consumed else consume)],
            audit=audit.event(
                "user.login",
                scope_id=user.id,
                resource_type="user",
                resource_id=user.id,
                metadata={"via": who.via, "org_id": org.id, "session_id": session.id},
            ),
        )
    logger.info("sso sign-in", extra={"org_id": org.id, "first_in_org": joined, "via": who.via})
    metrics.add_metric(name="SsoLogins", unit="Count", value=1)
    return session.result(user)


def callback(code: str | None, state: str, binding: str | None, *, idp_error: str | None = None) -> SignedIn:
    """End a sign-in: see the module docstring. Every refusal is 400 (`invalid_state`) or 401
    (`idp_refused`, `invalid_id_token`, `sso_code_refused`, `email_not_verified`,
    `domain_not_allowed`) or 409 (`account_exists`), and writes nothing."""
    rec = _state(state, binding)
    if idp_error is not None or not code:
        raise Unauthorized("the identity provider did not sign you in", code="idp_refused")
    org = _active(rec.org_id)
    cfg = data.config(rec.org_id) if org is not None else None
    if org is None or cfg is None:
        raise _not_configured()
    claims = _identity(rec, cfg, code)
    who = Identity(
        issuer=cfg.issuer,
        subject=str(claims["sub"]),
        email=str(claims["email"]),
        name=str(claims["name"]) if claims.get("name") else None,
        via=VIA,
    )
    result = sign_in(org, cfg.default_role, who, [data.consume_state(rec.state_hash)])
    return SignedIn(result=result, return_to=rec.return_to)


def console_location(return_to: str) -> str:
    return settings().console_url.rstrip("/") + return_to
