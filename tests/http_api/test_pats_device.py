"""Personal access tokens and device login (RFC 8628) over HTTP."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from typing import Any

import pytest

from strongroom.domain import device, pats
from strongroom_local import LocalStack
from support import Api, scan_all, unique_email

pytestmark = pytest.mark.http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user(api: Api) -> dict[str, Any]:
    email = unique_email("pat")
    slugs = [f"pat-{pysecrets.token_hex(3)}" for _ in range(2)]
    for slug in slugs:
        assert api("POST", "/v1/orgs", user=email, json={"name": "P", "slug": slug})[0] == 201
    return {"email": email, "orgs": slugs}


@pytest.mark.isolated  # scans the whole table: only this test's items
def test_a_pat_acts_as_its_user_narrowed_as_asked(api: Api, user: dict[str, Any], stack: LocalStack) -> None:
    email, (first, second) = user["email"], user["orgs"]
    body = {"name": "laptop", "orgs": [first], "read_only": True}
    status, _, created = api("POST", "/v1/auth/tokens", user=email, json=body)
    assert status == 201, created
    token = created["token"]
    assert token.startswith("sr_pat_")
    assert api("GET", "/v1/me", headers=bearer(token))[2]["email"] == email
    assert api("GET", f"/v1/orgs/{first}", headers=bearer(token))[0] == 200
    assert api("GET", f"/v1/orgs/{second}", headers=bearer(token))[0] == 404  # narrowed away
    assert api("PATCH", f"/v1/orgs/{first}", headers=bearer(token), json={"name": "X"})[0] == 403  # read-only
    # a PAT does not mint PATs; the token is stored nowhere; revocation is immediate
    assert api("POST", "/v1/auth/tokens", headers=bearer(token), json={"name": "more"})[0] == 403
    assert token not in json.dumps(scan_all(stack), default=str)
    listed = api("GET", "/v1/auth/tokens", user=email)[2]["data"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert api("DELETE", f"/v1/auth/tokens/{created['id']}", user=unique_email("other"))[0] == 404
    assert api("DELETE", f"/v1/auth/tokens/{created['id']}", user=email)[0] == 204
    assert api("GET", "/v1/me", headers=bearer(token))[0] == 401
    assert api("POST", "/v1/auth/tokens", user=email, json={"name": "x", "orgs": ["not-mine"]})[0] == 422


def test_device_login_end_to_end(api: Api) -> None:
    email = unique_email("device")
    assert api("GET", "/v1/me", user=email)[0] == 200
    status, _, started = api("POST", "/v1/auth/device/start", json={"client_name": "strongroom-cli"})
    assert status == 200, started
    assert set(started) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    code, user_code = started["device_code"], started["user_code"]
    assert len(user_code) == 9
    assert user_code[4] == "-"
    assert set(user_code.replace("-", "")) <= set(device.USER_CODE_ALPHABET)

    def poll() -> tuple[int, Any]:
        status, _, body = api("POST", "/v1/auth/device/token", json={"device_code": code})
        return status, body

    status, body = poll()
    assert (status, body["error"]["code"]) == (400, "authorization_pending")
    status, body = poll()  # at once: faster than `interval`
    assert (status, body["error"]["code"], body["error"]["details"]["interval"]) == (400, "slow_down", 10)

    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": user_code.lower()})[0] == 204
    # the user code is single-use
    again = api("POST", "/v1/auth/device/approve", user=email, json={"user_code": user_code})
    assert (again[0], again[2]["error"]["code"]) == (404, "invalid_user_code")

    status, issued = poll()
    assert status == 200, issued
    assert issued["token_type"] == "Bearer"
    assert api("GET", "/v1/me", headers=bearer(issued["access_token"]))[2]["email"] == email
    # once only
    status, body = poll()
    assert (status, body["error"]["code"]) == (400, "invalid_grant")


def test_a_denied_or_unknown_device_login(api: Api) -> None:
    email = unique_email("deny")
    _, _, started = api("POST", "/v1/auth/device/start", json={})
    assert (
        api("POST", "/v1/auth/device/approve", user=email, json={"user_code": started["user_code"], "deny": True})[0]
        == 204
    )
    status, _, body = api("POST", "/v1/auth/device/token", json={"device_code": started["device_code"]})
    assert (status, body["error"]["code"]) == (400, "access_denied")
    status, _, body = api("POST", "/v1/auth/device/token", json={"device_code": "made-up"})
    assert (status, body["error"]["code"]) == (400, "invalid_grant")


def test_guessing_user_codes_is_throttled(api: Api) -> None:
    email = unique_email("guess")
    statuses = [
        api("POST", "/v1/auth/device/approve", user=email, json={"user_code": "BCDF-GHJK"})[0]
        for _ in range(device.MAX_FAILED_APPROVALS + 1)
    ]
    assert statuses == [404] * device.MAX_FAILED_APPROVALS + [429]
    # even the right code, now
    _, _, started = api("POST", "/v1/auth/device/start", json={})
    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": started["user_code"]})[0] == 429


def test_an_expired_device_code(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "EXPIRES_IN", 1)
    _, _, started = api("POST", "/v1/auth/device/start", json={})
    time.sleep(1.1)
    status, _, body = api("POST", "/v1/auth/device/token", json={"device_code": started["device_code"]})
    assert (status, body["error"]["code"]) == (400, "expired_token")
    status, _, body = api(
        "POST", "/v1/auth/device/approve", user=unique_email("late"), json={"user_code": started["user_code"]}
    )
    assert status == 404


def _fresh_key() -> dict[str, str]:
    return {"Idempotency-Key": pysecrets.token_hex(8)}


def test_a_shared_idempotency_key_hands_no_caller_another_callers_device_login(api: Api) -> None:
    """Device login is unauthenticated: an Idempotency-Key there is no one's, so it keeps nothing."""
    email = unique_email("victim")
    start_key, poll_key = _fresh_key(), _fresh_key()
    body = {"client_name": "strongroom-cli"}
    status, _, victim = api("POST", "/v1/auth/device/start", json=body, headers=start_key)
    assert status == 200, victim
    # another caller, the same key and body: a login of its own, not a replay of the victim's
    status, headers, other = api("POST", "/v1/auth/device/start", json=body, headers=start_key)
    assert status == 200, other
    assert "idempotent-replayed" not in headers
    assert other["device_code"] != victim["device_code"]
    assert other["user_code"] != victim["user_code"]
    assert victim["device_code"] not in json.dumps(other)

    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": victim["user_code"]})[0] == 204
    status, _, issued = api(
        "POST", "/v1/auth/device/token", json={"device_code": victim["device_code"]}, headers=poll_key
    )
    assert status == 200, issued
    pat = issued["access_token"]
    # the other caller polls its own code with the victim's poll key: its own answer, not the PAT
    status, headers, pending = api(
        "POST", "/v1/auth/device/token", json={"device_code": other["device_code"]}, headers=poll_key
    )
    assert (status, pending["error"]["code"]) == (400, "authorization_pending")
    assert pat not in json.dumps(pending)
    # the same poll again (a replay after issuance): the code is used, the PAT is not handed out again
    status, headers, again = api(
        "POST", "/v1/auth/device/token", json={"device_code": victim["device_code"]}, headers=poll_key
    )
    assert (status, again["error"]["code"]) == (400, "invalid_grant")
    assert "idempotent-replayed" not in headers
    assert pat not in json.dumps(again)


