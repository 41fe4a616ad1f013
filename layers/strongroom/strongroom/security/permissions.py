"""The permission catalog and the built-in roles matrix (docs/design.md, "Authorization").

Environment-scoped permissions carry a scope: `all`, `non_production` (any environment not
flagged production) or `development` (the environment whose slug is `development`, and its
descendants are not included).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Scope = Literal["all", "non_production", "development"]


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2, Role.OWNER: 3}


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    description: str
    environment_scoped: bool = False


CATALOG: tuple[Permission, ...] = (
    Permission("org.read", "See the organization and its settings"),
    Permission("org.update", "Rename the organization or change its settings"),
    Permission("org.delete", "Delete the organization and everything in it"),
    Permission("org.transfer", "Transfer ownership of the organization"),
    Permission("members.read", "List members and their roles"),
    Permission("members.manage", "Invite members, change roles, remove members"),
    Permission("roles.manage", "Create and change custom roles"),
    Permission("projects.read", "See projects and their environments"),
    Permission("projects.create", "Create projects"),
    Permission("projects.update", "Rename projects, manage environments"),
    Permission("projects.delete", "Delete projects and everything in them"),
    Permission("templates.manage", "Manage the required-keys template of a project"),
    Permission("secrets.read", "Read secret values", environment_scoped=True),
    Permission("secrets.write", "Create, change, delete and promote secrets", environment_scoped=True),
    Permission("tokens.manage", "Create, rotate and revoke service tokens"),
    Permission("identities.manage", "Create and manage machine identities (keyless workload sign-in)"),
    Permission("webhooks.manage", "Create and manage webhooks"),
    Permission("audit.read", "Read and export the audit log"),
    Permission("encryption.manage", "Bring your own KMS key; rotate keys"),
    Permission("sso.manage", "Configure single sign-on for the organization"),
    Permission("scim.manage", "Create and revoke SCIM provisioning tokens"),
    Permission("policies.manage", "Create and change approval policies (access requests, change requests)"),
    Permission("agents.manage", "Mint and revoke agents, run jobs on them, see what they discovered"),
    Permission("shared_secrets.read", "Read the organization's shared secrets (and expand `${shared.KEY}`)"),
    Permission("shared_secrets.write", "Create, change and delete the organization's shared secrets"),
    Permission("integrations.manage", "Create and delete integrations that push environments elsewhere; force syncs"),
)
CATALOG_BY_NAME = {p.name: p for p in CATALOG}

_EVERYONE = {"org.read", "members.read", "projects.read", "shared_secrets.read"}
_ADMIN = {
    *_EVERYONE,
    "org.update",
    "members.manage",
    "roles.manage",
    "projects.create",
    "projects.update",
    "templates.manage",
    "tokens.manage",
    "identities.manage",
    "webhooks.manage",
    "audit.read",
    "scim.manage",
    "policies.manage",
    "agents.manage",
    "shared_secrets.write",
    "integrations.manage",
}
_OWNER = {*_ADMIN, "org.delete", "org.transfer", "projects.delete", "encryption.manage", "sso.manage"}

# permission -> scope, per built-in role
MATRIX: dict[Role, dict[str, Scope]] = {
    Role.OWNER: {**dict.fromkeys(_OWNER, "all"), "secrets.read": "all", "secrets.write": "all"},
    Role.ADMIN: {**dict.fromkeys(_ADMIN, "all"), "secrets.read": "all", "secrets.write": "all"},
    Role.DEVELOPER: {
        **dict.fromkeys(_EVERYONE, "all"),
        "secrets.read": "non_production",
        "secrets.write": "non_production",
    },
    Role.VIEWER: {**dict.fromkeys(_EVERYONE, "all"), "secrets.read": "development"},
}


def scope_of(role: str, permission: str) -> Scope | None:
    """The scope in which `role` holds `permission`, or None."""
    if permission not in CATALOG_BY_NAME:
        raise ValueError(f"unknown permission {permission!r}")
    try:
        return MATRIX[Role(role)].get(permission)
    except ValueError:
        return None


def scope_allows(scope: Scope | None, *, env_slug: str | None, production: bool) -> bool:
    if scope is None:
        return False
    if scope == "all":
        return True
    if scope == "non_production":
        return not production
    return env_slug == "development" and not production


def can_grant(granter_role: str, role: str) -> bool:
    """Nobody grants a role above their own; only owners grant, change or remove owners."""
    try:
        granter, target = Role(granter_role), Role(role)
    except ValueError:
        return False
    if target is Role.OWNER:
        return granter is Role.OWNER
    return ROLE_RANK[granter] >= ROLE_RANK[target] and ROLE_RANK[granter] >= ROLE_RANK[Role.ADMIN]


def role_permissions(role: str) -> dict[str, Scope]:
    return dict(sorted(MATRIX[Role(role)].items()))


def builtin(role: str) -> bool:
    return role in Role.__members__.values()


# Custom roles (data/roles.py): each of their scopes is a subset of the next one's environments.
SCOPE_RANK: dict[Scope, int] = {"development": 0, "non_production": 1, "all": 2}
SCOPES: tuple[Scope, ...] = ("all", "non_production", "development")


def effective(grants: dict[str, Scope]) -> dict[str, Scope]:
    """What a custom role holding `grants` holds: every member sees the org (`org.read`), and a
    role holding an environment-scoped permission sees the projects (`projects.read`), without
    which it would reach no environment."""
    implied: dict[str, Scope] = {"org.read": "all"}
    if any(CATALOG_BY_NAME[p].environment_scoped for p in grants if p in CATALOG_BY_NAME):
        implied["projects.read"] = "all"
    known = {p: s for p, s in grants.items() if p in CATALOG_BY_NAME}
    return dict(sorted({**implied, **known}.items()))


def covers(held: dict[str, Scope], wanted: dict[str, Scope]) -> bool:
    """Whether `held` includes every permission of `wanted`, each at a scope at least as wide."""
    return all(p in held and SCOPE_RANK[held[p]] >= SCOPE_RANK[s] for p, s in wanted.items())


def may_grant(granter_role: str, granter: dict[str, Scope], role: str, grants: dict[str, Scope]) -> bool:
    """Whether a holder of `granter_role` (holding `granter`) may grant, change or remove `role`
    (holding `grants`): between built-in roles `can_grant`; with a custom role on either side,
    nobody grants a permission or scope they lack, and only owners grant owners."""
    if builtin(granter_role) and builtin(role):
        return can_grant(granter_role, role)
    if role == Role.OWNER:
        return granter_role == Role.OWNER
    return covers(granter, grants)
