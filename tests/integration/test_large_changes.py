"""Changes of any size as one change (#11 part 2), on the session's moto table: a change too large
for one transaction is written ahead under a change id, published by one transaction, then
materialized. One revision and one audit event; every key's history complete, even when the
writer stops after publishing; a lost race leaves nothing behind; a KMS failure writes nothing."""

from __future__ import annotations

import contextvars
import secrets
from typing import Any

import pytest

from integration.conftest import Invoke, body_of, dev_user, load_event
from strongroom import aws
from strongroom.data import secrets as secret_data
from strongroom_local import LocalStack
from support import query_partition

E = "/v1/orgs/{org}/projects/{project}/environments/{env}"
NO_KEY = {"idempotency-key": None}


class _Killed(BaseException):
    """The writer's process ends here (no handler catches it)."""


def _world(invoke: Invoke) -> dict[str, Any]:
    user = {**dev_user(), **NO_KEY}
    slug = f"lc-{secrets.token_hex(4)}"
    org = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Lc", "slug": slug}))
    assert org["statusCode"] == 201, org
    project = invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    assert project["statusCode"] == 201, project
    envs = {e["slug"]: e["id"] for e in body_of(project)["environments"]}
    return {"user": user, "org": body_of(org)["id"], "project": body_of(project)["id"], "envs": envs}


def _call(invoke: Invoke, world: dict[str, Any], route: str, env: str = "staging", **kw: Any) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    params = {"org": world["org"], "project": world["project"], "env": world["envs"][env], **kw.pop("params", {})}
    template = f"{method} {path.replace('{E}', E)}"
    event = load_event("secrets_put", headers=world["user"], routeKey=template, path_parameters=params, **kw)
    return invoke("SecretsFunction", event)


def _import(invoke: Invoke, world: dict[str, Any], n: int, *, tag: str = "v", env: str = "staging") -> dict[str, Any]:
    content = "".join(f"K{i:05d}={tag}{i:05d}{'x' * 90}\n" for i in range(n))
    body = {"format": "dotenv", "content": content, "overwrite": True}
    return _call(invoke, world, "POST {E}/import", env, body=body)


def _env_items(stack: LocalStack, world: dict[str, Any], prefix: str, env: str = "staging") -> list[dict[str, Any]]:
    return query_partition(stack, f"ENV#{world['envs'][env]}", prefix)


