"""One account's whole life over HTTP, then a canary scan (issue #12): every password it ever
sent (right and wrong), every TOTP secret, code and recovery code, every session token and every
mailed token is looked for in every item of the table, every response other than the one that
issued it, the mail (passwords, codes and sessions only: a mail carries its own token), the
org's audit export and the server's log. Each must be found nowhere.

The module runs on a table of its own (`isolated`), so the scan of the whole table reads only
what this journey wrote."""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pyotp
import pytest

from strongroom_local import LocalStack
from support import scan_all

pytestmark = [pytest.mark.http, pytest.mark.isolated]

Api = Callable[..., tuple[int, dict[str, str], Any]]


def _password(word: str) -> str:
    return f"canary-{secrets.token_hex(6)}-{word}-Quartz"


@dataclass
class Journey:
    api: Api
    canaries: dict[str, str] = field(default_factory=dict)  # value -> what it is
    issued_by: dict[str, int] = field(default_factory=dict)  # value -> index of the response that issued it
    responses: list[str] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        status, headers, body = self.api(method, path, **kwargs)
        self.responses.append(json.dumps([status, headers, body]))
        return status, headers, body

    def secret(self, value: str, what: str, *, issued_here: bool = False) -> str:
        self.canaries[value] = what
        if issued_here:
            self.issued_by[value] = len(self.responses) - 1
        return value

    def login(self, email: str, password: str, **extra: str) -> str:
        status, _h, body = self.call("POST", "/v1/auth/login", json={"email": email, "password": password, **extra})
        assert status == 200, body
        return self.secret(body["token"], "session token", issued_here=True)

    def mailed_token(self, email: str, page: str) -> str:
        status, _h, box = self.api("GET", f"/_local/mailbox?to={quote(email)}")
        assert status == 200, box
        text = box["data"][-1]["text"]
        self.mails.append(json.dumps(box["data"][-1]))
        found = re.search(rf"/{page}\?token=([A-Za-z0-9_-]+)", text)
        assert found, text
        return self.secret(found.group(1), f"{page} token")


