"""Folders inside an environment, over HTTP through the local server: the same key at two paths,
lists by path and recursive, bad paths, move and delete, promote and point-in-time restore of a
path, a path's export read back by python-dotenv, the runtime pull of a path and its ETag, and
references to a folder's key."""

from __future__ import annotations

import io
import json
import secrets as pysecrets
import time
from typing import Any

import dotenv
import pytest

from strongroom.data import keys
from strongroom_local import LocalStack
from strongroom_sdk import Client
from support import Api, org_with_members, query_partition, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"fld-{pysecrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Folders", "slug": slug})
    assert status == 201, org
    _, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    base = f"/v1/orgs/{slug}/projects/web/environments"
    ids = {e["slug"]: e["id"] for e in project["environments"]}
    return {"owner": owner, "slug": slug, "org_id": org["id"], "base": base, "staging": f"{base}/staging", "ids": ids}


def _put(
    api: Api, env: dict[str, Any], key: str, value: str, path: str = "/", *, where: str = "staging"
) -> dict[str, Any]:
    status, _, body = api(
        "PUT", f"{env['base']}/{where}/secrets/{key}?path={path}", user=env["owner"], json={"value": value}
    )
    assert status == 200, body
    return body


def test_the_same_key_at_two_paths_holds_two_values_with_their_own_history(
    api: Api, env: dict[str, Any], stack: LocalStack
) -> None:
    # Given DB_URL at the root and in /backend/db
    staging, owner = env["staging"], env["owner"]
    assert _put(api, env, "DB_URL", "root-value")["path"] == "/"
    written = _put(api, env, "DB_URL", "folder-value", "/backend/db")
    assert (written["key"], written["path"], written["version"]) == ("DB_URL", "/backend/db", 1)
    _put(api, env, "DB_URL", "folder-value-2", "/backend/db")

    # Then each path reads its own value and history
    assert api("GET", f"{staging}/secrets/DB_URL", user=owner)[2]["value"] == "root-value"
    got = api("GET", f"{staging}/secrets/DB_URL?path=/backend/db", user=owner)[2]
    assert (got["value"], got["version"], got["path"]) == ("folder-value-2", 2, "/backend/db")
    old = api("GET", f"{staging}/secrets/DB_URL?path=/backend/db&version=1", user=owner)[2]
    assert old["value"] == "folder-value"
    history = api("GET", f"{staging}/secrets/DB_URL/versions?path=/backend/db", user=owner)[2]["data"]
    assert [(v["version"], v["path"]) for v in history] == [(2, "/backend/db"), (1, "/backend/db")]
    assert [v["version"] for v in api("GET", f"{staging}/secrets/DB_URL/versions", user=owner)[2]["data"]] == [1]
    assert api("GET", f"{staging}/secrets/DB_URL?path=/backend", user=owner)[0] == 404

    # And the folder's version items are named by path and key, beside the root's
    items = query_partition(stack, keys.environment_partition(env["ids"]["staging"]), "VERSION#")
    assert sorted(i["SK"]["S"] for i in items) == [
        "VERSION#/backend/db/DB_URL#0000000001",
        "VERSION#/backend/db/DB_URL#0000000002",
        "VERSION#DB_URL#0000000001",
    ]

    # Audit events (hence webhooks, made from them) name the folder; the root's are as before
    events = [
        e for e in query_partition(stack, f"AUDIT#{env['org_id']}", "EVT#") if e["action"]["S"] == "secret.created"
    ]
    notes = sorted(json.dumps(json.loads(json.dumps(e["metadata"]["M"])), sort_keys=True) for e in events)
    assert sorted("path" in n for n in notes) == [False, True]
    assert all('"DB_URL"' in n for n in notes)
    assert any('"/backend/db"' in n for n in notes)
    assert "folder-value" not in json.dumps(events)

    # Delete, restore and rollback work on the folder's key alone
    assert api("DELETE", f"{staging}/secrets/DB_URL?path=/backend/db", user=owner)[0] == 204
    assert api("GET", f"{staging}/secrets/DB_URL", user=owner)[2]["value"] == "root-value"
    restored = api("POST", f"{staging}/secrets/DB_URL/restore?path=/backend/db", user=owner)[2]
    assert (restored["version"], restored["path"]) == (4, "/backend/db")
    rolled = api("POST", f"{staging}/secrets/DB_URL/rollback?path=/backend/db", user=owner, json={"version": 1})
    assert rolled[0] == 200
    assert api("GET", f"{staging}/secrets/DB_URL?path=/backend/db", user=owner)[2]["value"] == "folder-value"


