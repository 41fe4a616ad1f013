"""Projects, their environments and their templates (the keys every environment must have)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.app import (
    Cursor,
    EnvRef,
    Limit,
    OrgRef,
    ProjectRef,
    build_app,
    created,
    make_handler,
    no_content,
)
from strongroom.domain import projects
from strongroom.models import (
    SECRET_KEY_PATTERN,
    Environment,
    EnvironmentCreate,
    EnvironmentList,
    EnvironmentPatch,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectPatch,
    Template,
    TemplateKey,
    TemplateKeyPut,
)

app = build_app()


PROJECT = "/v1/orgs/<org>/projects/<project>"
ENVIRONMENT = f"{PROJECT}/environments/<env>"


@app.get("/v1/orgs/<org>/projects")
def list_projects(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> ProjectList:
    data, next_cursor = projects.list_projects(org, limit=limit, cursor=cursor)
    return ProjectList(data=data, next_cursor=next_cursor)


@app.post("/v1/orgs/<org>/projects", responses={201: {"description": "Created with development, staging, production"}})
def create_project(org: OrgRef, body: ProjectCreate) -> Response[Project]:
    return created(projects.create(org, body))


@app.get(PROJECT)
def get_project(org: OrgRef, project: ProjectRef) -> Project:
    return projects.get(org, project)


@app.patch(PROJECT)
def patch_project(org: OrgRef, project: ProjectRef, body: ProjectPatch) -> Project:
    return projects.update(org, project, body)


@app.delete(PROJECT, responses={204: {"description": "Deleted with its environments and secrets"}})
def delete_project(org: OrgRef, project: ProjectRef) -> Response[str]:
    projects.delete(org, project)
    return no_content()


@app.get(f"{PROJECT}/environments")
def list_environments(org: OrgRef, project: ProjectRef, limit: Limit = 100, cursor: Cursor = None) -> EnvironmentList:
    data, next_cursor = projects.list_environments(org, project, limit=limit, cursor=cursor)
    return EnvironmentList(data=data, next_cursor=next_cursor)


@app.post(f"{PROJECT}/environments", responses={201: {"description": "Created"}})
def create_environment(org: OrgRef, project: ProjectRef, body: EnvironmentCreate) -> Response[Environment]:
    return created(projects.create_environment(org, project, body))


@app.get(ENVIRONMENT)
def get_environment(org: OrgRef, project: ProjectRef, env: EnvRef) -> Environment:
    return projects.get_environment(org, project, env)


@app.patch(ENVIRONMENT)
def patch_environment(org: OrgRef, project: ProjectRef, env: EnvRef, body: EnvironmentPatch) -> Environment:
    return projects.update_environment(org, project, env, body)


@app.delete(ENVIRONMENT, responses={204: {"description": "Deleted with its secrets"}})
def delete_environment(org: OrgRef, project: ProjectRef, env: EnvRef) -> Response[str]:
    projects.delete_environment(org, project, env)
    return no_content()


TemplateKeyName = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="A template key")]


@app.get(f"{PROJECT}/template")
def get_template(org: OrgRef, project: ProjectRef) -> Template:
    """The keys every environment of the project must have (GET E/validate checks one)."""
    return projects.get_template(org, project)


@app.post(
    f"{PROJECT}/template",
    responses={200: {"description": "Changed an existing key"}, 201: {"description": "Added a key"}},
)
def set_template_key(org: OrgRef, project: ProjectRef, body: TemplateKeyPut) -> Response[TemplateKey]:
    """Add a required key (optional description and pattern), or change one. Admin or owner."""
    key, new = projects.set_template_key(org, project, body)
    return created(key) if new else Response(status_code=200, content_type="application/json", body=key)


@app.delete(f"{PROJECT}/template/<key>", responses={204: {"description": "Removed"}})
def delete_template_key(org: OrgRef, project: ProjectRef, key: TemplateKeyName) -> Response[str]:
    projects.delete_template_key(org, project, key)
    return no_content()


lambda_handler = make_handler(app)
