"""Changes of any size as one change (#11 part 2), over HTTP against the local stack: a 3,000-key
import, a promotion of those 3,000 keys and a point-in-time restore of them are one change each
(one revision, one audit event), and a 95-key PATCH into a 5,000-key environment succeeds."""

from __future__ import annotations

import secrets as pysecrets
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Api

from support import unique_email

SLOW = 300.0


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"big-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Big", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    project = f"/v1/orgs/{slug}/projects/web"
    return {"owner": owner, "org": f"/v1/orgs/{slug}", "project": project, "env": f"{project}/environments"}


def _import(api: Api, env: dict[str, Any], name: str, keys: range, tag: str = "v") -> dict[str, Any]:
    content = "".join(f"K{i:05d}={tag}{i:05d}{'x' * 90}\n" for i in keys)
    body = {"format": "dotenv", "content": content, "overwrite": True}
    status, _, result = api("POST", f"{env['env']}/{name}/import", user=env["owner"], json=body, timeout=SLOW)
    assert status == 200, result
    return dict(result)


def _events(api: Api, env: dict[str, Any], action: str) -> list[dict[str, Any]]:
    status, _, page = api("GET", f"{env['org']}/audit?limit=500&action={action}", user=env["owner"])
    assert status == 200, page
    return list(page["data"])


def _values(api: Api, env: dict[str, Any], name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    cursor = ""
    while True:
        path = f"{env['env']}/{name}/secrets?limit=500{cursor}"
        status, _, page = api("GET", path, user=env["owner"], timeout=SLOW)
        assert status == 200, page
        out.update({i["key"]: i["value"] for i in page["data"]})
        if not page["next_cursor"]:
            return out
        cursor = f"&cursor={page['next_cursor']}"


def test_a_3000_key_import_is_one_change_and_promotes_as_one(api: Api, env: dict[str, Any]) -> None:
    created = _import(api, env, "staging", range(3000))

    assert created == {"created": 3000, "updated": 0, "unchanged": 0, "revision": 1}
    events = _events(api, env, "secrets.imported")
    assert len(events) == 1
    assert events[0]["metadata"]["count"] == 3000
    assert len(events[0]["metadata"]["keys"]) == 100  # bounded: the first 100, the count and a digest

    body = {"from": "staging", "to": "production"}
    status, _, promoted = api("POST", f"{env['project']}/promote", user=env["owner"], json=body, timeout=SLOW)

    assert status == 200, promoted
    assert promoted["revision"] == 1
    assert sum(c["action"] == "add" for c in promoted["changes"]) == 3000
    assert len(_events(api, env, "secrets.promoted")) == 1
    assert _values(api, env, "production") == _values(api, env, "staging")
    status, _, history = api("GET", f"{env['env']}/production/secrets/K02999/versions", user=env["owner"])
    assert [v["version"] for v in history["data"]] == [1]


def test_a_point_in_time_restore_of_3000_keys_is_one_change(api: Api, env: dict[str, Any]) -> None:
    _import(api, env, "staging", range(3000))
    before = _values(api, env, "staging")
    time.sleep(0.01)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    _import(api, env, "staging", range(3000), tag="w")

    status, _, restored = api("POST", f"{env['env']}/staging/restore", user=env["owner"], json={"at": at}, timeout=SLOW)

    assert status == 200, restored
    assert (restored["restored"], restored["trashed"], restored["revision"]) == (3000, 0, 3)
    assert len(_events(api, env, "environment.restored")) == 1
    assert _values(api, env, "staging") == before
    status, _, history = api("GET", f"{env['env']}/staging/secrets/K00042/versions", user=env["owner"])
    assert [v["version"] for v in history["data"]] == [3, 2, 1]


def test_a_95_key_patch_into_a_5000_key_environment_succeeds(api: Api, env: dict[str, Any]) -> None:
    _import(api, env, "staging", range(5000))
    wanted = {f"K{i:05d}": f"new{i}" for i in range(0, 5000, 53)}  # 95 keys
    assert len(wanted) == 95

    status, _, body = api("PATCH", f"{env['env']}/staging/secrets", user=env["owner"], json={"set": wanted})

    assert status == 200, body
    assert body["revision"] == 2
    assert {c["action"] for c in body["changes"]} == {"updated"}
    values = _values(api, env, "staging")
    assert len(values) == 5000
    assert all(values[k] == v for k, v in wanted.items())
