"""Where an org's shared secrets live, and who may read them (docs/decisions.md, 2026-12-07).

The shared secrets of an org are kept exactly as an environment's secrets are (snapshot, version
items, data keys: data/secrets.py), in a partition of their own, `ENV#shr_<the org's ID>`: a
pseudo-environment with a pseudo-project (`shared`), so that the one snapshot, change and
encryption machinery serves both. Its ID is derived from the org's (`shr_`, a prefix no
environment, not even a client-chosen one, can take), never stored, and costs no read. The
scope of its ciphertexts (AAD and KMS encryption context) is (org, `shared`, `shr_…`).

`${shared.KEY}` in an environment's value names the org's shared secret KEY. A member reads
(and expands) shared secrets with `shared_secrets.read`; a service token expands them in its own
environment's values when it may read that environment (the value's writer's rights are checked
as for any reference that leaves the environment).
"""

from __future__ import annotations

from strongroom import ids
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.security.access import OrgAccess

PREFIX = "shared."  # `${shared.KEY}`
PROJECT_ID = "shared"
SLUG = "shared"
READ = "shared_secrets.read"


def shared_id(org_id: str) -> str:
    """The org's shared pseudo-environment: `shr_` and the org ID's own 26 characters."""
    return "shr_" + org_id.partition("_")[2]


def is_shared(env: EnvironmentRecord) -> bool:
    return ids.is_id(env.id, "shr")


def environment(org_id: str) -> EnvironmentRecord:
    """The pseudo-environment holding the org's shared secrets (made, not read)."""
    return EnvironmentRecord(
        id=shared_id(org_id),
        org_id=org_id,
        project_id=PROJECT_ID,
        name="Shared secrets",
        slug=SLUG,
        production=True,  # any check written for environments is the strictest here
        created_at="",
        updated_at="",
    )


def project(org_id: str) -> ProjectRecord:
    return ProjectRecord(id=PROJECT_ID, org_id=org_id, name="Shared secrets", slug=SLUG, created_at="", updated_at="")


def may_read(access: OrgAccess, env: EnvironmentRecord, *, writer: bool = False) -> bool:
    """Whether `access` may read env's values: `secrets.read` there for an environment; for the
    shared secrets `shared_secrets.read`, or, for a service token reading (not writing) a value
    of its own environment, `secrets.read` (it holds no org permission)."""
    if not is_shared(env):
        return access.allows("secrets.read", env)
    if access.principal.type == "service_token":
        return not writer and "secrets.read" in access.principal.permissions
    return access.allows(READ)