def test_lists_by_path_and_recursive_and_folders_listed(api: Api, env: dict[str, Any]) -> None:
    staging, owner = env["staging"], env["owner"]
    _put(api, env, "A", "1")
    _put(api, env, "B", "2", "/backend")
    _put(api, env, "C", "3", "/backend/db")
    patch = {"set": {"D": "4", "E": "5"}, "delete": []}
    changed = api("PATCH", f"{staging}/secrets?path=/backend/db", user=owner, json=patch)[2]
    assert [(c["key"], c["path"], c["action"]) for c in changed["changes"]] == [
        ("D", "/backend/db", "created"),
        ("E", "/backend/db", "created"),
    ]

    def listed(query: str) -> list[tuple[str, str]]:
        status, _, body = api("GET", f"{staging}/secrets{query}", user=owner)
        assert status == 200, body
        return [(i["path"], i["key"]) for i in body["data"]]

    assert listed("") == [("/", "A")]
    assert listed("?path=/backend") == [("/backend", "B")]
    assert listed("?path=/backend/db&values=false") == [("/backend/db", k) for k in ("C", "D", "E")]
    everything = [("/backend", "B"), ("/backend/db", "C"), ("/backend/db", "D"), ("/backend/db", "E"), ("/", "A")]
    assert listed("?recursive=true") == everything
    assert listed("?path=/backend&recursive=true&prefix=D") == [("/backend/db", "D")]
    # pages of a recursive listing follow each other
    first = api("GET", f"{staging}/secrets?recursive=true&limit=2", user=owner)[2]
    rest = api("GET", f"{staging}/secrets?recursive=true&limit=10&cursor={first['next_cursor']}", user=owner)[2]
    assert [(i["path"], i["key"]) for i in first["data"] + rest["data"]] == everything

    # folders: created with the values written into them, listed with their counts
    folders = api("GET", f"{staging}/folders?recursive=true", user=owner)[2]["data"]
    assert [(f["path"], f["secrets"]) for f in folders] == [("/backend", 1), ("/backend/db", 3)]
    assert all(f["id"].startswith("fld_") for f in folders)
    assert [f["path"] for f in api("GET", f"{staging}/folders", user=owner)[2]["data"]] == ["/backend"]
    assert api("GET", f"{staging}/secrets?path=/nowhere", user=owner)[2]["error"]["code"] == "folder_not_found"


@pytest.mark.parametrize(
    "bad",
    ["backend", "/backend/", "//x", "/a/../b", "/a/./b", "/..", "/.hidden", "/a b", "/" + "x" * 65, "/a" * 11],
)
def test_a_bad_path_is_a_4xx_in_the_envelope(api: Api, env: dict[str, Any], bad: str) -> None:
    staging, owner = env["staging"], env["owner"]
    for method, path, body in (
        ("GET", f"{staging}/secrets", None),
        ("PUT", f"{staging}/secrets/K", {"value": "v"}),
        ("GET", "/runtime/v1/secrets", None),
    ):
        status, _, answer = api(method, f"{path}?path={bad.replace(' ', '%20')}", user=owner, json=body)
        assert (status, answer["error"]["code"]) == (400, "validation_error"), (bad, answer)
    status, _, answer = api("POST", f"{staging}/folders", user=owner, json={"path": bad})
    assert (status, answer["error"]["code"]) == (400, "validation_error")
    assert bad not in str(answer)  # errors never echo input


