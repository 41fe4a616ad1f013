"""Projects, environments and templates, in the org's partition, with per-org / per-project slug
pointers: their reads and the ops of the transactions that change them.

A project's slug pointer (`PROJSLUG#<slug>`) also indexes the project's environments by slug (one
`env:<slug>` attribute each, naming the environment's ID; `env_rev` counts its changes): the
read-ahead of a request naming project and environment by slug reads the environment's item in
the round after the pointer, together with the environment's own slug pointer
(`ENVSLUG#<prj_id>#<slug>`), which stays the one that decides (and keeps slugs unique). Every
change of an environment's slug set updates the index in its transaction, conditional on the
pointer still naming the project; a project's slug rename moves the pointer, index included, only
while the index is as it was read (docs/decisions.md, 2026-12-02)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import ids
from strongroom.data import db, keys
from strongroom.errors import AppError, Conflict, Invalid, NotFound

_STATUS = {"#st": "status"}
_ENVIRONMENTS = "ENV#"  # every project's environments in the org partition (keys.environment)


class ProjectRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    name: str
    slug: str
    description: str = ""
    status: str = "active"
    created_at: str
    updated_at: str
    # Its environments, moved by their creates and deletes (`count_environments`): what the plan's
    # `environments_per_project` bounds.
    environment_count: int = 0


class EnvironmentRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    project_id: str
    name: str
    slug: str
    production: bool = False
    parent_id: str | None = None
    encryption: str = "server"
    # Client-encrypted environments: the data key's current version (grants are read at it), and
    # how many times the set of grants changed (a rekey is conditional on it) and how many there are.
    key_version: int | None = None
    grant_rev: int | None = None
    grant_count: int | None = None
    created_at: str
    updated_at: str


def get(org_id: str, project_id: str) -> ProjectRecord | None:
    item = db.get(keys.project(org_id, project_id))
    if not item or item.get("status") != "active":
        return None
    return ProjectRecord.model_validate(item)


def resolve(org_id: str, ref: str) -> ProjectRecord | None:
    if ids.is_id(ref, "prj"):
        return get(org_id, ref)
    pointer = db.get(keys.project_slug(org_id, ref.lower()))
    return get(org_id, pointer["project_id"]) if pointer else None


@dataclass(frozen=True, slots=True)
class SlugPointer:
    """A project's slug pointer, with its index of the project's environments (slug -> ID)."""

    slug: str
    project_id: str
    environments: dict[str, str]
    revision: int | None  # None: written before the index had a revision (docs/decisions.md)


def slug_pointer(org_id: str, slug: str) -> SlugPointer | None:
    item = db.get(keys.project_slug(org_id, slug))
    if item is None:
        return None
    rev = item.get(keys.ENV_INDEX_REVISION)
    return SlugPointer(slug, str(item["project_id"]), indexed_environments(item), None if rev is None else int(rev))


def indexed_environments(pointer: dict[str, Any]) -> dict[str, str]:
    """The environments (slug -> ID) a project slug pointer's item indexes."""
    n = len(keys.ENV_INDEX_PREFIX)
    return {k[n:]: str(v) for k, v in pointer.items() if k.startswith(keys.ENV_INDEX_PREFIX)}


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[ProjectRecord], str | None]:
    result = db.query(
        keys.org_partition(org_id),
        prefix=keys.PROJECT_PREFIX,
        limit=limit,
        cursor=cursor,
        filter_expression="#st = :active",
        filter_names={"#st": "status"},
        filter_values={":active": "active"},
    )
    return [ProjectRecord.model_validate(i) for i in result.items], result.next_cursor


def environment(org_id: str, project_id: str, env_id: str) -> EnvironmentRecord | None:
    item = db.get(keys.environment(org_id, project_id, env_id))
    return EnvironmentRecord.model_validate(item) if item else None


def resolve_environment(org_id: str, project_id: str, ref: str) -> EnvironmentRecord | None:
    if ids.is_id(ref, "env"):
        return environment(org_id, project_id, ref)
    pointer = db.get(keys.environment_slug(org_id, project_id, ref.lower()))
    return environment(org_id, project_id, pointer["environment_id"]) if pointer else None


def environments(org_id: str, project_id: str) -> list[EnvironmentRecord]:
    return [
        EnvironmentRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix=keys.environment_prefix(project_id))
    ]


