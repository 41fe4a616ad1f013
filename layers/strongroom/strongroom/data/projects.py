"""Projects and environments, in the org's partition, with per-org / per-project slug pointers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom import db, ids, keys


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


def project_item(p: ProjectRecord) -> dict[str, Any]:
    return {**keys.project(p.org_id, p.id), "entity": "project", **p.model_dump()}


def project_slug_item(org_id: str, slug: str, project_id: str) -> dict[str, Any]:
    return {**keys.project_slug(org_id, slug), "entity": "project_slug", "project_id": project_id}


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
