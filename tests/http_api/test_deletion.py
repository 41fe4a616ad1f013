"""Deleting an org, a project or an environment: the request writes the audited tombstone (the
resource is gone for every reader at once, and its tokens with it); the purge worker removes
everything under it afterwards, finishes a purge cut short, and a second run changes nothing.
Every assertion about what is left reads the partition concerned (Query or GetItem), never a scan."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from strongroom import aws
from strongroom.data import db
from strongroom.domain import purge
from strongroom_local import LocalStack, workers
from support import Api, unique_email

pytestmark = pytest.mark.http


def _table(stack: LocalStack) -> str:
    assert stack.resources is not None
    return stack.resources.refs["Table"]


def _partition(stack: LocalStack, pk: str) -> list[dict[str, Any]]:
    """Every item of one partition (Query), plain."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": _table(stack),
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        page = aws.dynamodb().query(**params)
        out += [db.deserialize(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _item(stack: LocalStack, pk: str, sk: str) -> dict[str, Any] | None:
    found = aws.dynamodb().get_item(
        TableName=_table(stack), Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    )
    return db.deserialize(found["Item"]) if "Item" in found else None


@contextmanager
def workers_paused() -> Iterator[None]:
    """No stream record is handled meanwhile: what the request alone did can be seen."""
    workers.pause()
    try:
        yield
    finally:
        workers.resume()


def _purged(stack: LocalStack, target_id: str, timeout: float = 60.0) -> None:
    """Wait until the worker finished the purge of `target_id` (its job item is gone)."""
    deadline = time.monotonic() + timeout
    while _item(stack, f"PURGE#{target_id}", "PURGE") is not None:
        assert time.monotonic() < deadline, f"the purge of {target_id} did not finish"
        time.sleep(0.2)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _populated_org(api: Api, owner: str) -> dict[str, Any]:
    slug = f"del-{secrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Doomed", "slug": slug})
    assert status == 201
    status, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    assert status == 201
    base = f"/v1/orgs/{slug}/projects/web"
    body = {"name": "Preview", "parent": "development"}
    status, _, preview = api("POST", f"{base}/environments", user=owner, json=body)
    assert status == 201
    member = unique_email("member")
    status, _, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": member, "role": "admin"})
    assert status == 201
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=member)[0] == 200
    body = {"email": unique_email("later"), "role": "viewer"}
    status, _, pending = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json=body)
    assert status == 201
    # secrets (data keys, snapshots, versions), a template, service tokens, a webhook with a delivery
    for env in ("staging", "preview"):
        assert api("PUT", f"{base}/environments/{env}/secrets/A", user=owner, json={"value": "a"})[0] == 200
    assert api("POST", f"{base}/template", user=owner, json={"key": "A"})[0] == 201
    # the org's shared secrets (their own data key, snapshot, versions)
    assert api("POST", f"/v1/orgs/{slug}/shared-secrets", user=owner, json={"key": "S", "value": "s"})[0] == 201
    svc = {}
    for env in ("staging", "preview"):
        body = {"name": f"ci-{env}", "project": "web", "environment": env}
        status, _, svc[env] = api("POST", f"/v1/orgs/{slug}/tokens", user=owner, json=body)
        assert status == 201
    body = {"url": "http://127.0.0.1:9/hook", "events": ["org.never_sent"]}
    status, _, hook = api("POST", f"/v1/orgs/{slug}/webhooks", user=owner, json=body)
    assert status == 201
    assert api("POST", f"/v1/orgs/{slug}/webhooks/{hook['id']}/test", user=owner)[0] in {200, 201, 202}
    # personal tokens: one narrowed to this org alone, one not narrowed
    status, _, narrowed = api("POST", "/v1/auth/tokens", user=owner, json={"name": "only-doomed", "orgs": [slug]})
    assert status == 201
    status, _, everywhere = api("POST", "/v1/auth/tokens", user=owner, json={"name": "all"})
    assert status == 201
    # a SCIM token and a user it provisioned
    status, _, scim = api("POST", f"/v1/orgs/{slug}/scim/tokens", user=owner, json={"name": "idp"})
    assert status == 201
    provisioned = unique_email("provisioned")
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": provisioned}
    assert api("POST", "/scim/v2/Users", headers=_bearer(scim["token"]), json=user)[0] == 201
    # an agent and what it discovered
    status, _, agent = api("POST", f"/v1/orgs/{slug}/agents", user=owner, json={"name": "cluster"})
    assert status == 201
    found = {"ref": "ns/db#password", "provider": "kubernetes", "cluster_name": "c", "fingerprint": "hmac:0123456789"}
    path = f"/v1/agents/{agent['id']}/secrets/bulk"
    assert api("POST", path, headers=_bearer(agent["agent_secret"]), json={"secrets": [found]})[0] == 200
    return {
        "slug": slug,
        "org": org,
        "project": project,
        "env_ids": [e["id"] for e in project["environments"]] + [preview["id"]],
        "preview": preview,
        "invitation": pending["token"],
        "svc": svc,
        "webhook": hook,
        "narrowed_pat": narrowed,
        "pat": everywhere,
        "scim": scim,
        "agent": agent,
    }


