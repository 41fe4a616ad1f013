"""The data migration of issue #18 (strongroom/data/migrations.py `count_plan_usage`): an org
written before plans and limits (no counters, no plan, not in the admin's listing) gets them as
counted, once; running it again changes nothing."""

from __future__ import annotations

import pytest

from integration.conftest import Invoke, body_of, dev_user, load_event
from strongroom import aws
from strongroom.data import migrations
from strongroom_local import LocalStack
from support import get_item, table_name

LEGACY = ("usage_projects", "usage_environments", "usage_members", "plan", "GSI1PK", "GSI1SK")


@pytest.mark.isolated  # the migration scans the table: only this test's
def test_an_org_from_before_the_counters_is_counted_once(invoke: Invoke, stack: LocalStack) -> None:
    # Given an org with a project (three environments), its item stripped of what #18 added
    user = dev_user()
    org = body_of(invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Legacy"})))
    made = invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": org["id"]}))
    assert made["statusCode"] == 201, made
    pk, project_sk = f"ORG#{org['id']}", f"PROJECT#{body_of(made)['id']}"
    item = get_item(stack, pk, "ORG") or {}
    legacy = {k: v for k, v in item.items() if k not in LEGACY}
    aws.dynamodb().put_item(TableName=table_name(stack), Item=legacy)
    project = {k: v for k, v in (get_item(stack, pk, project_sk) or {}).items() if k != "environment_count"}
    aws.dynamodb().put_item(TableName=table_name(stack), Item=project)
    # When the migrations run twice
    first, again = migrations.count_plan_usage(), migrations.count_plan_usage()
    # Then the org is counted, on the plan new orgs start on, listed; the project's environments too
    assert first == 2  # the org and the project
    assert again == 0
    counted = get_item(stack, pk, "ORG") or {}
    assert counted["usage_projects"] == {"N": "1"}
    assert counted["usage_environments"] == {"N": "3"}
    assert counted["usage_members"] == {"N": "1"}
    assert counted["plan"] == {"S": "enterprise"}  # the local stack's NEW_ORG_PLAN
    assert counted["GSI1PK"] == {"S": "ORGS"}
    assert (get_item(stack, pk, project_sk) or {})["environment_count"] == {"N": "3"}
