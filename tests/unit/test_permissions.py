"""The built-in roles matrix, exactly as docs/design.md ("Authorization") states it. The expected
table is written out here from the design, never derived from the code under test."""

from __future__ import annotations

import itertools

import pytest

from strongroom.security import permissions

ROLES = ("owner", "admin", "developer", "viewer")
ALL, NON_PROD, DEV, NO = "all", "non_production", "development", None

# permission -> scope held by (owner, admin, developer, viewer)
DESIGN_TABLE = {
    # read secrets: all envs | all envs | non-production envs | development only
    "secrets.read": (ALL, ALL, NON_PROD, DEV),
    # write / promote secrets: yes | yes | yes (non-production) | no
    "secrets.write": (ALL, ALL, NON_PROD, NO),
    # manage templates, members, tokens, webhooks: yes | yes | no | no
    "templates.manage": (ALL, ALL, NO, NO),
    "members.manage": (ALL, ALL, NO, NO),
    "tokens.manage": (ALL, ALL, NO, NO),
    "webhooks.manage": (ALL, ALL, NO, NO),
    # delete projects, BYOK, delete org, transfer ownership: owner only
    "projects.delete": (ALL, NO, NO, NO),
    "encryption.manage": (ALL, NO, NO, NO),
    "org.delete": (ALL, NO, NO, NO),
    "org.transfer": (ALL, NO, NO, NO),
    # view audit log: yes | yes | no | no
    "audit.read": (ALL, ALL, NO, NO),
}
# Where the table is silent: every member sees the org, its members and projects; shaping the
# org (settings, custom roles, projects) is administration.
BEYOND_THE_TABLE = {
    "org.read": (ALL, ALL, ALL, ALL),
    "members.read": (ALL, ALL, ALL, ALL),
    "projects.read": (ALL, ALL, ALL, ALL),
    "org.update": (ALL, ALL, NO, NO),
    "roles.manage": (ALL, ALL, NO, NO),
    "projects.create": (ALL, ALL, NO, NO),
    "projects.update": (ALL, ALL, NO, NO),
    # machine identities issue service tokens: managed as tokens are
    "identities.manage": (ALL, ALL, NO, NO),
    # Who signs in to the org and as what: an owner's decision, like its keys (design: "OIDC per org (owner)").
    "sso.manage": (ALL, NO, NO, NO),
    # SCIM tokens provision members (design: "SCIM … tokens …; admin").
    "scim.manage": (ALL, ALL, NO, NO),
    # Approval policies govern who approves access and changes (docs/decisions.md, "Governance").
    "policies.manage": (ALL, ALL, NO, NO),
    # Agents hold a credential and run jobs on a cluster: administered as tokens are (docs/decisions.md, "Agents").
    "agents.manage": (ALL, ALL, NO, NO),
    # Shared secrets (issue #15): read by every member who reads the org's projects, written by admins.
    "shared_secrets.read": (ALL, ALL, ALL, ALL),
    "shared_secrets.write": (ALL, ALL, NO, NO),
    "integrations.manage": (ALL, ALL, NO, NO),
}
EXPECTED = {**DESIGN_TABLE, **BEYOND_THE_TABLE}

CELLS = [(perm, role, scopes[i]) for perm, scopes in sorted(EXPECTED.items()) for i, role in enumerate(ROLES)]


def test_the_catalog_is_exactly_the_permissions_this_table_decides() -> None:
    assert {p.name for p in permissions.CATALOG} == set(EXPECTED)


def test_only_secret_permissions_are_scoped_by_environment() -> None:
    assert {p.name for p in permissions.CATALOG if p.environment_scoped} == {"secrets.read", "secrets.write"}


@pytest.mark.parametrize(("permission", "role", "scope"), CELLS)
def test_each_cell_of_the_matrix(permission: str, role: str, scope: str | None) -> None:
    assert permissions.scope_of(role, permission) == scope


@pytest.mark.parametrize("role", ROLES)
def test_the_published_permissions_of_each_role(role: str) -> None:
    i = ROLES.index(role)
    expected = {perm: scopes[i] for perm, scopes in EXPECTED.items() if scopes[i] is not None}
    assert permissions.role_permissions(role) == expected