@pytest.mark.usefixtures("stack_workers")  # the purge worker
def test_deleting_an_org_answers_at_once_and_the_worker_purges_everything_under_it(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = unique_email("owner")
    world = _populated_org(api, owner)
    org_id, slug = world["org"]["id"], world["slug"]
    assert api("GET", "/runtime/v1", headers=_bearer(world["svc"]["staging"]["token"]))[0] == 200

    with workers_paused():
        # When the org is deleted
        assert api("DELETE", f"/v1/orgs/{slug}", user=owner)[0] == 204
        # Then it is gone for every reader at once, and its service tokens stop with it
        assert api("GET", f"/v1/orgs/{org_id}", user=owner)[0] == 404
        assert org_id not in str(api("GET", "/v1/orgs", user=owner)[2])
        assert api("GET", "/runtime/v1", headers=_bearer(world["svc"]["staging"]["token"]))[0] == 401
        assert api("GET", "/scim/v2/Users", headers=_bearer(world["scim"]["token"]))[0] == 401
        beat = f"/v1/agents/{world['agent']['id']}/heartbeat"
        assert api("POST", beat, headers=_bearer(world["agent"]["agent_secret"]))[0] == 401
        # but the request left the purge to the worker: the partition is still there, with its job
        assert len(_partition(stack, f"ORG#{org_id}")) > 1
        assert _item(stack, f"PURGE#{org_id}", "PURGE") is not None

    _purged(stack, org_id)
    assert _partition(stack, f"ORG#{org_id}") == []
    for env_id in world["env_ids"]:
        assert _partition(stack, f"ENV#{env_id}") == [], env_id
    assert _partition(stack, f"ENV#shr_{org_id.partition('_')[2]}") == []  # the shared secrets
    assert _partition(stack, f"WEBHOOK#{world['webhook']['id']}") == []  # the delivery log
    for token in world["svc"].values():
        assert _item(stack, f"TOKEN#{token['id']}", "TOKEN") is None
    assert _item(stack, f"SCIMTOK#{world['scim']['id']}", "SCIMTOK") is None
    assert _item(stack, f"AGENT#{world['agent']['id']}", "AGENT") is None
    assert _partition(stack, f"DISCOVERED#{org_id}") == []
    # a personal token narrowed to this org alone is revoked; one that is not keeps working
    assert _item(stack, f"PAT#{world['narrowed_pat']['id']}", "PAT") is None
    assert api("GET", "/v1/me", headers=_bearer(world["narrowed_pat"]["token"]))[0] == 401
    assert api("GET", "/v1/me", headers=_bearer(world["pat"]["token"]))[0] == 200
    # the pending invitation's pointer is gone, the slug is free, the audit trail stays
    invitation_hash = hashlib.sha256(world["invitation"].encode()).hexdigest()
    assert _item(stack, f"INVTOKEN#{invitation_hash}", "INVTOKEN") is None
    assert api("POST", f"/v1/invitations/{world['invitation']}/accept", user=unique_email("later"))[0] == 404
    assert "org.deleted" in {i.get("action") for i in _partition(stack, f"AUDIT#{org_id}")}
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Reborn", "slug": slug})[0] == 201

    # A second run (a replayed record) deletes nothing
    deleted: list[int] = []
    monkeypatch.setattr(db, "delete_many", lambda keys_: deleted.append(len(keys_)))
    job = purge.PurgeJob(kind="org", target_id=org_id, org_id=org_id, created_at=world["org"]["created_at"])
    assert purge.step(job) is None
    assert sum(deleted) == 0
    record = {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": db.serialize({**job.model_dump(), "entity": "purge_job"})},
    }
    assert stack.invoke("PurgeFunction", {"Records": [record]}) == {"jobs": 1, "finished": 1}
    assert sum(deleted) == 0


@pytest.mark.usefixtures("stack_workers")  # the purge worker
def test_a_project_purge_cut_short_is_finished_by_the_retry(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = unique_email("owner")
    world = _populated_org(api, owner)
    slug, org_id, project_id = world["slug"], world["org"]["id"], world["project"]["id"]
    staging = next(e["id"] for e in world["project"]["environments"] if e["slug"] == "staging")

    with workers_paused():
        assert api("DELETE", f"/v1/orgs/{slug}/projects/{project_id}", user=owner)[0] == 204
        assert api("GET", f"/v1/orgs/{slug}/projects/web", user=owner)[0] == 404
        assert api("GET", f"/v1/orgs/{slug}/projects", user=owner)[2]["data"] == []
        assert api("GET", f"/v1/orgs/{slug}/tokens", user=owner)[2]["data"] == []  # its tokens are not listed
        assert api("GET", "/runtime/v1", headers=_bearer(world["svc"]["staging"]["token"]))[0] == 401
        # Given a purge step that crashes half-way (on its second batch of deletions)
        original, batches = db.delete_many, []

        def crashing(keys_: list[dict[str, str]]) -> None:
            if keys_:
                batches.append(keys_)
                if len(batches) == 2:
                    raise RuntimeError("the worker died")
            original(keys_)

        monkeypatch.setattr(db, "delete_many", crashing)
        with pytest.raises(RuntimeError):
            purge.run(project_id)
        monkeypatch.setattr(db, "delete_many", original)
        assert _item(stack, f"TOKEN#{world['svc']['staging']['id']}", "TOKEN") is None  # done before the crash
        assert _partition(stack, f"ENV#{staging}") != []  # not reached
        assert _item(stack, f"PURGE#{project_id}", "PURGE") is not None

    # When the stream's record is handled again (the workers resume), the purge finishes
    _purged(stack, project_id)
    for env_id in world["env_ids"]:
        assert _partition(stack, f"ENV#{env_id}") == [], env_id
    left = [i["SK"] for i in _partition(stack, f"ORG#{org_id}") if project_id in i["SK"]]
    assert left == []
    assert [i for i in _partition(stack, f"ORG#{org_id}") if i.get("entity") == "template_key"] == []
    assert api("GET", f"/v1/orgs/{slug}", user=owner)[0] == 200  # the org stays


@pytest.mark.usefixtures("stack_workers")  # the purge worker
def test_deleting_an_environment_revokes_its_tokens_at_once_and_purges_its_partition(
    api: Api, stack: LocalStack
) -> None:
    owner = unique_email("owner")
    world = _populated_org(api, owner)
    slug, preview, svc = world["slug"], world["preview"], world["svc"]
    base = f"/v1/orgs/{slug}/projects/web/environments"

    with workers_paused():
        assert api("DELETE", f"{base}/preview", user=owner)[0] == 204
        # Then its token vanishes from the org's list and stops authenticating; the others stay
        listed = [t["id"] for t in api("GET", f"/v1/orgs/{slug}/tokens", user=owner)[2]["data"]]
        assert listed == [svc["staging"]["id"]]
        assert api("GET", "/runtime/v1", headers=_bearer(svc["preview"]["token"]))[0] == 401
        assert api("DELETE", f"/v1/orgs/{slug}/tokens/{svc['preview']['id']}", user=owner)[0] == 404
        assert api("GET", "/runtime/v1", headers=_bearer(svc["staging"]["token"]))[0] == 200
        assert _partition(stack, f"ENV#{preview['id']}") != []  # left to the worker

    _purged(stack, preview["id"])
    assert _partition(stack, f"ENV#{preview['id']}") == []
    assert _item(stack, f"TOKEN#{svc['preview']['id']}", "TOKEN") is None
    assert _item(stack, f"TOKEN#{svc['staging']['id']}", "TOKEN") is not None