def environments_page(
    org_id: str, project_id: str, *, limit: int, cursor: str | None
) -> tuple[list[EnvironmentRecord], str | None]:
    result = db.query(
        keys.org_partition(org_id), prefix=keys.environment_prefix(project_id), limit=limit, cursor=cursor
    )
    return [EnvironmentRecord.model_validate(i) for i in result.items], result.next_cursor


def org_environments(org_id: str) -> list[EnvironmentRecord]:
    """Every environment of the org, of every project (one Query of the org partition's `ENV#`)."""
    return [
        EnvironmentRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix=_ENVIRONMENTS)
        if i.get("entity") == "environment"
    ]


def active_projects(org_id: str) -> list[ProjectRecord]:
    """The org's projects that are not being deleted."""
    return [
        ProjectRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix=keys.PROJECT_PREFIX)
        if i.get("status", "active") == "active"
    ]


def project_item(p: ProjectRecord) -> dict[str, Any]:
    return {**keys.project(p.org_id, p.id), "entity": "project", **p.model_dump()}


def project_slug_item(
    org_id: str, slug: str, project_id: str, environments: dict[str, str], revision: int = 0
) -> dict[str, Any]:
    return {
        **keys.project_slug(org_id, slug),
        "entity": "project_slug",
        "project_id": project_id,
        **{keys.environment_index_attribute(s): env_id for s, env_id in environments.items()},
        keys.ENV_INDEX_REVISION: revision,
    }


def environment_item(e: EnvironmentRecord) -> dict[str, Any]:
    return {
        **keys.environment(e.org_id, e.project_id, e.id),
        "entity": "environment",
        **e.model_dump(exclude_none=True),
    }


def environment_slug_item(e: EnvironmentRecord) -> dict[str, Any]:
    return {
        **keys.environment_slug(e.org_id, e.project_id, e.slug),
        "entity": "environment_slug",
        "environment_id": e.id,
    }


class TemplateKeyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    key: str
    description: str = ""
    pattern: str | None = None
    created_at: str
    updated_at: str


def template(org_id: str, project_id: str) -> list[TemplateKeyRecord]:
    """A project's required keys, by name (a template holds at most MAX_TEMPLATE_KEYS)."""
    return [
        TemplateKeyRecord.model_validate(i)
        for i in db.query_all(keys.org_partition(org_id), prefix=keys.template_prefix(project_id))
    ]


def template_key(org_id: str, project_id: str, key: str) -> TemplateKeyRecord | None:
    item = db.get(keys.template_key(org_id, project_id, key))
    return TemplateKeyRecord.model_validate(item) if item else None


def template_item(org_id: str, project_id: str, rec: TemplateKeyRecord) -> dict[str, Any]:
    return {
        **keys.template_key(org_id, project_id, rec.key),
        "entity": "template_key",
        "project_id": project_id,
        **rec.model_dump(exclude_none=True),
    }


# --------------------------------------------------------------------------- ops


def slug_conflict(kind: str) -> Conflict:
    return Conflict(
        f"a {kind} with this slug already exists",
        code="slug_taken",
        details={"fields": [{"field": "slug", "location": "body", "issue": "already taken"}]},
    )


def active_check(org_id: str, project_id: str) -> db.Check:
    """A transaction condition: the project exists and is not being deleted."""
    return db.Check(
        keys.project(org_id, project_id),
        "#st = :active",
        names=_STATUS,
        values={":active": "active"},
        on_fail=NotFound("project not found"),
    )


def count_environments(
    org_id: str, project_id: str, delta: int, *, at_most: int | None, on_fail: AppError
) -> db.Update:
    """A transaction op: the project's `environment_count` moves by `delta`, while the project is
    active (404), and (a create) while it holds at most `at_most` before it (`on_fail`: the plan
    limit). Projects older than the counter count from the backfill (data/migrations.py)."""
    condition, values = "#st = :active", {":active": "active", ":d": delta}
    fail: AppError = NotFound("project not found")
    if at_most is not None and delta > 0:
        condition += " AND (attribute_not_exists(environment_count) OR environment_count <= :max)"
        values[":max"] = at_most
        fail = on_fail
    return db.Update(
        keys.project(org_id, project_id),
        "ADD environment_count :d",
        condition=condition,
        names=_STATUS,
        values=values,
        on_fail=fail,
    )


