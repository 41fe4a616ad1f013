"""The one choke point that decides every request.

`admit` runs for every authenticated request, before its route: it applies what the credential
is narrowed to on every route, identity routes included (below, "What a credential may call").
Then the org-scoped routes resolve the org/project/environment the caller names (ID or slug),
check membership (non-members get 404, never 403), then the permission against the caller's
role (403 naming the permission).

A service token is not a member: it sees its own org, project and environment (anything else is
404) and holds exactly its permissions there (`secrets.read`, maybe `secrets.write`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from strongroom import clock
from strongroom.context import MUTATING, Principal, principal
from strongroom.data import approval_requests as request_data
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data import roles as role_data
from strongroom.data.orgs import OrgRecord
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.errors import Forbidden, NotFound
from strongroom.observability import logger
from strongroom.security import permissions

SERVICE_TOKEN_ROLE = "service_token"  # noqa: S105 - a role name
# What a service token needs to reach its environment (the scope checks below do the rest).
_TOKEN_NAVIGATION = frozenset({"org.read", "projects.read"})
_WRITE_PERMISSIONS = frozenset(
    p.name
    for p in permissions.CATALOG
    if p.name not in {"org.read", "members.read", "projects.read", "secrets.read", "shared_secrets.read", "audit.read"}
)


@dataclass(frozen=True, slots=True)
class OrgAccess:
    principal: Principal
    org: OrgRecord
    role: str
    # What the role holds (permission -> scope): a custom role's, read with the membership; None
    # for a built-in role (the matrix decides).
    grants: dict[str, permissions.Scope] | None = field(default=None, kw_only=True)

    def holds(self) -> dict[str, permissions.Scope]:
        """Everything the role holds (a service token: nothing grantable)."""
        if self.grants is not None:
            return self.grants
        return permissions.role_permissions(self.role) if permissions.builtin(self.role) else {}

    def allows(self, permission: str, env: EnvironmentRecord | None = None) -> bool:
        """The one decision: the role's (or the token's) permission, else, for a user on one
        environment, a temporary grant an approved access request gave them there (read at each
        decision: an expired grant stops at once)."""
        if self.principal.read_only and permission in _WRITE_PERMISSIONS:
            return False
        if self.role_allows(permission, env):
            return True
        return (
            env is not None
            and self.principal.type == "user"
            and permission in TEMPORARY_PERMISSIONS
            and temporary_grant(self.org.id, self.principal.id, env.id, permission)
        )

    def role_allows(self, permission: str, env: EnvironmentRecord | None = None) -> bool:
        """What the role (or the service token) holds, without temporary grants: what an approver
        must hold to grant it (nobody grants a permission they lack)."""
        if self.principal.read_only and permission in _WRITE_PERMISSIONS:
            return False
        if self.principal.type == "service_token":
            if permission in _TOKEN_NAVIGATION:
                return True
            in_scope = env is None or env.id == self.principal.environment_id
            return in_scope and permission in self.principal.permissions
        scope = permissions.scope_of(self.role, permission) if self.grants is None else self.grants.get(permission)
        if permissions.CATALOG_BY_NAME[permission].environment_scoped:
            if env is None:
                return scope is not None
            return permissions.scope_allows(scope, env_slug=env.slug, production=env.production)
        return scope is not None

    def sees(self, *, project_id: str | None = None, environment_id: str | None = None) -> bool:
        """Whether a project or environment is within the credential's scope (a service token sees
        its own project and environment only; everything else answers as missing)."""
        who = self.principal
        if project_id is not None and who.project_id is not None and project_id != who.project_id:
            return False
        return environment_id is None or who.environment_id is None or environment_id == who.environment_id

    def require(self, permission: str, env: EnvironmentRecord | None = None) -> None:
        if not self.allows(permission, env):
            where = f" in environment '{env.slug}'" if env else ""
            raise Forbidden(
                f"your role ({self.role}) lacks '{permission}'{where}",
                details={"permission": permission, "role": self.role},
            )


# What an approved access request may grant on one environment (domain/access_requests.py). A
# `secrets.write` grant also reads: writing implies reading.
TEMPORARY_PERMISSIONS = frozenset({"secrets.read", "secrets.write"})


def temporary_grant(org_id: str, user_id: str, env_id: str, permission: str) -> bool:
    """Whether an unexpired temporary grant gives the user `permission` on the environment now."""
    now = clock.now_iso()
    return any(
        expires_at > now and held in (permission, "secrets.write")
        for held, expires_at in request_data.grants_held(org_id, user_id, env_id)
    )


@dataclass(frozen=True, slots=True)
class ProjectAccess(OrgAccess):
    project: ProjectRecord


@dataclass(frozen=True, slots=True)
class EnvironmentAccess(ProjectAccess):
    environment: EnvironmentRecord


def role_grants(org_id: str, role: str) -> dict[str, permissions.Scope] | None:
    """None for a built-in role; what a custom role holds (`permissions.effective`; a role gone:
    what every member holds)."""
    if permissions.builtin(role):
        return None
    found = role_data.get(org_id, role)
    return permissions.effective(dict(found.permissions) if found else {})


def org_access(org_ref: str, permission: str) -> OrgAccess:
    who = principal()
    org = org_data.resolve(org_ref)
    if org is None or (who.org_ids is not None and org.id not in who.org_ids):
        raise NotFound("organization not found")
    if who.type == "service_token":
        role = SERVICE_TOKEN_ROLE
    else:
        membership = org_data.membership(org.id, who.id) if who.type == "user" else None
        if membership is None:
            raise NotFound("organization not found")
        role = membership.role
    logger.append_keys(org_id=org.id)
    _two_factor_gate(who, org, role, permission)
    grants = None if who.type == "service_token" else role_grants(org.id, role)
    access = OrgAccess(principal=who, org=org, role=role, grants=grants)
    access.require(permission)
    return access


# What an owner without 2FA may still do in an org that requires it: read the org, and PATCH it
# (to turn the policy off).
_OWNER_WITHOUT_2FA = frozenset({"org.read", "org.update"})


def _two_factor_gate(who: Principal, org: OrgRecord, role: str, permission: str) -> None:
    """An org with `require_2fa` admits only members whose TOTP second factor is on (403
    `2fa_required`), but for its owners reading and PATCHing the org itself. Service tokens are not
    members and are not asked (their scope is one environment; docs/decisions.md)."""
    if not org.require_2fa or who.type != "user" or who.two_factor:
        return
    if role == "owner" and permission in _OWNER_WITHOUT_2FA:
        return
    raise Forbidden(
        "this organization requires two-factor authentication: turn it on (POST /v1/me/2fa/setup)",
        code="2fa_required",
    )


def project_access(org_ref: str, project_ref: str, permission: str) -> ProjectAccess:
    base = org_access(org_ref, "projects.read")
    project = project_data.resolve(base.org.id, project_ref)
    if project is None or not base.sees(project_id=project.id):
        raise NotFound("project not found")
    access = ProjectAccess(principal=base.principal, org=base.org, role=base.role, grants=base.grants, project=project)
    access.require(permission)
    return access


def environment_access(org_ref: str, project_ref: str, env_ref: str, permission: str) -> EnvironmentAccess:
    base = project_access(org_ref, project_ref, "projects.read")
    env = project_data.resolve_environment(base.org.id, base.project.id, env_ref)
    if env is None or not base.sees(environment_id=env.id):
        raise NotFound("environment not found")
    access = EnvironmentAccess(
        principal=base.principal,
        org=base.org,
        role=base.role,
        grants=base.grants,
        project=base.project,
        environment=env,
    )
    access.require(permission, env)
    return access


# --------------------------------------------------------------------------- what a credential may call

ORG_ROUTES = "/v1/orgs/{org}"  # and everything under it: org_access applies the narrowing
RUNTIME_ROUTES = "/runtime/"  # service tokens only (domain/runtime.py)
ADMIN_ROUTES = "/v1/admin/"  # platform admins only (security/platform_admin.py), before any validation
SCIM_ROUTES = "/scim/v2"  # SCIM tokens only, and SCIM tokens nowhere else (domain/scim_tokens.py)
AGENT_ROUTES = "/v1/agents/"  # agents only (their own ID), and agents nowhere else (domain/agents.py)


class Audience(StrEnum):
    """Who may call a route outside an org (the account's own routes)."""

    ANYONE = "anyone"  # any authenticated principal
    USER = "user"  # a user, with any credential, however narrowed
    FULL = "full"  # a user with an unnarrowed credential: every org, reading and writing
    SIGNED_IN = "signed_in"  # a user signed in directly (OIDC, session, dev), never with a token


# Every route that is neither public, nor under /v1/orgs/{org}, nor the runtime API (a test walks the
# route table): a narrowed credential reads the account and its own orgs, and manages nothing.
ACCOUNT_ROUTES: dict[str, Audience] = {
    # platform admin (issue #18): unnarrowed credentials of the platform's admins only (admit)
    "GET /v1/admin/stats": Audience.FULL,
    "GET /v1/admin/orgs": Audience.FULL,
    "GET /v1/admin/orgs/{org}": Audience.FULL,
    "PATCH /v1/admin/orgs/{org}": Audience.FULL,
    "GET /v1/admin/plans": Audience.FULL,
    "PUT /v1/admin/plans/{plan}": Audience.FULL,
    "GET /v1/admin/metrics/summary": Audience.FULL,
    "GET /v1/me": Audience.USER,
    "PATCH /v1/me": Audience.FULL,
    "GET /v1/me/permissions": Audience.USER,  # in one of its orgs (org_access)
    "GET /v1/me/keys": Audience.USER,  # the caller's own end-to-end key pairs
    "PUT /v1/me/keys": Audience.FULL,
    "GET /v1/orgs": Audience.USER,  # its orgs only
    "POST /v1/orgs": Audience.FULL,
    "POST /v1/invitations/{token}/accept": Audience.FULL,
    "GET /v1/permissions": Audience.ANYONE,
    "GET /v1/auth/tokens": Audience.FULL,
    "POST /v1/auth/tokens": Audience.SIGNED_IN,
    "DELETE /v1/auth/tokens/{id}": Audience.FULL,
    "POST /v1/auth/device/approve": Audience.SIGNED_IN,
    "POST /v1/auth/logout": Audience.SIGNED_IN,  # a session's own (domain/accounts.py)
    "POST /v1/auth/change-password": Audience.SIGNED_IN,
    "POST /v1/auth/send-verification": Audience.FULL,  # a mail to the account's own address
    # The second factor: a user signed in directly, never a token (domain/two_factor.py).
    "POST /v1/me/2fa/setup": Audience.SIGNED_IN,
    "POST /v1/me/2fa/enable": Audience.SIGNED_IN,
    "DELETE /v1/me/2fa": Audience.SIGNED_IN,
}
_TOKEN_VIAS = frozenset({"pat", "service_token"})


def _scim_realm(who: Principal, path: str) -> bool:
    """Whether a SCIM token calls SCIM (nothing more to check here); 403 for a SCIM token anywhere
    else, and for anyone else on SCIM."""
    if (who.type == "scim_token") != path.startswith(SCIM_ROUTES):
        if who.type == "scim_token":
            raise Forbidden("a SCIM token works on /scim/v2 only", code="scim_token")
        raise Forbidden("/scim/v2 takes a SCIM token (sr_scim_…) only", code="scim_token_required")
    return who.type == "scim_token"


def _agent_realm(who: Principal, path: str) -> bool:
    """Whether an agent calls its routes (nothing more to check here); 403 for an agent anywhere
    else, and for anyone else on them."""
    if (who.type == "agent") != path.startswith(AGENT_ROUTES):
        if who.type == "agent":
            raise Forbidden("an agent works on /v1/agents/{its id} only", code="agent_only")
        raise Forbidden("/v1/agents/… takes an agent's secret (sr_agt_…) only", code="agent_required")
    return who.type == "agent"


def narrowed(who: Principal) -> bool:
    """The credential does less than its user could: limited to some orgs, or to reading."""
    return who.org_ids is not None or who.read_only


def admit(who: Principal, method: str, route_key: str) -> None:
    """Refuse what the credential's narrowing excludes, on any route (403; the resource is not
    looked at, so nothing about it is revealed):
    - a read-only credential (read-only PAT, reading service token) mutates nothing, anywhere;
    - on an org's routes, org_access answers 404 outside the credential's orgs;
    - on the account's routes, ACCOUNT_ROUTES says who may call (a route missing there: FULL);
    - `/scim/v2` admits SCIM tokens only, and a SCIM token is admitted nowhere else;
    - `/v1/agents/…` admits agents only, and an agent is admitted nowhere else;
    - `/v1/admin/` admits platform admins only."""
    path = route_key.partition(" ")[2]
    if _scim_realm(who, path):
        return
    if who.read_only and method.upper() in MUTATING:
        raise Forbidden("this token is read-only", code="read_only_token")
    if _agent_realm(who, path):
        return
    if path.startswith((ORG_ROUTES, RUNTIME_ROUTES)):
        return
    _account_route(who, route_key)
    if path.startswith(ADMIN_ROUTES):
        from strongroom.security import platform_admin  # noqa: PLC0415 - admin requests only

        platform_admin.admitted(who)


def _account_route(who: Principal, route_key: str) -> None:
    """The account's routes (and platform admin's): ACCOUNT_ROUTES says who may call."""
    audience = ACCOUNT_ROUTES.get(route_key, Audience.FULL)
    if audience is Audience.ANYONE:
        return
    if who.type != "user":
        raise Forbidden("this endpoint is for users; service tokens use /runtime/v1", code="user_required")
    if audience is Audience.FULL and narrowed(who):
        raise Forbidden(
            "this token is narrowed to some orgs or to reading: it cannot manage your account, your "
            "tokens or your memberships",
            code="narrowed_token",
        )
    if audience is Audience.SIGNED_IN and (narrowed(who) or who.via in _TOKEN_VIAS):
        raise Forbidden("this needs a user signed in directly, not a token", code="signed_in_user_required")