def _strings(value: Any) -> Any:
    """Every attribute name and string or binary value of a typed DynamoDB item, nested ones too."""
    if isinstance(value, str | bytes):
        yield value
    elif isinstance(value, dict):
        for name, inner in value.items():
            yield name
            yield from _strings(inner)
    elif isinstance(value, list | tuple | set):
        for inner in value:
            yield from _strings(inner)


@pytest.mark.isolated  # a full scan: of a table holding only this test's items
def test_the_device_flow_leaves_no_credential_in_the_table(api: Api, stack: LocalStack) -> None:
    """Start, approve and poll, each with an Idempotency-Key: the PAT, the device code and the user
    code are nowhere in the table, idempotency records included (a full scan of the test's own table)."""
    email = unique_email("scan")
    status, _, started = api("POST", "/v1/auth/device/start", json={}, headers=_fresh_key())
    assert status == 200, started
    approval = {"user_code": started["user_code"]}
    assert api("POST", "/v1/auth/device/approve", user=email, json=approval, headers=_fresh_key())[0] == 204
    status, _, issued = api(
        "POST", "/v1/auth/device/token", json={"device_code": started["device_code"]}, headers=_fresh_key()
    )
    assert status == 200, issued
    pat = issued["access_token"]
    assert api("GET", "/v1/me", headers=bearer(pat))[2]["email"] == email

    needles = {
        "PAT": pat,
        "device code": started["device_code"],
        "user code": started["user_code"],
        "user code, normalized": started["user_code"].replace("-", ""),
    }
    found = [
        (what, item["PK"]["S"], item["SK"]["S"])
        for item in scan_all(stack)
        for text in _strings(item)
        for what, needle in needles.items()
        if (needle in text if isinstance(text, str) else needle.encode() in text)
    ]
    assert found == []