def create(project: ProjectRecord, envs: list[EnvironmentRecord]) -> list[db.Op]:
    """A new project, its slug pointer and its first environments with theirs, all create-only."""
    index = {e.slug: e.id for e in envs}
    pointer = project_slug_item(project.org_id, project.slug, project.id, index)
    ops: list[db.Op] = [db.Put.new(project_item(project)), db.Put.new(pointer, on_fail=slug_conflict("project"))]
    for env in envs:
        ops += [db.Put.new(environment_item(env)), db.Put.new(environment_slug_item(env))]
    return ops


def _project_changed() -> Conflict:
    return Conflict("the project changed meanwhile; retry", code="project_changed")


def move_slug(org_id: str, pointer: SlugPointer, slug: str) -> list[db.Op]:
    """The project's slug pointer moved from `pointer.slug` to `slug`, with its index of
    environments, while the index is as read (an environment created, renamed or deleted meanwhile:
    409 `project_changed`; a taken slug: 409 `slug_taken`)."""
    values: dict[str, Any] = {":prj": pointer.project_id}
    if pointer.revision is None:
        unchanged = "project_id = :prj AND attribute_not_exists(#rev)"
    else:
        unchanged, values[":rev"] = "project_id = :prj AND #rev = :rev", pointer.revision
    moved = project_slug_item(org_id, slug, pointer.project_id, pointer.environments, (pointer.revision or 0) + 1)
    return [
        db.Delete(
            keys.project_slug(org_id, pointer.slug),
            condition=unchanged,
            names={"#rev": keys.ENV_INDEX_REVISION},
            values=values,
            on_fail=_project_changed(),
        ),
        db.Put.new(moved, on_fail=slug_conflict("project")),
    ]


def release_slug(org_id: str, slug: str) -> db.Delete:
    """The project's slug pointer (and its index of environments) removed."""
    return db.Delete(keys.project_slug(org_id, slug))


def index_environments(
    org_id: str, project_id: str, project_slug: str, *, put: dict[str, str] | None = None, drop: str | None = None
) -> db.Update:
    """Index `put` (slug -> ID) and unindex `drop` on the project's slug pointer, while it names the
    project (else 409 `project_changed`: the project was renamed or deleted meanwhile)."""
    names: dict[str, str] = {"#rev": keys.ENV_INDEX_REVISION}
    values: dict[str, Any] = {":prj": project_id, ":one": 1}
    sets = []
    for n, (slug, env_id) in enumerate((put or {}).items()):
        names[f"#p{n}"], values[f":p{n}"] = keys.environment_index_attribute(slug), env_id
        sets.append(f"#p{n} = :p{n}")
    expression = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD #rev :one"
    if drop is not None:
        names["#d"] = keys.environment_index_attribute(drop)
        expression += " REMOVE #d"
    return db.Update(
        keys.project_slug(org_id, project_slug),
        expression,
        condition="project_id = :prj",
        names=names,
        values=values,
        on_fail=_project_changed(),
    )


def update(project: ProjectRecord, changes: dict[str, Any], now: str) -> db.Update:
    """Set `changes` on the project while it is active."""
    return db.Update.set_fields(
        keys.project(project.org_id, project.id),
        changes,
        updated_at=now,
        active_only=True,
        on_fail=NotFound("project not found"),
    )


def tombstone(project: ProjectRecord, now: str) -> db.Update:
    """active → deleted: every reader sees 404 from this transaction on."""
    return db.Update(
        keys.project(project.org_id, project.id),
        "SET #st = :deleted, deleted_at = :now",
        condition="#st = :active",
        names=_STATUS,
        values={":deleted": "deleted", ":active": "active", ":now": now},
        on_fail=NotFound("project not found"),
    )