def test_move_and_delete_a_folder(api: Api, env: dict[str, Any]) -> None:
    staging, owner = env["staging"], env["owner"]
    _put(api, env, "K", "v1", "/old/db")
    _put(api, env, "K", "v2", "/old/db")
    status, _, made = api("POST", f"{staging}/folders", user=owner, json={"path": "/empty/one"})
    assert status == 201, made
    assert made["path"] == "/empty/one"
    assert api("POST", f"{staging}/folders", user=owner, json={"path": "/empty/one"})[2]["error"]["code"] == (
        "folder_exists"
    )
    folders = {f["path"]: f["id"] for f in api("GET", f"{staging}/folders?recursive=true", user=owner)[2]["data"]}

    # a move takes the subfolders and live secrets along, as one change
    status, _, moved = api("PATCH", f"{staging}/folders/{folders['/old']}", user=owner, json={"path": "/new"})
    assert status == 200, moved
    assert sorted((c["path"], c["key"], c["action"]) for c in moved["changes"]) == [
        ("/new/db", "K", "created"),
        ("/old/db", "K", "deleted"),
    ]
    assert api("GET", f"{staging}/secrets/K?path=/new/db", user=owner)[2]["value"] == "v2"
    assert api("GET", f"{staging}/secrets/K?path=/old/db", user=owner)[0] == 404
    after = {f["path"]: f["id"] for f in api("GET", f"{staging}/folders?recursive=true", user=owner)[2]["data"]}
    assert after == {
        "/empty": folders["/empty"],
        "/empty/one": made["id"],
        "/new": folders["/old"],
        "/new/db": folders["/old/db"],
    }
    into_itself = api("PATCH", f"{staging}/folders/{folders['/old']}", user=owner, json={"path": "/new/db/x"})
    assert into_itself[0] == 422
    taken = api("PATCH", f"{staging}/folders/{folders['/old']}", user=owner, json={"path": "/empty"})
    assert (taken[0], taken[2]["error"]["code"]) == (409, "folder_exists")

    # a folder holding something is refused unless recursive; recursive trashes its secrets
    refused = api("DELETE", f"{staging}/folders/{folders['/old']}", user=owner)
    assert (refused[0], refused[2]["error"]["code"]) == (409, "folder_not_empty")
    status, _, deleted = api("DELETE", f"{staging}/folders/{folders['/old']}?recursive=true", user=owner)
    assert status == 200
    assert [(c["path"], c["key"], c["action"]) for c in deleted["changes"]] == [("/new/db", "K", "deleted")]
    assert api("DELETE", f"{staging}/folders/{made['id']}", user=owner)[0] == 200
    remaining = api("GET", f"{staging}/folders?recursive=true", user=owner)[2]["data"]
    assert [f["path"] for f in remaining] == ["/empty"]
    # the trashed key comes back, with its folder
    assert api("POST", f"{staging}/secrets/K/restore?path=/new/db", user=owner)[0] == 200
    assert api("GET", f"{staging}/secrets?path=/new/db", user=owner)[2]["data"][0]["value"] == "v2"


def test_promote_a_path_and_restore_a_path_at_an_instant(api: Api, env: dict[str, Any]) -> None:
    base, owner, project = env["base"], env["owner"], env["base"].rsplit("/", 1)[0]
    _put(api, env, "ROOT", "r")
    _put(api, env, "DB_URL", "pg://staging", "/backend/db")
    _put(api, env, "CACHE", "redis://staging", "/backend/cache")

    body = {"from": "staging", "to": "production", "path": "/backend/db"}
    status, _, diff = api("POST", f"{project}/promote", user=owner, json={**body, "dry_run": True})
    assert status == 200
    assert [(c["path"], c["key"], c["action"]) for c in diff["changes"]] == [("/backend/db", "DB_URL", "add")]
    assert api("POST", f"{project}/promote", user=owner, json=body)[0] == 200
    production = api("GET", f"{base}/production/secrets?recursive=true", user=owner)[2]["data"]
    assert [(i["path"], i["key"], i["value"]) for i in production] == [("/backend/db", "DB_URL", "pg://staging")]
    # the whole tree (no path)
    assert api("POST", f"{project}/promote", user=owner, json={"from": "staging", "to": "development"})[0] == 200
    development = api("GET", f"{base}/development/secrets?recursive=true&values=false", user=owner)[2]["data"]
    assert [(i["path"], i["key"]) for i in development] == [
        ("/backend/cache", "CACHE"),
        ("/backend/db", "DB_URL"),
        ("/", "ROOT"),
    ]

    # point-in-time restore of one folder: the rest of the environment stays as it is
    at = api("GET", f"{env['staging']}/secrets/DB_URL?path=/backend/db", user=owner)[2]["updated_at"]
    time.sleep(0.005)
    _put(api, env, "DB_URL", "pg://changed", "/backend/db")
    _put(api, env, "NEW", "n", "/backend/db")
    _put(api, env, "CACHE", "redis://changed", "/backend/cache")
    _put(api, env, "ROOT", "changed")
    status, _, restored = api("POST", f"{env['staging']}/restore", user=owner, json={"at": at, "path": "/backend/db"})
    assert status == 200, restored
    assert sorted((c["path"], c["key"], c["action"]) for c in restored["changes"]) == [
        ("/backend/db", "DB_URL", "updated"),
        ("/backend/db", "NEW", "deleted"),
    ]
    now = api("GET", f"{env['staging']}/secrets?recursive=true", user=owner)[2]["data"]
    assert [(i["path"], i["key"], i["value"]) for i in now] == [
        ("/backend/cache", "CACHE", "redis://changed"),
        ("/backend/db", "DB_URL", "pg://staging"),
        ("/", "ROOT", "changed"),
    ]


