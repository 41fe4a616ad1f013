"""The postgres rotator against a real PostgreSQL server (tests/pg_server.py), over HTTP: the
two-user strategy. After a rotation the new URL connects, and the old one still does until the next
rotation (which gives the other user a new password); with the server stopped, a rotation fails,
the secret keeps its old value and the policy says `failed` with a reason that names no secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pg8000.native
import pytest

from pg_server import PgServer
from strongroom_local import LocalStack
from support import Api, query_partition, unique_email

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"pg-{secrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Pg", "slug": slug})
    assert status == 201, org
    status, _, _ = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "App", "slug": "app"})
    assert status == 201
    return {"owner": owner, "org_id": org["id"], "base": f"/v1/orgs/{slug}/projects/app/environments/staging"}


def who(url: str) -> str:
    """Connects with the URL as an application would, and asks the server who it is."""
    parts = urlsplit(url)
    conn = pg8000.native.Connection(
        parts.username or "",
        host=parts.hostname or "",
        port=parts.port or 5432,
        database=parts.path.lstrip("/"),
        password=parts.password,
        timeout=5,
    )
    try:
        return str(conn.run("SELECT current_user")[0][0])
    finally:
        conn.close()


def refused(url: str) -> bool:
    try:
        who(url)
    except pg8000.native.DatabaseError as exc:
        return exc.args[0].get("C") == "28P01"  # invalid_password
    return False


def value(api: Api, env: dict[str, Any]) -> dict[str, Any]:
    status, _, secret = api("GET", f"{env['base']}/secrets/DATABASE_URL", user=env["owner"])
    assert status == 200
    return dict(secret)


def rotate(api: Api, env: dict[str, Any]) -> dict[str, Any]:
    status, _, answer = api("POST", f"{env['base']}/secrets/DATABASE_URL/rotate", user=env["owner"])
    assert status == 200, answer
    return dict(answer)


def setup_policy(api: Api, env: dict[str, Any], pg: PgServer, *, master_password: str | None = None) -> str:
    pg.reset_passwords()
    original = pg.url("app_a")
    status, _, _ = api("PUT", f"{env['base']}/secrets/DATABASE_URL", user=env["owner"], json={"value": original})
    assert status == 200
    rotator = {
        "type": "postgres",
        "users": ["app_a", "app_b"],
        "master_username": "postgres",
        "master_password": master_password or pg.master_password,
    }
    status, _, policy = api(
        "PUT",
        f"{env['base']}/secrets/DATABASE_URL/rotation",
        user=env["owner"],
        json={"interval_days": 30, "rotator": rotator},
    )
    assert status == 200, policy
    return original


def test_two_user_rotation_keeps_the_old_credentials_working_until_the_next(
    api: Api, env: dict[str, Any], pg: PgServer
) -> None:
    # Given a secret holding app_a's URL, rotated by the two-user strategy
    original = setup_policy(api, env, pg)
    assert who(original) == "app_a"

    # When it rotates
    first = rotate(api, env)

    # Then the secret holds app_b's URL with a new password, which connects; app_a's still connects
    assert first["status"] == "succeeded", first
    after_first = value(api, env)["value"]
    assert who(after_first) == "app_b"
    assert urlsplit(after_first).password != pg.passwords["app_b"]
    assert who(original) == "app_a"

    # When it rotates again: back to app_a, with a new password; app_b's URL (the last one) still works,
    # the original app_a password no longer does
    second = rotate(api, env)
    assert second["status"] == "succeeded", second
    after_second = value(api, env)["value"]
    assert who(after_second) == "app_a"
    assert who(after_first) == "app_b"
    assert refused(original)
    assert second["version"] == first["version"] + 1


def test_a_wrong_master_password_fails_and_keeps_the_old_value(
    api: Api, stack: LocalStack, env: dict[str, Any], pg: PgServer
) -> None:
    wrong = "wrong-" + secrets.token_hex(6)
    original = setup_policy(api, env, pg, master_password=wrong)
    before = value(api, env)
    answer = rotate(api, env)
    assert answer["status"] == "failed"
    assert answer["last_error"] == "the database refused the login of 'postgres' (SQLSTATE 28P01)"
    assert value(api, env) == before
    assert who(original) == "app_a"
    events = [
        e for e in query_partition(stack, f"AUDIT#{env['org_id']}") if e["action"]["S"] == "secret.rotation_failed"
    ]
    assert len(events) == 1
    assert wrong not in json.dumps(events[0])
    assert pg.passwords["app_a"] not in json.dumps(events[0])


def test_a_stopped_server_fails_the_rotation_and_the_secret_keeps_its_value(
    api: Api, env: dict[str, Any], pg: PgServer
) -> None:
    setup_policy(api, env, pg)
    before = value(api, env)
    pg.stop()
    try:
        answer = rotate(api, env)
    finally:
        pg.restart()
    assert answer["status"] == "failed"
    assert answer["last_error"] == f"could not connect to the database at 127.0.0.1:{pg.port}"
    assert value(api, env) == before
    status, _, policy = api("GET", f"{env['base']}/secrets/DATABASE_URL/rotation", user=env["owner"])
    assert status == 200
    assert (policy["status"], policy["step"]) == ("failed", None)
    # and once the server is back, the next rotation succeeds
    assert rotate(api, env)["status"] == "succeeded"
