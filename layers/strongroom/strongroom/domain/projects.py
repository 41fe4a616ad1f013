"""Projects, environments and templates: the business rules. The routes resolve the access
(`org_access` / `project_access` / `environment_access`, naming the permission) and hand it over;
every mutation is one `data.chain.transact` of ops built by `data/projects.py`."""

from __future__ import annotations

import secrets

from strongroom import clock, ids
from strongroom.data import chain, db
from strongroom.data import orgs as org_data
from strongroom.data import projects as data
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.domain import audit, e2e, patterns, plans, purge
from strongroom.errors import Conflict, Forbidden, NotFound, Unprocessable
from strongroom.models import (
    Environment,
    EnvironmentCreate,
    EnvironmentPatch,
    Project,
    ProjectCreate,
    ProjectPatch,
    Template,
    TemplateKey,
    TemplateKeyPut,
    slugify,
)
from strongroom.security.access import EnvironmentAccess, OrgAccess, ProjectAccess

DEFAULT_ENVIRONMENTS = (
    ("Development", "development", False),
    ("Staging", "staging", False),
    ("Production", "production", True),
)
MAX_ENVIRONMENTS = 50
MAX_TEMPLATE_KEYS = 500
MAX_INHERITANCE_DEPTH = 10


def _env_view(e: EnvironmentRecord) -> Environment:
    return Environment.model_validate(e.model_dump())


def _project_view(p: ProjectRecord, envs: list[EnvironmentRecord]) -> Project:
    return Project.model_validate({**p.model_dump(), "environments": [_env_view(e).model_dump() for e in envs]})


# --------------------------------------------------------------------------- projects


def create(access: OrgAccess, body: ProjectCreate) -> Project:
    """A project with the default environments (`projects.create`)."""
    org_id = access.org.id
    slug = body.slug or slugify(body.name) or f"project-{secrets.token_hex(4)}"
    now = clock.now_iso()
    project = ProjectRecord(
        id=ids.new_id("prj"),
        org_id=org_id,
        name=body.name,
        slug=slug,
        description=body.description,
        created_at=now,
        updated_at=now,
        environment_count=len(DEFAULT_ENVIRONMENTS),
    )
    envs = [
        EnvironmentRecord(
            id=ids.new_id("env"),
            org_id=org_id,
            project_id=project.id,
            name=name,
            slug=eslug,
            production=prod,
            created_at=now,
            updated_at=now,
        )
        for name, eslug, prod in DEFAULT_ENVIRONMENTS
    ]
    chain.transact(
        [
            org_data.guard(
                org_id,
                usage={"projects": 1, "environments": len(envs)},
                limit=("projects", plans.room(access.org, "projects"), _reached(access, "projects")),
            ),
            *data.create(project, envs),
        ],
        audit=audit.event(
            "project.created",
            scope_id=org_id,
            resource_type="project",
            resource_id=project.id,
            project_id=project.id,
            metadata={"slug": slug, "environments": [e.slug for e in envs]},
        ),
    )
    return _project_view(project, envs)


def _reached(access: OrgAccess, name: str) -> Forbidden:
    return plans.reached(name, plans.limit_of(access.org, name))


def list_projects(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Project], str | None]:
    """A page of the projects the caller sees, with their environments (`projects.read`)."""
    records, next_cursor = data.page(access.org.id, limit=limit, cursor=cursor)
    records = [p for p in records if access.sees(project_id=p.id)]
    wanted = {p.id for p in records}
    envs: dict[str, list[EnvironmentRecord]] = {p.id: [] for p in records}
    if records:
        for env in data.org_environments(access.org.id):
            if env.project_id in wanted and access.sees(environment_id=env.id):
                envs[env.project_id].append(env)
    return [_project_view(p, envs[p.id]) for p in records], next_cursor


def get(access: ProjectAccess) -> Project:
    """The project with the environments the caller sees (`projects.read`)."""
    envs = [e for e in data.environments(access.org.id, access.project.id) if access.sees(environment_id=e.id)]
    return _project_view(access.project, envs)


def update(access: ProjectAccess, body: ProjectPatch) -> Project:
    """Rename the project, change its slug or description (`projects.update`)."""
    project = access.project
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if changes:
        now = clock.now_iso()
        ops: list[db.Op] = []
        if "slug" in changes and changes["slug"] != project.slug:
            pointer = data.slug_pointer(project.org_id, project.slug)
            if pointer is None or pointer.project_id != project.id:
                raise Conflict("the project changed meanwhile; retry", code="project_changed")
            ops += data.move_slug(project.org_id, pointer, changes["slug"])
        ops.append(data.update(project, changes, now))
        chain.transact(
            ops,
            audit=audit.event(
                "project.updated",
                scope_id=project.org_id,
                resource_type="project",
                resource_id=project.id,
                project_id=project.id,
                metadata={"fields": sorted(changes)},
            ),
        )
        project = project.model_copy(update={**changes, "updated_at": now})
    return _project_view(project, data.environments(access.org.id, project.id))


