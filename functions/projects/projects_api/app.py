"""Projects, their environments and their templates (the keys every environment must have)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from strongroom.domain import projects
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import Cursor, EnvRef, Limit, OrgRef, ProjectRef, created, no_content
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
from strongroom.security.access import environment_access, org_access, project_access

app = build_app()


PROJECT = "/v1/orgs/<org>/projects/<project>"
ENVIRONMENT = f"{PROJECT}/environments/<env>"


@app.get("/v1/orgs/<org>/projects")
def list_projects(org: OrgRef, limit: Limit = 100, cursor: Cursor = None) -> ProjectList:
    access = org_access(org, "projects.read")
    return ProjectList.of(projects.list_projects(access, limit=limit, cursor=cursor))


@app.post("/v1/orgs/<org>/projects", responses={201: {"description": "Created with development, staging, production"}})
def create_project(org: OrgRef, body: ProjectCreate) -> Response[Project]:
    access = org_access(org, "projects.create")
    return created(projects.create(access, body))


@app.get(PROJECT)
def get_project(org: OrgRef, project: ProjectRef) -> Project:
    access = project_access(org, project, "projects.read")
    return projects.get(access)


@app.patch(PROJECT)
def patch_project(org: OrgRef, project: ProjectRef, body: ProjectPatch) -> Project:
    access = project_access(org, project, "projects.update")
    return projects.update(access, body)


@app.delete(PROJECT, responses={204: {"description": "Deleted with its environments and secrets"}})
def delete_project(org: OrgRef, project: ProjectRef) -> Response[str]:
    access = project_access(org, project, "projects.delete")
    projects.delete(access)
    return no_content()


@app.get(f"{PROJECT}/environments")
def list_environments(org: OrgRef, project: ProjectRef, limit: Limit = 100, cursor: Cursor = None) -> EnvironmentList:
    access = project_access(org, project, "projects.read")
    return EnvironmentList.of(projects.list_environments(access, limit=limit, cursor=cursor))


@app.post(f"{PROJECT}/environments", responses={201: {"description": "Created"}})
def create_environment(org: OrgRef, project: ProjectRef, body: EnvironmentCreate) -> Response[Environment]:
    access = project_access(org, project, "projects.update")
    return created(projects.create_environment(access, body))


@app.get(ENVIRONMENT)
def get_environment(org: OrgRef, project: ProjectRef, env: EnvRef) -> Environment:
    access = environment_access(org, project, env, "projects.read")
    return projects.get_environment(access)


@app.patch(ENVIRONMENT)
def patch_environment(org: OrgRef, project: ProjectRef, env: EnvRef, body: EnvironmentPatch) -> Environment:
    access = environment_access(org, project, env, "projects.update")
    return projects.update_environment(access, body)


@app.delete(ENVIRONMENT, responses={204: {"description": "Deleted with its secrets"}})
def delete_environment(org: OrgRef, project: ProjectRef, env: EnvRef) -> Response[str]:
    access = environment_access(org, project, env, "projects.update")
    projects.delete_environment(access)
    return no_content()


TemplateKeyName = Annotated[str, Path(pattern=SECRET_KEY_PATTERN, description="A template key")]


@app.get(f"{PROJECT}/template")
def get_template(org: OrgRef, project: ProjectRef) -> Template:
    """The keys every environment of the project must have (GET E/validate checks one)."""
    access = project_access(org, project, "projects.read")
    return projects.get_template(access)


@app.post(
    f"{PROJECT}/template",
    responses={200: {"description": "Changed an existing key"}, 201: {"description": "Added a key"}},
)
def set_template_key(org: OrgRef, project: ProjectRef, body: TemplateKeyPut) -> Response[TemplateKey]:
    """Add a required key (optional description and pattern), or change one. Admin or owner."""
    access = project_access(org, project, "templates.manage")
    key, new = projects.set_template_key(access, body)
    return created(key) if new else Response(status_code=200, content_type="application/json", body=key)


@app.delete(f"{PROJECT}/template/<key>", responses={204: {"description": "Removed"}})
def delete_template_key(org: OrgRef, project: ProjectRef, key: TemplateKeyName) -> Response[str]:
    access = project_access(org, project, "templates.manage")
    projects.delete_template_key(access, key)
    return no_content()


lambda_handler = make_handler(app)