def reindex(pointer: dict[str, Any]) -> bool:
    """Make a project slug pointer's index (its item, as read) say what the project's environments
    are, while its revision is as read: True when it changed. Unaudited bookkeeping, for the data
    migration of pointers written before the index (data/migrations.py)."""
    project_id = str(pointer["project_id"])
    envs = {
        str(i["slug"]): str(i["id"])
        for i in db.query_all(str(pointer[keys.PK]), prefix=keys.environment_prefix(project_id))
        if i.get("entity") == "environment"
    }
    indexed = indexed_environments(pointer)
    if indexed == envs and keys.ENV_INDEX_REVISION in pointer:
        return False
    names: dict[str, str] = {"#rev": keys.ENV_INDEX_REVISION}
    values: dict[str, Any] = {":prj": project_id, ":one": 1}
    sets = ["#rev = if_not_exists(#rev, :zero) + :one"]
    values[":zero"] = 0
    for n, (slug, env_id) in enumerate(envs.items()):
        names[f"#p{n}"], values[f":p{n}"] = keys.environment_index_attribute(slug), env_id
        sets.append(f"#p{n} = :p{n}")
    drops = [slug for slug in indexed if slug not in envs]
    names.update({f"#d{n}": keys.environment_index_attribute(slug) for n, slug in enumerate(drops)})
    expression = (
        "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(f"#d{n}" for n in range(len(drops))) if drops else "")
    )
    condition = "project_id = :prj AND "
    if keys.ENV_INDEX_REVISION in pointer:
        condition += "#rev = :seen"
        values[":seen"] = pointer[keys.ENV_INDEX_REVISION]
    else:
        condition += "attribute_not_exists(#rev)"
    key = {keys.PK: str(pointer[keys.PK]), keys.SK: str(pointer[keys.SK])}
    if not db.update_plain(key, expression, condition=condition, values=values, names=names):
        raise _project_changed()
    return True


def add_environment(env: EnvironmentRecord, project_slug: str) -> list[db.Op]:
    """A new environment, its slug pointer (create-only; a taken slug is 409) and its entry in the
    index of the project's slug pointer."""
    return [
        db.Put.new(environment_item(env)),
        db.Put.new(environment_slug_item(env), on_fail=slug_conflict("environment")),
        index_environments(env.org_id, env.project_id, project_slug, put={env.slug: env.id}),
    ]


def parent_exists(env: EnvironmentRecord, parent_id: str) -> db.Check:
    """A transaction condition: the environment's parent still exists."""
    return db.Check(
        keys.environment(env.org_id, env.project_id, parent_id),
        "attribute_exists(PK)",
        on_fail=Invalid("the parent environment was deleted meanwhile"),
    )


def move_environment_slug(env: EnvironmentRecord, slug: str, project_slug: str) -> list[db.Op]:
    """The environment's slug pointer moved from its slug to `slug` (a taken one is 409), and its
    entry in the project's index with it."""
    moved = env.model_copy(update={"slug": slug})
    return [
        db.Delete(keys.environment_slug(env.org_id, env.project_id, env.slug)),
        db.Put.new(environment_slug_item(moved), on_fail=slug_conflict("environment")),
        index_environments(env.org_id, env.project_id, project_slug, put={slug: env.id}, drop=env.slug),
    ]


def update_environment(
    env: EnvironmentRecord, changes: dict[str, Any], now: str, removes: tuple[str, ...] = ()
) -> db.Update:
    """Set `changes` on the environment (and remove `removes`), while it exists."""
    return db.Update.set_fields(
        keys.environment(env.org_id, env.project_id, env.id),
        changes,
        updated_at=now,
        active_only=False,
        on_fail=NotFound("environment not found"),
        removes=removes,
    )


def remove_environment(env: EnvironmentRecord, project_slug: str) -> list[db.Op]:
    """The environment's item (while it exists), its slug pointer and its entry in the project's index."""
    return [
        db.Delete(
            keys.environment(env.org_id, env.project_id, env.id),
            condition="attribute_exists(PK)",
            on_fail=NotFound("environment not found"),
        ),
        db.Delete(keys.environment_slug(env.org_id, env.project_id, env.slug)),
        index_environments(env.org_id, env.project_id, project_slug, drop=env.slug),
    ]


def put_template_key(org_id: str, project_id: str, rec: TemplateKeyRecord, *, seen: str | None) -> db.Put:
    """A template key: new (create-only) when `seen` is None, else over the one last updated at
    `seen`; a concurrent change either way is 409 `template_changed`."""
    changed = Conflict("the template changed; retry", code="template_changed")
    item = template_item(org_id, project_id, rec)
    if seen is None:
        return db.Put.new(item, on_fail=changed)
    return db.Put(item, condition="updated_at = :seen", values={":seen": seen}, on_fail=changed)


def delete_template_key(org_id: str, project_id: str, key: str) -> db.Delete:
    return db.Delete(
        keys.template_key(org_id, project_id, key),
        condition="attribute_exists(PK)",
        on_fail=NotFound("template key not found"),
    )