def _code(secret: str, steps_ahead: int) -> str:
    """The code of the current 30-second step, or of the next (the server accepts one step of skew)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead))


def _found(value: str, text: str) -> bool:
    """`value` in `text`, also base64- or URL-encoded; a code of digits only as a whole number
    (not inside a longer one, such as a timestamp)."""
    if value.isdigit():
        return re.search(rf"(?<![0-9]){value}(?![0-9])", text) is not None
    return any(form in text for form in (value, base64.b64encode(value.encode()).decode(), quote(value, safe="")))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_password_code_or_token_of_a_whole_account_life_is_anywhere_it_should_not_be(
    api: Api, stack: LocalStack, server_log: io.StringIO
) -> None:
    j = Journey(api)
    email = f"canary-{secrets.token_hex(4)}@example.com"
    first, second, third = (j.secret(_password(w), "password") for w in ("first", "second", "third"))
    wrong = j.secret(_password("wrong"), "wrong password")

    # Register, fail once, sign in (bearer and cookie), verify the email
    assert j.call("POST", "/v1/auth/register", json={"email": email, "password": first})[0] == 201
    assert j.call("POST", "/v1/auth/login", json={"email": email, "password": wrong})[0] == 401
    session = j.login(email, first)
    cookie = {"Cookie": f"sr_session={session}", "X-Requested-With": "strongroom"}
    assert j.call("POST", "/v1/auth/send-verification", headers=_bearer(session))[0] == 202
    verify = j.mailed_token(email, "verify-email")
    assert j.call("POST", "/v1/auth/verify-email", json={"token": verify})[0] == 200

    # 2FA: set up, a wrong code, enable, sign in with a code and with a recovery code
    status, _h, setup = j.call("POST", "/v1/me/2fa/setup", headers=_bearer(session))
    assert status == 200, setup
    totp = j.secret(setup["secret"], "TOTP secret", issued_here=True)
    j.secret(setup["otpauth_uri"], "otpauth URI", issued_here=True)
    assert j.call("POST", "/v1/me/2fa/enable", headers=_bearer(session), json={"code": "abcde-fghij"})[0] == 400
    code = j.secret(_code(totp, 0), "TOTP code")
    status, _h, enabled = j.call("POST", "/v1/me/2fa/enable", headers=_bearer(session), json={"code": code})
    assert status == 200, enabled
    recovery = [j.secret(c, "recovery code", issued_here=True) for c in enabled["recovery_codes"]]
    code = j.secret(_code(totp, 1), "TOTP code")  # a step above the one enable spent
    by_code = j.login(email, first, totp_code=code)
    by_recovery = j.login(email, first, totp_code=recovery[0])

    # An org on a cookie session (the CSRF header) that requires 2FA; its audit export is scanned
    org = f"canary-{secrets.token_hex(4)}"
    status, _h, made = j.call("POST", "/v1/orgs", headers=cookie, json={"name": "Canary", "slug": org})
    assert status == 201, made
    assert j.call("PATCH", f"/v1/orgs/{org}", headers=cookie, json={"require_2fa": True})[0] == 200

    # Change the password (other sessions end), forget it, reset it, sign in, sign out
    change = {"current_password": first, "new_password": second}
    assert j.call("POST", "/v1/auth/change-password", headers=_bearer(session), json=change)[0] == 204
    assert j.call("GET", "/v1/me", headers=_bearer(by_code))[0] == 401
    assert j.call("POST", "/v1/auth/forgot-password", json={"email": email})[0] == 202
    reset = j.mailed_token(email, "reset-password")
    assert j.call("POST", "/v1/auth/reset-password", json={"token": reset, "new_password": third})[0] == 204
    last = j.login(email, third, totp_code=recovery[1])
    status, _h, export = j.api("GET", f"/v1/orgs/{org}/audit", headers=_bearer(last))
    assert status == 200, export
    assert export["data"]
    assert j.call("DELETE", "/v1/me/2fa", headers=_bearer(last), json={"code": recovery[2]})[0] == 204
    assert j.call("POST", "/v1/auth/logout", headers=_bearer(last))[0] == 204
    assert j.call("GET", "/v1/me", headers=_bearer(by_recovery))[0] == 401

    # What is scanned: the whole (isolated) table, the org's audit export, the mail, the log
    items = scan_all(stack)
    actions = {i["action"]["S"] for i in items if i.get("entity", {}).get("S") == "audit_event"}
    assert {"user.registered", "user.2fa_enabled", "user.password_reset", "org.updated"} <= actions, actions
    log = server_log.getvalue()
    assert "Calling API Route Handler" in log  # the journey's log, at DEBUG, is what is scanned
    places = {"table": json.dumps(items), "audit export": json.dumps(export), "log": log}
    hits: list[str] = []
    for value, what in j.canaries.items():
        mailed = what in ("verify-email token", "reset-password token")  # a mail carries its token
        texts = [*places.items(), *(("mail", m) for m in j.mails if not mailed)]
        texts += [(f"response {i}", r) for i, r in enumerate(j.responses) if i != j.issued_by.get(value)]
        hits += [f"{what} in {place}" for place, text in texts if _found(value, text)]
    assert len(j.canaries) >= 20
    assert hits == []


def test_no_secret_value_or_issued_credential_of_an_environment_s_life_is_in_the_debug_log(
    api: Api, server_log: io.StringIO
) -> None:
    """Secret values go in by PUT, PATCH and import and come out of pulls; tokens and webhook
    secrets are issued: none of them is in the server's log at DEBUG (where the web framework
    logs every route's parsed arguments)."""
    user = f"values-{secrets.token_hex(4)}@example.com"
    j = Journey(lambda method, path, **kw: api(method, path, user=None if "headers" in kw else user, **kw))
    org = j.call("POST", "/v1/orgs", json={"name": "Canary values"})[2]["id"]
    project = j.call("POST", f"/v1/orgs/{org}/projects", json={"name": "App"})[2]["id"]
    envs = j.call("GET", f"/v1/orgs/{org}/projects/{project}/environments")[2]["data"]
    env = next(e["id"] for e in envs if e["slug"] == "development")
    base = f"/v1/orgs/{org}/projects/{project}/environments/{env}"
    put, patched, imported = (j.secret(_password(w), f"{w} value") for w in ("put", "patched", "imported"))
    assert j.call("PUT", f"{base}/secrets/PUT_ONE", json={"value": put})[0] in (200, 201)
    status, _h, body = j.call("PATCH", f"{base}/secrets", json={"set": {"PATCHED": patched}})
    assert status == 200, body
    status, _h, body = j.call("POST", f"{base}/import", json={"format": "dotenv", "content": f"IMPORTED={imported}\n"})
    assert status == 200, body
    status, _h, created = j.call(
        "POST",
        f"/v1/orgs/{org}/tokens",
        json={"name": "ci", "project": project, "environment": env, "permissions": ["read"]},
    )
    assert status == 201, created
    token = j.secret(created["token"], "service token", issued_here=True)
    status, _h, pulled = j.call("GET", "/runtime/v1/secrets", headers=_bearer(token))
    assert status == 200, pulled
    assert pulled["secrets"]["PATCHED"] == patched
    status, _h, hook = j.call(
        "POST", f"/v1/orgs/{org}/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["secret.*"]}
    )
    assert status == 201, hook
    j.secret(hook["secret"], "webhook secret", issued_here=True)

    log = server_log.getvalue()
    assert "Calling API Route Handler" in log
    hits = [what for value, what in j.canaries.items() if _found(value, log)]
    assert hits == []