# --------------------------------------------------------------------------- the cap (50 per user)


def _fill(api: Api, email: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        status, _, created = api("POST", "/v1/auth/tokens", user=email, json={"name": f"t{n}"})
        assert status == 201, created
        ids.append(created["id"])
    return ids


def _held(api: Api, email: str) -> int:
    return len(api("GET", "/v1/auth/tokens", user=email)[2]["data"])


def test_the_cap_holds_under_device_login(api: Api) -> None:
    email = unique_email("capdev")
    ids = _fill(api, email, pats.MAX_PER_USER)

    def start() -> dict[str, Any]:
        return api("POST", "/v1/auth/device/start", json={"client_name": "strongroom-cli"})[2]

    def poll(started: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = api("POST", "/v1/auth/device/token", json={"device_code": started["device_code"]})
        return status, body

    # at the cap, approving says so, and the device gets nothing
    full = start()
    status, _, refused = api("POST", "/v1/auth/device/approve", user=email, json={"user_code": full["user_code"]})
    assert status == 422, refused
    assert refused["error"]["code"] == "too_many_tokens"
    assert poll(full)[1]["error"]["code"] == "authorization_pending"
    # approved with a place free, but the place is taken before the device polls: denied
    assert api("DELETE", f"/v1/auth/tokens/{ids[0]}", user=email)[0] == 204
    late = start()
    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": late["user_code"]})[0] == 204
    _fill(api, email, 1)
    status, body = poll(late)
    assert (status, body["error"]["code"]) == (400, "access_denied")
    assert poll(late)[1]["error"]["code"] == "invalid_grant"
    assert _held(api, email) == pats.MAX_PER_USER
    # with a place free, device login works, and takes it
    assert api("DELETE", f"/v1/auth/tokens/{ids[1]}", user=email)[0] == 204
    ok = start()
    assert api("POST", "/v1/auth/device/approve", user=email, json={"user_code": ok["user_code"]})[0] == 204
    status, issued = poll(ok)
    assert status == 200, issued
    assert _held(api, email) == pats.MAX_PER_USER
    assert api("POST", "/v1/auth/tokens", user=email, json={"name": "one more"})[0] == 422


def test_tokens_made_before_the_counter_count(api: Api, stack: LocalStack) -> None:
    from strongroom import aws
    from strongroom.data import keys

    email = unique_email("capold")
    _fill(api, email, pats.MAX_PER_USER)
    user_id = api("GET", "/v1/me", user=email)[2]["id"]
    # As a table written before the counter existed: the tokens, no count.
    assert stack.resources is not None
    count_key = {k: {"S": v} for k, v in keys.personal_token_count(user_id).items()}
    aws.dynamodb().delete_item(TableName=stack.resources.refs["Table"], Key=count_key)
    status, _, body = api("POST", "/v1/auth/tokens", user=email, json={"name": "one more"})
    assert (status, body["error"]["code"]) == (422, "too_many_tokens")
    assert _held(api, email) == pats.MAX_PER_USER