def test_export_of_a_path_round_trips_through_python_dotenv(api: Api, env: dict[str, Any]) -> None:
    staging, owner = env["staging"], env["owner"]
    values = {"DB_URL": "postgres://u:p@h/db?x=1", "QUOTED": 'say "hi" # not a comment', "MULTI": "a\nb"}
    assert api("PATCH", f"{staging}/secrets?path=/backend/db", user=owner, json={"set": values})[0] == 200
    _put(api, env, "DB_URL", "root-db")
    _put(api, env, "DEEPER", "deep", "/backend/db/replica")
    _put(api, env, "DB_URL", "deeper-db", "/backend/db/replica")

    status, headers, text = api("GET", f"{staging}/export?format=dotenv&path=/backend/db", user=owner)
    assert status == 200
    assert dotenv.dotenv_values(stream=io.StringIO(text)) == values
    # recursive: subfolders flattened in, the folder's own key winning over a deeper one
    _, _, text = api("GET", f"{staging}/export?format=dotenv&path=/backend/db&recursive=true", user=owner)
    assert dotenv.dotenv_values(stream=io.StringIO(text)) == {**values, "DEEPER": "deep"}
    # the root's export is as before: its own keys only
    _, _, root = api("GET", f"{staging}/export?format=json", user=owner)
    assert root == {"DB_URL": "root-db"}
    # an ETag of one path never answers 304 for another
    tag = headers["etag"]
    assert api("GET", f"{staging}/export?path=/backend/db", user=owner, headers={"If-None-Match": tag})[0] == 304
    assert api("GET", f"{staging}/export?path=/backend", user=owner, headers={"If-None-Match": tag})[0] == 200
    assert api("GET", f"{staging}/export", user=owner, headers={"If-None-Match": tag})[0] == 200


