"""The built-in roles matrix, as design.md states it (the expected table is written out here,
not derived from the code under test)."""

from __future__ import annotations

import pytest

from strongroom import permissions

ROLES = ("owner", "admin", "developer", "viewer")
# permission -> which roles hold it at all (design.md, "Authorization")
HOLDERS = {
    "secrets.write": {"owner", "admin", "developer"},
    "templates.manage": {"owner", "admin"},
    "members.manage": {"owner", "admin"},
    "tokens.manage": {"owner", "admin"},
    "webhooks.manage": {"owner", "admin"},
    "projects.delete": {"owner"},
    "encryption.manage": {"owner"},
    "org.delete": {"owner"},
    "org.transfer": {"owner"},
    "audit.read": {"owner", "admin"},
    "org.read": set(ROLES),
    "projects.read": set(ROLES),
}

# (role, environment slug, production?) -> may read secrets
READ_CASES = [
    ("owner", "production", True, True),
    ("admin", "production", True, True),
    ("developer", "production", True, False),
    ("developer", "staging", False, True),
    ("developer", "development", False, True),
    ("viewer", "development", False, True),
    ("viewer", "staging", False, False),
    ("viewer", "production", True, False),
    ("viewer", "qa", False, False),
]
WRITE_CASES = [
    ("owner", "production", True, True),
    ("admin", "production", True, True),
    ("developer", "production", True, False),
    ("developer", "staging", False, True),
    ("viewer", "development", False, False),
]


@pytest.mark.parametrize(("permission", "holders"), sorted(HOLDERS.items()))
def test_who_holds_what(permission: str, holders: set[str]) -> None:
    held = {role for role in ROLES if permissions.scope_of(role, permission) is not None}
    assert held == holders


@pytest.mark.parametrize(("role", "slug", "production", "allowed"), READ_CASES)
def test_reading_secrets_by_environment(role: str, slug: str, production: bool, allowed: bool) -> None:
    scope = permissions.scope_of(role, "secrets.read")
    assert permissions.scope_allows(scope, env_slug=slug, production=production) is allowed


@pytest.mark.parametrize(("role", "slug", "production", "allowed"), WRITE_CASES)
def test_writing_secrets_by_environment(role: str, slug: str, production: bool, allowed: bool) -> None:
    scope = permissions.scope_of(role, "secrets.write")
    assert permissions.scope_allows(scope, env_slug=slug, production=production) is allowed


def test_a_production_environment_named_development_is_still_production() -> None:
    scope = permissions.scope_of("viewer", "secrets.read")
    assert permissions.scope_allows(scope, env_slug="development", production=True) is False


@pytest.mark.parametrize(
    ("granter", "role", "allowed"),
    [
        ("owner", "owner", True),
        ("owner", "admin", True),
        ("admin", "owner", False),
        ("admin", "admin", True),
        ("admin", "developer", True),
        ("developer", "viewer", False),
        ("developer", "developer", False),
        ("viewer", "viewer", False),
        ("admin", "superuser", False),
    ],
)
def test_nobody_grants_above_themselves_and_only_owners_touch_owners(granter: str, role: str, allowed: bool) -> None:
    assert permissions.can_grant(granter, role) is allowed


def test_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        permissions.scope_of("owner", "secrets.explode")


def test_every_catalog_permission_is_held_by_the_owner() -> None:
    assert all(permissions.scope_of("owner", p.name) == "all" for p in permissions.CATALOG)
