"""The one choke point that decides every request: resolve the org/project/environment the
caller names (ID or slug), check membership (non-members get 404, never 403), then check the
permission against the caller's role (403 naming the permission).

A service token is not a member: it sees its own org, project and environment (anything else is
404) and holds exactly its permissions there (`secrets.read`, maybe `secrets.write`)."""

from __future__ import annotations

from dataclasses import dataclass

from strongroom import permissions
from strongroom.context import Principal, principal
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data.orgs import OrgRecord
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.errors import Forbidden, NotFound
from strongroom.observability import logger

SERVICE_TOKEN_ROLE = "service_token"  # noqa: S105 - a role name
# What a service token needs to reach its environment (the scope checks below do the rest).
_TOKEN_NAVIGATION = frozenset({"org.read", "projects.read"})
_WRITE_PERMISSIONS = frozenset(
    p.name
    for p in permissions.CATALOG
    if p.name not in {"org.read", "members.read", "projects.read", "secrets.read", "audit.read"}
)


@dataclass(frozen=True, slots=True)
class OrgAccess:
    principal: Principal
    org: OrgRecord
    role: str

    def allows(self, permission: str, env: EnvironmentRecord | None = None) -> bool:
        if self.principal.read_only and permission in _WRITE_PERMISSIONS:
            return False
        if self.principal.type == "service_token":
            if permission in _TOKEN_NAVIGATION:
                return True
            in_scope = env is None or env.id == self.principal.environment_id
            return in_scope and permission in self.principal.permissions
        scope = permissions.scope_of(self.role, permission)
        if permissions.CATALOG_BY_NAME[permission].environment_scoped:
            if env is None:
                return scope is not None
            return permissions.scope_allows(scope, env_slug=env.slug, production=env.production)
        return scope is not None

    def require(self, permission: str, env: EnvironmentRecord | None = None) -> None:
        if not self.allows(permission, env):
            where = f" in environment '{env.slug}'" if env else ""
            raise Forbidden(
                f"your role ({self.role}) lacks '{permission}'{where}",
                details={"permission": permission, "role": self.role},
            )


@dataclass(frozen=True, slots=True)
class ProjectAccess(OrgAccess):
    project: ProjectRecord


@dataclass(frozen=True, slots=True)
class EnvironmentAccess(ProjectAccess):
    environment: EnvironmentRecord


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
    access = OrgAccess(principal=who, org=org, role=role)
    access.require(permission)
    return access


def project_access(org_ref: str, project_ref: str, permission: str) -> ProjectAccess:
    base = org_access(org_ref, "projects.read")
    project = project_data.resolve(base.org.id, project_ref)
    if project is None or (base.principal.project_id is not None and project.id != base.principal.project_id):
        raise NotFound("project not found")
    access = ProjectAccess(principal=base.principal, org=base.org, role=base.role, project=project)
    access.require(permission)
    return access


def environment_access(org_ref: str, project_ref: str, env_ref: str, permission: str) -> EnvironmentAccess:
    base = project_access(org_ref, project_ref, "projects.read")
    env = project_data.resolve_environment(base.org.id, base.project.id, env_ref)
    if env is None:
        raise NotFound("environment not found")
    if base.principal.environment_id is not None and env.id != base.principal.environment_id:
        raise Forbidden("this token is for another environment", code="forbidden", details={"environment": env.slug})
    access = EnvironmentAccess(
        principal=base.principal, org=base.org, role=base.role, project=base.project, environment=env
    )
    access.require(permission, env)
    return access