def delete(access: ProjectAccess) -> None:
    """Tombstone, audit event and purge job atomically (`projects.delete`); the purge worker
    removes the project's environments, their partitions and tokens afterwards (domain/purge.py)."""
    project = access.project
    chain.transact(
        [
            data.tombstone(project, clock.now_iso()),
            data.release_slug(project.org_id, project.slug),
            org_data.guard(project.org_id, usage={"projects": -1, "environments": -project.environment_count}),
            purge.job_op("project", project.id, org_id=project.org_id),
        ],
        audit=audit.event(
            "project.deleted",
            scope_id=project.org_id,
            resource_type="project",
            resource_id=project.id,
            project_id=project.id,
            metadata={"slug": project.slug},
        ),
    )


# --------------------------------------------------------------------------- environments


def _resolve_parent(access: ProjectAccess, ref: str) -> EnvironmentRecord:
    parent = data.resolve_environment(access.org.id, access.project.id, ref)
    if parent is None:
        raise Unprocessable(
            "the parent environment does not exist in this project",
            code="invalid_reference",
            details={"fields": [{"field": "parent", "location": "body", "issue": "not found"}]},
        )
    return parent


def _check_server_parent(parent: EnvironmentRecord) -> None:
    """Inheriting reads the parent's values on the server: a client-encrypted one cannot be a parent."""
    if parent.encryption == "client":
        raise Unprocessable(
            "a client-encrypted environment cannot be a parent: the server cannot read its values",
            code="client_encrypted",
            details={"fields": [{"field": "parent", "location": "body", "issue": "client-encrypted"}]},
        )


def _check_no_cycle(access: ProjectAccess, env_id: str, parent: EnvironmentRecord) -> None:
    """Walk up from the new parent: reaching `env_id` (or depth > 10) would make a cycle."""
    by_id = {e.id: e for e in data.environments(access.org.id, access.project.id)}
    chain = [parent.slug]
    current: EnvironmentRecord | None = parent
    for _ in range(MAX_INHERITANCE_DEPTH + 1):
        if current is None:
            return
        if current.id == env_id:
            raise Unprocessable(
                "the parent would make an inheritance cycle", code="inheritance_cycle", details={"chain": chain}
            )
        current = by_id.get(current.parent_id) if current.parent_id else None
        if current is not None:
            chain.append(current.slug)
    raise Unprocessable(
        f"inheritance deeper than {MAX_INHERITANCE_DEPTH} levels", code="inheritance_too_deep", details={"chain": chain}
    )


def list_environments(access: ProjectAccess, *, limit: int, cursor: str | None) -> tuple[list[Environment], str | None]:
    """A page of the project's environments the caller sees (`projects.read`)."""
    records, next_cursor = data.environments_page(access.org.id, access.project.id, limit=limit, cursor=cursor)
    return [_env_view(e) for e in records if access.sees(environment_id=e.id)], next_cursor


def create_environment(access: ProjectAccess, body: EnvironmentCreate) -> Environment:
    """A new environment (`projects.update`; a production one `projects.delete`, owner)."""
    if body.production and not access.allows("projects.delete"):
        raise Forbidden(
            "only an owner can create a production environment",
            details={"permission": "projects.delete", "role": access.role},
        )
    existing = data.environments(access.org.id, access.project.id)
    if len(existing) >= MAX_ENVIRONMENTS:
        raise Conflict(f"a project holds at most {MAX_ENVIRONMENTS} environments", code="limit_reached")
    parent = _resolve_parent(access, body.parent) if body.parent else None
    if parent is not None:
        _check_server_parent(parent)
        _check_no_cycle(access, "", parent)
    slug = body.slug or slugify(body.name) or f"env-{secrets.token_hex(4)}"
    now = clock.now_iso()
    client = body.encryption == "client"
    env = EnvironmentRecord(
        id=body.id if client and body.id else ids.new_id("env"),
        org_id=access.org.id,
        project_id=access.project.id,
        name=body.name,
        slug=slug,
        production=body.production,
        parent_id=parent.id if parent else None,
        encryption=body.encryption,
        **({"key_version": 1, "grant_rev": 1, "grant_count": 1} if client else {}),
        created_at=now,
        updated_at=now,
    )
    per_project = "environments_per_project"
    ops: list[db.Op] = [
        data.count_environments(
            access.org.id,
            access.project.id,
            1,
            at_most=plans.room(access.org, per_project),
            on_fail=_reached(access, per_project),
        ),
        org_data.guard(access.org.id, usage={"environments": 1}),
        *data.add_environment(env, access.project.slug),
    ]
    if parent is not None:
        ops.append(data.parent_exists(env, parent.id))
    noted: dict[str, object] = {}
    if client and body.grant is not None:
        granted, noted = e2e.first_grant(env, body.grant)
        ops += granted
    chain.transact(
        ops,
        audit=audit.environment_event(
            "environment.created",
            env,
            {
                "slug": slug,
                "production": env.production,
                "parent_id": env.parent_id,
                "encryption": env.encryption,
                **noted,
            },
        ),
    )
    return _env_view(env)