def _count(stack: LocalStack, world: dict[str, Any], prefix: str, env: str = "staging") -> int:
    """How many items of the environment's partition begin with `prefix` (a Query, Select=COUNT)."""
    from support import table_name

    kwargs: dict[str, Any] = {
        "TableName": table_name(stack),
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
        "ExpressionAttributeValues": {":pk": {"S": f"ENV#{world['envs'][env]}"}, ":sk": {"S": prefix}},
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    total = 0
    while True:
        page = aws.dynamodb().query(**kwargs)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _events(stack: LocalStack, world: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [e for e in query_partition(stack, f"AUDIT#{world['org']}", "EVT#") if e["action"]["S"] == action]


def test_a_change_of_3000_keys_is_one_revision_one_event_and_complete_history(
    invoke: Invoke, stack: LocalStack
) -> None:
    world = _world(invoke)

    created = _import(invoke, world, 3000)
    updated = _import(invoke, world, 3000, tag="w")

    assert created["statusCode"] == 200, created
    assert body_of(created) == {"created": 3000, "updated": 0, "unchanged": 0, "revision": 1}
    assert body_of(updated) == {"created": 0, "updated": 3000, "unchanged": 0, "revision": 2}
    events = _events(stack, world, "secrets.imported")
    assert len(events) == 2
    metadata = events[0]["metadata"]["M"]
    assert metadata["count"]["N"] == "3000"
    assert len(metadata["keys"]["L"]) == 100
    assert "keys_sha256" in metadata
    assert _count(stack, world, "VERSION#") == 6000  # every key: versions 1 and 2
    assert _env_items(stack, world, "CHANGE#") == []  # the change sets, materialized, are gone
    head = _env_items(stack, world, "SNAPSHOT")
    snapshot = next(i for i in head if i["SK"]["S"] == "SNAPSHOT")
    assert "pending" not in snapshot
    assert len(head) == 1 + int(snapshot["chunks"]["N"])  # the previous revision's parts are gone
    history = _call(invoke, world, "GET {E}/secrets/{key}/versions", params={"key": "K02999"})
    assert [v["version"] for v in body_of(history)["data"]] == [2, 1]
    past = _call(
        invoke, world, "GET {E}/secrets/{key}", params={"key": "K00007"}, queryStringParameters={"version": "1"}
    )
    assert body_of(past)["value"] == "v00007" + "x" * 90


def test_a_writer_stopped_after_publishing_leaves_complete_history_the_next_writer_finishes(
    invoke: Invoke, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(invoke)

    def killed(env_id: str, records: list[Any]) -> None:
        raise _Killed

    monkeypatch.setattr(secret_data, "materialize", killed)
    with pytest.raises(_Killed):
        _import(invoke, world, 3000)
    monkeypatch.undo()

    assert _count(stack, world, "VERSION#") == 0  # nothing materialized
    listed = _call(invoke, world, "GET {E}/secrets", queryStringParameters={"limit": "500"})
    assert len(body_of(listed)["data"]) == 500  # published: readers see it all
    history = _call(invoke, world, "GET {E}/secrets/{key}/versions", params={"key": "K01234"})
    assert [v["version"] for v in body_of(history)["data"]] == [1]
    past = _call(
        invoke, world, "GET {E}/secrets/{key}", params={"key": "K01234"}, queryStringParameters={"version": "1"}
    )
    assert body_of(past)["value"] == "v01234" + "x" * 90
    rollback = _call(invoke, world, "POST {E}/secrets/{key}/rollback", params={"key": "K00001"}, body={"version": 1})
    assert rollback["statusCode"] == 200, rollback  # the next writer, after finishing the change

    assert _count(stack, world, "VERSION#") == 3001
    assert _env_items(stack, world, "CHANGE#") == []
    snapshot = next(i for i in _env_items(stack, world, "SNAPSHOT") if i["SK"]["S"] == "SNAPSHOT")
    assert "pending" not in snapshot
    assert len(_events(stack, world, "secrets.imported")) == 1


def test_a_large_change_that_loses_the_race_leaves_nothing_and_is_planned_again(
    invoke: Invoke, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(invoke)
    assert _import(invoke, world, 3000)["statusCode"] == 200
    stage = secret_data.stage
    staged: list[str] = []
    seen: list[Any] = []

    def then_a_concurrent_change(items: list[dict[str, Any]]) -> None:
        stage(items)
        if not staged:
            staged.extend(str(i["SK"]) for i in items)
            # another request of the same function, in its own context (the local gateway runs a
            # function's requests one at a time: this one is re-entered, as a second writer)
            put = {"params": {"key": "OTHER"}, "body": {"value": "o"}}
            other = contextvars.copy_context().run(_call, invoke, world, "PUT {E}/secrets/{key}", **put)
            seen.append(other)

    monkeypatch.setattr(secret_data, "stage", then_a_concurrent_change)
    updated = _import(invoke, world, 3000, tag="w")

    assert seen[0]["statusCode"] == 200, seen
    assert body_of(updated) == {"created": 0, "updated": 3000, "unchanged": 0, "revision": 3}
    left = {i["SK"]["S"] for i in _env_items(stack, world, "SNAPSHOT") + _env_items(stack, world, "CHANGE#")}
    assert staged
    assert not left & set(staged)  # what the loser wrote ahead is gone
    assert len(_events(stack, world, "secrets.imported")) == 2
    assert _count(stack, world, "VERSION#") == 6001


def test_a_kms_failure_fails_closed_and_writes_nothing(invoke: Invoke, stack: LocalStack) -> None:
    world = _world(invoke)
    assert stack.resources is not None
    key_id = stack.resources.refs["ServiceKey"]
    aws.kms().disable_key(KeyId=key_id)
    try:
        refused = _import(invoke, world, 3000)
    finally:
        aws.kms().enable_key(KeyId=key_id)

    assert refused["statusCode"] == 503, refused
    assert query_partition(stack, f"ENV#{world['envs']['staging']}") == []
    assert _events(stack, world, "secrets.imported") == []