# (environment slug, production flag)
ENVIRONMENTS = [
    ("development", False),
    ("staging", False),
    ("qa", False),
    ("production", True),
    ("prod-eu", True),
    ("development", True),  # flagged production: production wins over the name
]
READABLE = {
    "owner": {0, 1, 2, 3, 4, 5},
    "admin": {0, 1, 2, 3, 4, 5},
    "developer": {0, 1, 2},
    "viewer": {0},
}
WRITABLE = {
    "owner": {0, 1, 2, 3, 4, 5},
    "admin": {0, 1, 2, 3, 4, 5},
    "developer": {0, 1, 2},
    "viewer": set(),
}


@pytest.mark.parametrize(("role", "env"), list(itertools.product(ROLES, range(len(ENVIRONMENTS)))))
def test_reading_and_writing_secrets_by_environment(role: str, env: int) -> None:
    slug, production = ENVIRONMENTS[env]
    read = permissions.scope_of(role, "secrets.read")
    write = permissions.scope_of(role, "secrets.write")
    assert permissions.scope_allows(read, env_slug=slug, production=production) is (env in READABLE[role])
    assert permissions.scope_allows(write, env_slug=slug, production=production) is (env in WRITABLE[role])


def test_no_scope_allows_nothing() -> None:
    assert permissions.scope_allows(None, env_slug="development", production=False) is False


# --------------------------------------------------------------------------- granting roles

# granter -> the roles they may grant (invite as, change to, change from, remove)
GRANTS = {
    "owner": {"owner", "admin", "developer", "viewer"},
    "admin": {"admin", "developer", "viewer"},  # admins cannot create, change or remove owners
    "developer": set(),
    "viewer": set(),
}


@pytest.mark.parametrize(("granter", "role"), list(itertools.product(ROLES, ROLES)))
def test_can_grant(granter: str, role: str) -> None:
    assert permissions.can_grant(granter, role) is (role in GRANTS[granter])


@pytest.mark.parametrize(("granter", "role"), list(itertools.product(ROLES, ROLES)))
def test_nobody_grants_above_their_own_role(granter: str, role: str) -> None:
    if ROLES.index(role) < ROLES.index(granter):  # a higher role
        assert permissions.can_grant(granter, role) is False


@pytest.mark.parametrize(
    ("granter", "role"),
    [("owner", "superuser"), ("superuser", "viewer"), ("", "viewer"), ("owner", ""), ("Owner", "viewer")],
)
def test_unknown_roles_grant_and_are_granted_nothing(granter: str, role: str) -> None:
    assert permissions.can_grant(granter, role) is False


def test_an_unknown_role_holds_nothing() -> None:
    assert all(permissions.scope_of("superuser", p) is None for p in EXPECTED)


def test_an_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        permissions.scope_of("owner", "secrets.explode")


# --------------------------------------------------------------------------- custom roles


def test_a_scope_covers_the_narrower_ones_only() -> None:
    assert permissions.covers({"secrets.read": "all"}, {"secrets.read": "non_production"})
    assert permissions.covers({"secrets.read": "non_production"}, {"secrets.read": "development"})
    assert not permissions.covers({"secrets.read": "development"}, {"secrets.read": "non_production"})
    assert not permissions.covers({"secrets.read": "all"}, {"audit.read": "all"})
    assert permissions.covers({}, {})


def test_nobody_grants_a_custom_role_holding_more_than_they_do() -> None:
    auditor = {"audit.read": "all", "secrets.read": "non_production"}
    keys = {"encryption.manage": "all"}
    admin = permissions.role_permissions("admin")
    assert permissions.may_grant("admin", admin, "auditor", auditor)  # type: ignore[arg-type]
    assert not permissions.may_grant("admin", admin, "keys", keys)  # type: ignore[arg-type]
    assert permissions.may_grant("owner", permissions.role_permissions("owner"), "keys", keys)  # type: ignore[arg-type]
    # a custom role granting a built-in one: by what each holds; owners only by owners
    lead = {**permissions.role_permissions("developer"), "members.manage": "all"}
    assert permissions.may_grant("lead", lead, "viewer", permissions.role_permissions("viewer"))  # type: ignore[arg-type]
    assert not permissions.may_grant("lead", lead, "admin", admin)  # type: ignore[arg-type]
    assert not permissions.may_grant("lead", {**admin, **permissions.role_permissions("owner")}, "owner", {})  # type: ignore[arg-type]
    # between built-in roles the ranks decide, as before
    assert permissions.may_grant("admin", admin, "developer", {}) is permissions.can_grant("admin", "developer")


def test_the_data_layer_knows_the_built_in_roles() -> None:
    from strongroom.data import roles

    assert {r.value for r in permissions.Role} == roles.BUILT_IN
