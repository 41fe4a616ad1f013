"""Password accounts and sessions over HTTP (docs/design.md, "Accounts and sessions"): register,
login (bearer and cookie), logout, change-password, the login lock, CSRF, and no password
anywhere it should not be."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from strongroom import aws
from strongroom_local import LocalStack
from support import table_name

pytestmark = pytest.mark.http

Api = Callable[..., tuple[int, dict[str, str], Any]]
PASSWORD = "plover-quartz-umbrella-9"  # zxcvbn 4


def _email() -> str:
    return f"acct-{secrets.token_hex(4)}@example.com"


def _register(api: Api, email: str, password: str = PASSWORD) -> tuple[int, Any]:
    status, _h, body = api("POST", "/v1/auth/register", json={"email": email, "password": password})
    return status, body


def _login(api: Api, email: str, password: str = PASSWORD) -> tuple[int, dict[str, str], Any]:
    return api("POST", "/v1/auth/login", json={"email": email, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cookie(token: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"sr_session={token}", **extra}


def _signed_in(api: Api) -> tuple[str, str]:
    email = _email()
    assert _register(api, email)[0] == 201
    status, _h, body = _login(api, email)
    assert status == 200, body
    return email, body["token"]


def test_register_login_me_logout(api: Api) -> None:
    # Given a registered account
    email = _email()
    status, registered = _register(api, email)
    assert status == 201, registered
    assert registered == {"user": {"id": registered["user"]["id"], "email": email, "email_verified": False}}
    # When it logs in
    status, headers, body = _login(api, email)
    # Then it has a token and an HttpOnly, Secure, SameSite=Lax cookie
    assert status == 200, body
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"]["id"] == registered["user"]["id"]
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"sr_session={body['token']};")
    attrs = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= attrs
    # and the bearer token works
    status, _h, me = api("GET", "/v1/me", headers=_bearer(body["token"]))
    assert status == 200, me
    assert (me["id"], me["email"], me["email_verified"]) == (registered["user"]["id"], email, False)
    # When it logs out, that session is over
    assert api("POST", "/v1/auth/logout", headers=_bearer(body["token"]))[0] == 204
    status, _h, gone = api("GET", "/v1/me", headers=_bearer(body["token"]))
    assert status == 401, gone


def test_registering_a_taken_email_answers_the_same_and_changes_nothing(api: Api) -> None:
    email = _email()
    first = _register(api, email)
    other_password = "saffron-glacier-tandem-4"
    second = _register(api, email, other_password)
    assert second[0] == first[0] == 201
    assert set(second[1]["user"]) == set(first[1]["user"])
    assert second[1]["user"]["id"] != first[1]["user"]["id"]  # names nobody
    assert _login(api, email, other_password)[0] == 401
    assert _login(api, email)[1:]
    assert _login(api, email)[0] == 200


@pytest.mark.parametrize(
    ("password", "issue"),
    [("short-1A!", "at least 12"), ("password1234", "easy to guess"), ("acct-xyz@example.com-7Qz!", "email")],
)
def test_a_weak_password_is_refused(api: Api, password: str, issue: str) -> None:
    status, _h, body = api("POST", "/v1/auth/register", json={"email": "acct-xyz@example.com", "password": password})
    assert status == 400, body
    assert body["error"]["code"] == "validation_error"
    fields = body["error"]["details"]["fields"]
    assert fields[0]["field"] == "password"
    assert issue in fields[0]["issue"]
    assert password not in json.dumps(body)


def test_wrong_password_and_unknown_email_are_the_same_401(api: Api) -> None:
    email = _email()
    _register(api, email)
    wrong = _login(api, email, "not-the-password-at-all-1")
    unknown = _login(api, _email(), "not-the-password-at-all-1")
    assert wrong[0] == unknown[0] == 401
    for body in (wrong[2], unknown[2]):
        body["error"].pop("request_id", None)
    assert wrong[2] == unknown[2]
    assert wrong[2]["error"]["code"] == "invalid_credentials"


def test_failed_logins_lock_the_account_even_for_the_right_password(api: Api) -> None:
    email = _email()
    _register(api, email)
    statuses = [_login(api, email, f"wrong-password-{i}-xyz")[0] for i in range(14)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 4
    status, headers, body = _login(api, email)
    assert status == 429, body
    assert 0 < int(headers["retry-after"]) <= 900


def test_a_cookie_session_needs_the_csrf_header_to_mutate(api: Api) -> None:
    _, token = _signed_in(api)
    # A read needs no header
    assert api("GET", "/v1/me", headers=_cookie(token))[0] == 200
    # A mutation without it is refused
    status, _h, body = api("POST", "/v1/orgs", json={"name": "Cookie Org"}, headers=_cookie(token))
    assert (status, body["error"]["code"]) == (403, "csrf")
    # With it, it goes through
    status, _h, body = api(
        "POST", "/v1/orgs", json={"name": "Cookie Org"}, headers=_cookie(token, **{"X-Requested-With": "strongroom"})
    )
    assert status == 201, body
    # Bearer requests need no header
    assert api("POST", "/v1/orgs", json={"name": "Bearer Org"}, headers=_bearer(token))[0] == 201


def test_change_password_ends_the_other_sessions(api: Api) -> None:
    email, this = _signed_in(api)
    other = _login(api, email)[2]["token"]
    new = "marble-tundra-violin-83"
    status, _h, body = api(
        "POST",
        "/v1/auth/change-password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=_bearer(this),
    )
    assert status == 204, body
    assert api("GET", "/v1/me", headers=_bearer(this))[0] == 200
    assert api("GET", "/v1/me", headers=_bearer(other))[0] == 401
    assert _login(api, email)[0] == 401
    assert _login(api, email, new)[0] == 200


def test_a_forged_or_foreign_token_is_401(api: Api) -> None:
    _, token = _signed_in(api)
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}"
    assert api("GET", "/v1/me", headers=_bearer(forged))[0] == 401


def test_the_password_is_nowhere(api: Api, stack: LocalStack, server_log: io.StringIO) -> None:
    canary = f"canary-{secrets.token_hex(8)}-Quartz"
    email = _email()
    seen: list[str] = []
    status, registered = _register(api, email, canary)
    assert status == 201
    seen.append(json.dumps(registered))
    status, headers, body = _login(api, email, canary)
    seen += [json.dumps(body), json.dumps(headers)]
    seen.append(json.dumps(_login(api, email, canary + "x")[2]))
    newer = canary + "-Tundra"
    status, _h, changed = api(
        "POST",
        "/v1/auth/change-password",
        json={"current_password": canary, "new_password": newer},
        headers=_bearer(body["token"]),
    )
    assert status == 204, changed
    items = aws.dynamodb().query(
        TableName=table_name(stack),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{registered['user']['id']}"}},
    )["Items"]
    actions = sorted(i["action"]["S"] for i in items if i.get("entity", {}).get("S") == "audit_event")
    assert actions == ["user.login", "user.password_changed", "user.registered"]
    seen.append(json.dumps(items))
    out, err = server_log.getvalue(), ""
    seen += [out, err]
    for text in seen:
        assert canary not in text


def test_registrations_per_ip_are_limited(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATIONS_PER_IP_HOUR", "1")
    _register(api, _email())  # this hour's first from 127.0.0.1, or already past the limit
    status, headers, body = api("POST", "/v1/auth/register", json={"email": _email(), "password": PASSWORD})
    assert status == 429, body
    assert 0 < int(headers["retry-after"]) <= 3600
