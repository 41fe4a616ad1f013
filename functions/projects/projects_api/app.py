"""Projects and their environments."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

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
    Environment,
    EnvironmentCreate,
    EnvironmentList,
    EnvironmentPatch,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectPatch,
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


lambda_handler = make_handler(app)