def test_runtime_pull_of_a_path_and_references_to_a_folder_key(api: Api, env: dict[str, Any], local_stack: str) -> None:
    owner = env["owner"]
    _put(api, env, "HOST", "db.internal", "/backend/db")
    _put(api, env, "URL", "postgres://${/backend/db/HOST}/app", "/backend/db")
    _put(api, env, "PLAIN", "root")
    body = {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read"]}
    status, _, token = api("POST", f"/v1/orgs/{env['slug']}/tokens", user=owner, json=body)
    assert status == 201, token
    auth = {"Authorization": f"Bearer {token['token']}"}

    status, headers, pulled = api("GET", "/runtime/v1/secrets?path=/backend/db", headers=auth)
    assert status == 200
    assert pulled["secrets"] == {"HOST": "db.internal", "URL": "postgres://db.internal/app"}
    root = api("GET", "/runtime/v1/secrets", headers=auth)[2]["secrets"]
    assert root == {"PLAIN": "root"}
    one = api("GET", "/runtime/v1/secrets/URL?path=/backend/db", headers=auth)[2]
    assert one["value"] == "postgres://db.internal/app"
    # 304 while nothing changed; a change in the folder turns it into a 200 with the new value
    tag = {**auth, "If-None-Match": headers["etag"]}
    assert api("GET", "/runtime/v1/secrets?path=/backend/db", headers=tag)[0] == 304
    assert api("GET", "/runtime/v1/secrets?path=/backend/db&recursive=true", headers=tag)[0] == 200
    _put(api, env, "HOST", "db2.internal", "/backend/db")
    status, _, again = api("GET", "/runtime/v1/secrets?path=/backend/db", headers=tag)
    assert status == 200
    assert again["secrets"]["URL"] == "postgres://db2.internal/app"
    assert api("GET", "/runtime/v1/secrets?path=/nowhere", headers=auth)[2]["error"]["code"] == "folder_not_found"
    # the SDK pulls a folder too (its ETag, then one 304 while unchanged)
    client = Client(local_stack, token=token["token"], path="/backend/db")
    assert client.secrets() == {"HOST": "db2.internal", "URL": "postgres://db2.internal/app"}
    assert client.get("URL") == "postgres://db2.internal/app"
    assert client.not_modified == 1


def test_a_child_environment_inherits_per_path(api: Api, env: dict[str, Any]) -> None:
    base, owner = env["base"], env["owner"]
    status, _, child = api("POST", base, user=owner, json={"name": "Preview", "parent": "staging"})
    assert status == 201, child
    _put(api, env, "K", "parent-folder", "/app")
    _put(api, env, "K", "parent-root")
    _put(api, env, "OWN", "child", "/app", where="preview")
    listed = api("GET", f"{base}/preview/secrets?path=/app", user=owner)[2]["data"]
    assert [(i["key"], i["value"], i["inherited"]) for i in listed] == [
        ("K", "parent-folder", True),
        ("OWN", "child", False),
    ]
    assert api("GET", f"{base}/preview/secrets/K", user=owner)[2]["value"] == "parent-root"
    folders = api("GET", f"{base}/preview/folders", user=owner)[2]["data"]
    assert [(f["path"], f["source"], f["secrets"]) for f in folders] == [("/app", "preview", 2)]


def test_a_reference_names_another_environments_folder_key(api: Api, env: dict[str, Any]) -> None:
    staging, owner = env["staging"], env["owner"]
    _put(api, env, "PW", "prod-pw", "/backend/db", where="production")
    _put(api, env, "FROM_PROD", "${production./backend/db/PW}")
    _put(api, env, "ROOT_NAME", "${PW}")  # `${KEY}` is the root's KEY, as before folders: none here
    assert api("GET", f"{staging}/secrets/FROM_PROD", user=owner)[2]["value"] == "prod-pw"
    assert api("GET", f"{staging}/secrets/ROOT_NAME", user=owner)[2]["value"] == "${PW}"


def test_a_developers_folder_move_into_a_covered_environment_is_held_then_applied(api: Api) -> None:
    slug, emails, _ids = org_with_members(api, {"admin": "admin", "dev": "developer"})
    owner, dev, admin = emails["owner"], emails["dev"], emails["admin"]
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    staging = f"/v1/orgs/{slug}/projects/web/environments/staging"
    status, _, written = api("PUT", f"{staging}/secrets/K?path=/old", user=owner, json={"value": "v"})
    assert status == 200, written
    body = {"name": "Guard", "project": "web", "environments": ["staging"], "applies_to": ["changes"]}
    assert (
        api("POST", f"/v1/orgs/{slug}/approval-policies", user=owner, json={**body, "approvers": ["admin"]})[0] == 201
    )
    [folder] = api("GET", f"{staging}/folders", user=dev)[2]["data"]

    status, _, held = api("PATCH", f"{staging}/folders/{folder['id']}", user=dev, json={"path": "/new"})
    assert status == 202, held
    cr = held["change_request"]
    assert sorted((c["key"], c["action"]) for c in cr["changes"]) == [("/new/K", "create"), ("/old/K", "delete")]
    assert api("GET", f"{staging}/secrets/K?path=/old", user=dev)[2]["value"] == "v"  # nothing moved yet

    base = f"/v1/orgs/{slug}/change-requests/{cr['id']}"
    assert api("POST", f"{base}/approve", user=admin, json={})[0] == 200
    assert api("POST", f"{base}/apply", user=dev)[0] == 200
    assert api("GET", f"{staging}/secrets/K?path=/new", user=dev)[2]["value"] == "v"
    assert api("GET", f"{staging}/secrets/K?path=/old", user=dev)[0] == 404