def get_environment(access: EnvironmentAccess) -> Environment:
    """The environment (`projects.read`)."""
    return _env_view(access.environment)


def update_environment(access: EnvironmentAccess, body: EnvironmentPatch) -> Environment:
    """Change an environment (`projects.update`; a production one, or its flag, `projects.delete`)."""
    env = access.environment
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "parent"}
    if "production" in changes and changes["production"] != env.production and not access.allows("projects.delete"):
        raise Forbidden(
            "only an owner can change whether an environment is production",
            details={"permission": "projects.delete", "role": access.role},
        )
    if env.production and not access.allows("projects.delete"):
        raise Forbidden(
            "only an owner can change a production environment",
            details={"permission": "projects.delete", "role": access.role},
        )
    removes: tuple[str, ...] = ()
    if "parent" in changes:
        ref = changes.pop("parent")
        if ref is None:
            removes = ("parent_id",)
        else:
            parent = _resolve_parent(access, ref)
            if env.encryption == "client":
                raise Unprocessable("a client-encrypted environment has no parent", code="client_encrypted")
            _check_server_parent(parent)
            _check_no_cycle(access, env.id, parent)
            changes["parent_id"] = parent.id
    if not changes and not removes:
        return _env_view(env)
    now = clock.now_iso()
    ops: list[db.Op] = []
    if "slug" in changes and changes["slug"] != env.slug:
        ops += data.move_environment_slug(env, changes["slug"], access.project.slug)
    ops.append(data.update_environment(env, changes, now, removes))
    chain.transact(
        ops,
        audit=audit.environment_event("environment.updated", env, {"fields": sorted([*changes, *removes])}),
    )
    updated = env.model_copy(update={**changes, "updated_at": now, **dict.fromkeys(removes)})
    return _env_view(updated)


def delete_environment(access: EnvironmentAccess) -> None:
    """Delete an environment nothing inherits from (`projects.update`; production `projects.delete`)."""
    env = access.environment
    if env.production and not access.allows("projects.delete"):
        raise Forbidden(
            "only an owner can delete a production environment",
            details={"permission": "projects.delete", "role": access.role},
        )
    children = [e.slug for e in data.environments(env.org_id, env.project_id) if e.parent_id == env.id]
    if children:
        raise Conflict(
            "other environments inherit from this one; re-parent them first",
            code="has_children",
            details={"children": children},
        )
    chain.transact(
        [
            *data.remove_environment(env, access.project.slug),
            data.count_environments(env.org_id, env.project_id, -1, at_most=None, on_fail=NotFound("project gone")),
            org_data.guard(env.org_id, usage={"environments": -1}),
            purge.job_op("environment", env.id, org_id=env.org_id, project_id=env.project_id),
        ],
        audit=audit.environment_event("environment.deleted", env, {"slug": env.slug}),
    )


# --------------------------------------------------------------------------- templates


def get_template(access: ProjectAccess) -> Template:
    """The project's required keys (`projects.read`)."""
    records = data.template(access.org.id, access.project.id)
    return Template(data=[TemplateKey.model_validate(r.model_dump()) for r in records])


def set_template_key(access: ProjectAccess, body: TemplateKeyPut) -> tuple[TemplateKey, bool]:
    """Add a required key to the project's template, or change its description/pattern
    (`templates.manage`). Returns the key and whether it was new."""
    if body.pattern is not None:
        patterns.require_supported(body.pattern)
    org_id, project_id = access.org.id, access.project.id
    current = data.template_key(org_id, project_id, body.key)
    if current is None and len(data.template(org_id, project_id)) >= MAX_TEMPLATE_KEYS:
        raise Unprocessable(f"a template holds at most {MAX_TEMPLATE_KEYS} keys", code="template_full")
    now = clock.now_iso()
    record = data.TemplateKeyRecord(
        key=body.key,
        description=body.description,
        pattern=body.pattern,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
    op = data.put_template_key(org_id, project_id, record, seen=current.updated_at if current else None)
    chain.transact(
        [data.active_check(org_id, project_id), op],
        audit=audit.event(
            "template.key_set",
            scope_id=org_id,
            resource_type="template_key",
            resource_id=body.key,
            project_id=project_id,
            metadata={"key": body.key, "created": current is None, "has_pattern": body.pattern is not None},
        ),
    )
    return TemplateKey.model_validate(record.model_dump()), current is None


def delete_template_key(access: ProjectAccess, key: str) -> None:
    """Remove a required key (`templates.manage`)."""
    org_id, project_id = access.org.id, access.project.id
    chain.transact(
        [data.delete_template_key(org_id, project_id, key)],
        audit=audit.event(
            "template.key_deleted",
            scope_id=org_id,
            resource_type="template_key",
            resource_id=key,
            project_id=project_id,
            metadata={"key": key},
        ),
    )
