"""Email verification and password reset over HTTP, through the local stack's mailbox
(docs/design.md, "Accounts and sessions"): single-use, expiring tokens, no enumeration, and no
token anywhere it should not be."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from strongroom import aws
from strongroom_local import LocalStack
from support import table_name

pytestmark = pytest.mark.http

Api = Callable[..., tuple[int, dict[str, str], Any]]
PASSWORD = "plover-quartz-umbrella-9"
NEW_PASSWORD = "marble-tundra-violin-83"


def _email() -> str:
    return f"mail-{secrets.token_hex(4)}@example.com"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _account(api: Api) -> tuple[str, str]:
    email = _email()
    assert api("POST", "/v1/auth/register", json={"email": email, "password": PASSWORD})[0] == 201
    status, _h, body = api("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert status == 200, body
    return email, body["token"]


def _mailbox(api: Api, email: str) -> list[dict[str, Any]]:
    status, _h, body = api("GET", f"/_local/mailbox?to={email}")
    assert status == 200, body
    return list(body["data"])


def _token(mail: dict[str, Any], page: str) -> str:
    found = re.search(rf"/{page}\?token=([A-Za-z0-9_-]+)", mail["text"])
    assert found, mail["text"]
    return found.group(1)


def _login(api: Api, email: str, password: str) -> int:
    return api("POST", "/v1/auth/login", json={"email": email, "password": password})[0]


def test_verification_mail_verifies_once(api: Api) -> None:
    # Given a signed-in, unverified account
    email, session = _account(api)
    # When it asks for a verification mail
    status, _h, body = api("POST", "/v1/auth/send-verification", headers=_bearer(session))
    assert status == 202, body
    [mail] = _mailbox(api, email)
    assert (mail["to"], set(mail)) == (email, {"to", "subject", "text", "sent_at"})
    assert "http://127.0.0.1:3000/verify-email?token=" in mail["text"]
    token = _token(mail, "verify-email")
    # Then its token verifies the email, once
    status, _h, verified = api("POST", "/v1/auth/verify-email", json={"token": token})
    assert status == 200, verified
    assert verified["user"]["email_verified"] is True
    status, _h, again = api("POST", "/v1/auth/verify-email", json={"token": token})
    assert (status, again["error"]["code"]) == (400, "invalid_token")
    assert api("GET", "/v1/me", headers=_bearer(session))[2]["email_verified"] is True
    # and a verified account gets no further mail
    assert api("POST", "/v1/auth/send-verification", headers=_bearer(session))[0] == 409
    assert len(_mailbox(api, email)) == 1


def test_forgot_password_answers_the_same_for_an_unknown_email_and_sends_nothing(api: Api) -> None:
    known, _session = _account(api)
    unknown = _email()
    started = time.monotonic()
    a = api("POST", "/v1/auth/forgot-password", json={"email": known})
    known_time = time.monotonic() - started
    started = time.monotonic()
    b = api("POST", "/v1/auth/forgot-password", json={"email": unknown})
    unknown_time = time.monotonic() - started
    assert (a[0], a[2]) == (b[0], b[2]) == (202, a[2])
    assert set(a[1]) - {"x-request-id", "date", "content-length"} == set(b[1]) - {
        "x-request-id",
        "date",
        "content-length",
    }
    assert abs(known_time - unknown_time) < 0.15  # both take the floor (0.3 s)
    assert min(known_time, unknown_time) >= 0.3
    assert len(_mailbox(api, known)) == 1
    assert _mailbox(api, unknown) == []


def test_reset_password_works_once_and_ends_every_session(api: Api) -> None:
    # Given an account with two sessions, and a reset mail
    email, first = _account(api)
    second = api("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})[2]["token"]
    assert api("POST", "/v1/auth/forgot-password", json={"email": email})[0] == 202
    [mail] = _mailbox(api, email)
    assert "/reset-password?token=" in mail["text"]
    token = _token(mail, "reset-password")
    # A weak password is refused, and does not use the token up
    status, _h, weak = api("POST", "/v1/auth/reset-password", json={"token": token, "new_password": "password123"})
    assert (status, weak["error"]["code"]) == (400, "validation_error")
    # When the token resets the password
    status, _h, body = api("POST", "/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert status == 204, body
    # Then it works once, the old password fails, the new one works, and every session is over
    status, _h, again = api(
        "POST", "/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD + "x"}
    )
    assert (status, again["error"]["code"]) == (400, "invalid_token")
    assert _login(api, email, PASSWORD) == 401
    assert _login(api, email, NEW_PASSWORD) == 200
    for session in (first, second):
        assert api("GET", "/v1/me", headers=_bearer(session))[0] == 401


def test_an_older_reset_mail_is_void_once_the_password_was_reset(api: Api) -> None:
    email, _session = _account(api)
    for _ in range(2):
        assert api("POST", "/v1/auth/forgot-password", json={"email": email})[0] == 202
    older, newer = (_token(m, "reset-password") for m in _mailbox(api, email))
    assert api("POST", "/v1/auth/reset-password", json={"token": newer, "new_password": NEW_PASSWORD})[0] == 204
    status, _h, body = api("POST", "/v1/auth/reset-password", json={"token": older, "new_password": NEW_PASSWORD})
    assert (status, body["error"]["code"]) == (400, "invalid_token")


@pytest.mark.parametrize(("purpose", "path"), [("verify_email", "verify-email"), ("reset_password", "reset-password")])
def test_an_expired_token_is_refused(api: Api, stack: LocalStack, purpose: str, path: str) -> None:
    # Given a token item that expired a second ago (as the mail flow writes it)
    email, session = _account(api)
    user_id = api("GET", "/v1/me", headers=_bearer(session))[2]["id"]
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    aws.dynamodb().put_item(
        TableName=table_name(stack),
        Item={
            "PK": {"S": f"MAILTOKEN#{digest}"},
            "SK": {"S": "MAILTOKEN"},
            "entity": {"S": "mail_token"},
            "purpose": {"S": purpose},
            "user_id": {"S": user_id},
            "email": {"S": email},
            "generation": {"N": "0"},
            "created_at": {"S": "2026-01-01T00:00:00Z"},
            "expires_at_epoch": {"N": str(int(time.time()) - 1)},
        },
    )
    body: dict[str, Any] = (
        {"token": token} if purpose == "verify_email" else {"token": token, "new_password": NEW_PASSWORD}
    )
    # Then it is refused, and nothing changed
    status, _h, refused = api("POST", f"/v1/auth/{path}", json=body)
    assert (status, refused["error"]["code"]) == (400, "invalid_token")
    assert api("GET", "/v1/me", headers=_bearer(session))[2]["email_verified"] is False
    assert _login(api, email, PASSWORD) == 200


def test_the_mailbox_needs_an_address(api: Api) -> None:
    status, _h, body = api("GET", "/_local/mailbox")
    assert (status, body["error"]["code"]) == (400, "bad_request")


def test_forgot_password_is_limited_per_ip(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGOT_PASSWORD_PER_IP_HOUR", "1")
    api("POST", "/v1/auth/forgot-password", json={"email": _email()})  # this hour's first, or past it already
    status, headers, body = api("POST", "/v1/auth/forgot-password", json={"email": _email()})
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 0 < int(headers["retry-after"]) <= 3600


def test_no_token_in_audit_items_responses_or_logs(api: Api, stack: LocalStack, server_log: io.StringIO) -> None:
    email, session = _account(api)
    user_id = api("GET", "/v1/me", headers=_bearer(session))[2]["id"]
    seen = [json.dumps(api("POST", "/v1/auth/send-verification", headers=_bearer(session))[1:])]
    verify = _token(_mailbox(api, email)[0], "verify-email")
    seen.append(json.dumps(api("POST", "/v1/auth/verify-email", json={"token": verify})[1:]))
    seen.append(json.dumps(api("POST", "/v1/auth/forgot-password", json={"email": email})[1:]))
    reset = _token(_mailbox(api, email)[1], "reset-password")
    seen.append(
        json.dumps(api("POST", "/v1/auth/reset-password", json={"token": reset, "new_password": NEW_PASSWORD})[1:])
    )
    items = aws.dynamodb().query(
        TableName=table_name(stack),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{user_id}"}},
    )["Items"]
    actions = sorted(i["action"]["S"] for i in items if i.get("entity", {}).get("S") == "audit_event")
    assert actions == ["user.email_verified", "user.login", "user.password_reset", "user.registered"]
    seen.append(json.dumps(items))
    out, err = server_log.getvalue(), ""
    seen += [out, err]
    for text in seen:
        for canary in (verify, reset):
            assert canary not in text
