"""Project templates (the keys every environment must have) and GET E/validate, over HTTP."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from typing import Any

import pytest

from strongroom import aws
from strongroom_local import LocalStack
from support import Api, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def project(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"tpl-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Templates", "slug": slug})[0] == 201
    status, _, created = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    assert status == 201
    path = f"/v1/orgs/{slug}/projects/web"
    return {"owner": owner, "org": slug, "path": path, "id": created["id"]}


def member(api: Api, project: dict[str, Any], role: str) -> str:
    email = unique_email(role)
    body = {"email": email, "role": role}
    _, _, inv = api("POST", f"/v1/orgs/{project['org']}/invitations", user=project["owner"], json=body)
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
    return email


def test_validate_lists_missing_keys_and_mismatched_values_never_the_values(api: Api, project: dict[str, Any]) -> None:
    owner, path = project["owner"], project["path"]
    for body in (
        {"key": "DB_URL", "description": "Primary database", "pattern": "postgres://.+"},
        {"key": "API_KEY"},
        {"key": "PORT", "pattern": "[0-9]{2,5}"},
    ):
        status, _, key = api("POST", f"{path}/template", user=owner, json=body)
        assert (status, key["key"]) == (201, body["key"])
    status, _, changed = api("POST", f"{path}/template", user=owner, json={"key": "API_KEY", "description": "now"})
    assert (status, changed["description"]) == (200, "now")
    _, _, template = api("GET", f"{path}/template", user=owner)
    assert [(k["key"], k["pattern"]) for k in template["data"]] == [
        ("API_KEY", None),
        ("DB_URL", "postgres://.+"),
        ("PORT", "[0-9]{2,5}"),
    ]

    staging = f"{path}/environments/staging"
    body = {"set": {"DB_URL": "mysql://canary-value-9d2", "PORT": "8080", "HOST": "${PORT}"}}
    assert api("PATCH", f"{staging}/secrets", user=owner, json=body)[0] == 200
    status, _, report = api("GET", f"{staging}/validate", user=owner)
    assert status == 200
    assert report == {
        "valid": False,
        "checked": 3,
        "missing": ["API_KEY"],
        "mismatched": [{"key": "DB_URL", "pattern": "postgres://.+"}],
        "unsupported": [],
    }
    assert "canary-value-9d2" not in json.dumps(report)
    body = {"set": {"DB_URL": "postgres://db/app", "API_KEY": "k"}}
    assert api("PATCH", f"{staging}/secrets", user=owner, json=body)[0] == 200
    assert api("GET", f"{staging}/validate", user=owner)[2]["valid"] is True

    # a key removed from the template is no longer required
    assert api("DELETE", f"{path}/template/API_KEY", user=owner)[0] == 204
    assert api("DELETE", f"{path}/template/API_KEY", user=owner)[0] == 404
    assert api("GET", f"{path}/environments/development/validate", user=owner)[2]["missing"] == ["DB_URL", "PORT"]


def test_inherited_and_referenced_values_count(api: Api, project: dict[str, Any]) -> None:
    owner, path = project["owner"], project["path"]
    assert api("POST", f"{path}/template", user=owner, json={"key": "URL", "pattern": "https://[a-z.]+/"})[0] == 201
    body = {"name": "QA", "slug": "qa", "parent": "staging"}
    assert api("POST", f"{path}/environments", user=owner, json=body)[0] == 201
    assert (
        api("PATCH", f"{path}/environments/staging/secrets", user=owner, json={"set": {"URL": "https://${HOST}/"}})[0]
        == 200
    )
    assert api("PUT", f"{path}/environments/qa/secrets/HOST", user=owner, json={"value": "qa.example"})[0] == 200
    assert api("GET", f"{path}/environments/qa/validate", user=owner)[2]["valid"] is True
    # staging's own HOST is missing: its URL resolves to "https://${HOST}/", which does not match
    report = api("GET", f"{path}/environments/staging/validate", user=owner)[2]
    assert report["mismatched"] == [{"key": "URL", "pattern": "https://[a-z.]+/"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"key": "1BAD"}, "key"), ({"key": "OK", "pattern": "(unclosed"}, "pattern"), ({"key": "OK", "x": 1}, "x")],
)
def test_bad_template_keys_are_400_naming_the_field(
    api: Api, project: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    status, _, error = api("POST", f"{project['path']}/template", user=project["owner"], json=body)
    assert status == 400
    assert field in [f["field"] for f in error["error"]["details"]["fields"]]


def test_templates_are_managed_by_admins_and_read_by_members(api: Api, project: dict[str, Any]) -> None:
    path = project["path"]
    admin, developer, viewer = (member(api, project, r) for r in ("admin", "developer", "viewer"))
    assert api("POST", f"{path}/template", user=admin, json={"key": "A"})[0] == 201
    assert api("POST", f"{path}/template", user=developer, json={"key": "B"})[0] == 403
    assert api("DELETE", f"{path}/template/A", user=developer)[0] == 403
    assert [k["key"] for k in api("GET", f"{path}/template", user=viewer)[2]["data"]] == ["A"]
    # validating reads values: a viewer may validate development only
    assert api("GET", f"{path}/environments/development/validate", user=viewer)[0] == 200
    assert api("GET", f"{path}/environments/staging/validate", user=viewer)[0] == 403
    assert api("GET", f"{path}/template", user=unique_email("stranger"))[0] == 404


@pytest.mark.usefixtures("stack_workers")  # the purge worker removes the keys
def test_deleting_the_project_removes_its_template(api: Api, project: dict[str, Any], stack: LocalStack) -> None:
    assert api("POST", f"{project['path']}/template", user=project["owner"], json={"key": "A"})[0] == 201
    org_id = api("GET", f"/v1/orgs/{project['org']}", user=project["owner"])[2]["id"]
    assert api("DELETE", project["path"], user=project["owner"])[0] == 204
    assert api("GET", f"{project['path']}/template", user=project["owner"])[0] == 404

    def left() -> list[Any]:  # the project's template keys, in the org's partition
        return aws.dynamodb().query(
            TableName=stack.resources.refs["Table"],  # type: ignore[union-attr]
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={":pk": {"S": f"ORG#{org_id}"}, ":sk": {"S": f"TEMPLATE#{project['id']}#"}},
            ConsistentRead=True,
        )["Items"]

    deadline = time.monotonic() + 60  # the purge worker removes them
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == []


# --------------------------------------------------------------------------- patterns run in linear time (#9 item 4)


def test_a_pattern_that_would_backtrack_runs_in_linear_time(api: Api, project: dict[str, Any]) -> None:
    """`(a+)+$` against 25 characters held the process for seconds under Python's `re`."""
    owner, path = project["owner"], project["path"]
    assert api("POST", f"{path}/template", user=owner, json={"key": "EVIL", "pattern": "(a+)+$"})[0] == 201
    staging = f"{path}/environments/staging"
    assert api("PUT", f"{staging}/secrets/EVIL", user=owner, json={"value": "a" * 27 + "!"})[0] == 200
    started = time.monotonic()
    status, _, report = api("GET", f"{staging}/validate", user=owner)
    elapsed = time.monotonic() - started
    assert (status, report["mismatched"]) == (200, [{"key": "EVIL", "pattern": "(a+)+$"}])
    assert elapsed < 3.0, f"validate took {elapsed:.1f} s"
    assert api("PUT", f"{staging}/secrets/EVIL", user=owner, json={"value": "a" * 27})[0] == 200
    assert api("GET", f"{staging}/validate", user=owner)[2]["valid"] is True


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=x)x", r"(?<!y)x", r"x\Z"])
def test_a_pattern_the_linear_engine_cannot_run_is_422_naming_the_field(
    api: Api, project: dict[str, Any], pattern: str
) -> None:
    status, _, error = api(
        "POST", f"{project['path']}/template", user=project["owner"], json={"key": "K", "pattern": pattern}
    )
    assert (status, error["error"]["code"]) == (422, "pattern_unsupported"), error
    assert [f["field"] for f in error["error"]["details"]["fields"]] == ["pattern"]
    assert api("GET", f"{project['path']}/template", user=project["owner"])[2]["data"] == []


def test_a_stored_pattern_the_linear_engine_cannot_run_is_reported_not_run(
    api: Api, project: dict[str, Any], stack: LocalStack
) -> None:
    """A template key written before patterns moved to RE2 (put in the table directly here)."""
    owner, path = project["owner"], project["path"]
    assert api("POST", f"{path}/template", user=owner, json={"key": "OLD", "pattern": "x"})[0] == 201
    _, _, org = api("GET", f"/v1/orgs/{project['org']}", user=owner)
    assert stack.resources is not None
    table = stack.resources.refs["Table"]
    key = {"PK": {"S": f"ORG#{org['id']}"}, "SK": {"S": f"TEMPLATE#{project['id']}#OLD"}}
    item = aws.dynamodb().get_item(TableName=table, Key=key)["Item"]
    aws.dynamodb().put_item(TableName=table, Item={**item, "pattern": {"S": "(a+)+\\1$"}})
    staging = f"{path}/environments/staging"
    assert api("PUT", f"{staging}/secrets/OLD", user=owner, json={"value": "a" * 27 + "!"})[0] == 200
    status, _, report = api("GET", f"{staging}/validate", user=owner)
    assert (status, report["valid"], report["unsupported"], report["mismatched"]) == (200, False, ["OLD"], [])
