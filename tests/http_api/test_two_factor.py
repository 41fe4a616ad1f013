"""TOTP two-factor authentication over HTTP (docs/design.md, "Accounts and sessions"): setup,
enable, login with `totp_code` (no replay), recovery codes (once), disable, and an org's
`require_2fa` policy; the secret never appears in an audit item or a later response."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from strongroom_local import LocalStack
from support import query_partition

pytestmark = pytest.mark.http

Api = Callable[..., tuple[int, dict[str, str], Any]]
PASSWORD = "plover-quartz-umbrella-9"


def _email() -> str:
    return f"tfa-{secrets.token_hex(4)}@example.com"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _code(secret: str, step_offset: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(time.time() + 30 * step_offset))


def _login(api: Api, email: str, **extra: str) -> tuple[int, Any]:
    status, _h, body = api("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD, **extra})
    return status, body


def _account(api: Api) -> tuple[str, str]:
    email = _email()
    assert api("POST", "/v1/auth/register", json={"email": email, "password": PASSWORD})[0] == 201
    status, body = _login(api, email)
    assert status == 200, body
    return email, body["token"]


def _enabled(api: Api, token: str) -> tuple[str, list[str]]:
    status, _h, setup = api("POST", "/v1/me/2fa/setup", headers=_bearer(token))
    assert status == 200, setup
    secret = setup["secret"]
    status, _h, enabled = api("POST", "/v1/me/2fa/enable", headers=_bearer(token), json={"code": _code(secret)})
    assert status == 200, enabled
    return secret, enabled["recovery_codes"]


def test_setup_answers_a_new_secret_each_call_and_a_wrong_code_cannot_enable(api: Api) -> None:
    # Given a signed-in account
    email, token = _account(api)
    # When it sets 2FA up twice
    _s, _h, first = api("POST", "/v1/me/2fa/setup", headers=_bearer(token))
    _s, _h, second = api("POST", "/v1/me/2fa/setup", headers=_bearer(token))
    # Then each answer is a new secret with its otpauth URI
    assert first["secret"] != second["secret"]
    assert pyotp.parse_uri(second["otpauth_uri"]).secret == second["secret"]
    assert "issuer=Strongroom" in second["otpauth_uri"]
    # When a code of the replaced secret, or a wrong one, is sent: it cannot enable
    for code in (_code(first["secret"]), "000000" if _code(second["secret"]) != "000000" else "111111"):
        status, _h, body = api("POST", "/v1/me/2fa/enable", headers=_bearer(token), json={"code": code})
        assert (status, body["error"]["code"]) == (400, "totp_invalid"), body
    # and login still needs no code
    assert _login(api, email)[0] == 200
    _s, _h, me = api("GET", "/v1/me", headers=_bearer(token))
    assert me["two_factor_enabled"] is False


def test_login_needs_a_code_and_refuses_a_replay(api: Api) -> None:
    # Given an account with 2FA on
    email, token = _account(api)
    secret, codes = _enabled(api, token)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # When it logs in without a code: 401 totp_required
    status, body = _login(api, email)
    assert (status, body["error"]["code"]) == (401, "totp_required"), body
    # with a wrong one: 401 totp_invalid
    wrong = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    status, body = _login(api, email, totp_code=wrong)
    assert (status, body["error"]["code"]) == (401, "totp_invalid"), body
    # with the next step's code: signed in
    status, body = _login(api, email, totp_code=_code(secret, 1))
    assert status == 200, body
    # and that code again, or the current (an earlier step's): refused
    for code in (_code(secret, 1), _code(secret)):
        status, body = _login(api, email, totp_code=code)
        assert (status, body["error"]["code"]) == (401, "totp_invalid"), body


def test_a_recovery_code_works_once(api: Api) -> None:
    email, token = _account(api)
    _secret, codes = _enabled(api, token)
    status, body = _login(api, email, totp_code=codes[3])
    assert status == 200, body
    status, body = _login(api, email, totp_code=codes[3])
    assert (status, body["error"]["code"]) == (401, "totp_invalid"), body
    # another one still works
    assert _login(api, email, totp_code=codes[4].upper())[0] == 200


def test_disable_needs_a_code(api: Api) -> None:
    email, token = _account(api)
    _secret, codes = _enabled(api, token)
    status, _h, body = api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={"code": "abcde-fghij"})
    assert (status, body["error"]["code"]) == (400, "totp_invalid"), body
    status, _h, body = api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={})
    assert status == 400, body
    status, _h, body = api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={"code": codes[0]})
    assert status == 204, body
    # Then login needs no code any more
    assert _login(api, email)[0] == 200


def test_ten_wrong_codes_lock_disable_and_enable_for_the_user_the_right_code_included(api: Api) -> None:
    # Given a session of a user with 2FA on (a stolen session must not guess its way to 2FA off)
    email, token = _account(api)
    _secret, codes = _enabled(api, token)
    for _ in range(10):
        status, _h, body = api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={"code": "abcde-fghij"})
        assert (status, body["error"]["code"]) == (400, "totp_invalid"), body
    # Then the right code is refused while the lock lasts, and 2FA stays on
    status, headers, body = api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={"code": codes[0]})
    assert (status, body["error"]["code"]) == (429, "rate_limited"), body
    assert 0 < int(headers["retry-after"]) <= 15 * 60
    assert _login(api, email)[1]["error"]["code"] == "totp_required"
    # And the recovery code is unspent: it signs in
    assert _login(api, email, totp_code=codes[0])[0] == 200


def test_an_org_requiring_2fa_refuses_members_without_it_but_its_owner_can_turn_it_off(api: Api) -> None:
    # Given an owner with 2FA and a member without it
    owner = f"own-{secrets.token_hex(4)}@example.com"
    member = f"mem-{secrets.token_hex(4)}@example.com"
    dev = {"X-Strongroom-Dev-User": owner}
    _s, _h, setup = api("POST", "/v1/me/2fa/setup", user=owner)
    secret = setup["secret"]
    assert api("POST", "/v1/me/2fa/enable", user=owner, json={"code": _code(secret)})[0] == 200
    _s, _h, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Tfa {secrets.token_hex(3)}"})
    _s, _h, inv = api(
        "POST", f"/v1/orgs/{org['slug']}/invitations", user=owner, json={"email": member, "role": "admin"}
    )
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=member)[0] == 200
    # A member without 2FA cannot require it
    status, _h, body = api("PATCH", f"/v1/orgs/{org['slug']}", user=member, json={"require_2fa": True})
    assert (status, body["error"]["code"]) == (403, "2fa_required"), body
    # When the owner requires it
    status, _h, patched = api("PATCH", f"/v1/orgs/{org['slug']}", user=owner, json={"require_2fa": True})
    assert (status, patched.get("require_2fa")) == (200, True), patched
    # Then the member gets 403 2fa_required on the org's resources, the org itself included
    for path in (f"/v1/orgs/{org['slug']}", f"/v1/orgs/{org['slug']}/members", f"/v1/orgs/{org['slug']}/projects"):
        status, _h, body = api("GET", path, user=member)
        assert (status, body["error"]["code"]) == (403, "2fa_required"), (path, body)
    # and the owner, with 2FA, reaches everything
    assert api("GET", f"/v1/orgs/{org['slug']}/members", user=owner)[0] == 200
    # When the owner turns their own 2FA off, they still read the org and can turn the policy off
    assert api("DELETE", "/v1/me/2fa", headers=dev, json={"code": _code(secret, 1)})[0] == 204
    status, _h, body = api("GET", f"/v1/orgs/{org['slug']}/members", user=owner)
    assert (status, body["error"]["code"]) == (403, "2fa_required"), body
    assert api("GET", f"/v1/orgs/{org['slug']}", user=owner)[0] == 200
    status, _h, patched = api("PATCH", f"/v1/orgs/{org['slug']}", user=owner, json={"require_2fa": False})
    assert (status, patched.get("require_2fa")) == (200, False), patched
    # Then the member is back
    assert api("GET", f"/v1/orgs/{org['slug']}/members", user=member)[0] == 200
    # and the policy change is in the org's audit log with its value
    status, _h, events = api("GET", f"/v1/orgs/{org['slug']}/audit?action=org.updated", user=owner)
    assert status == 200, events
    assert sorted(e["metadata"].get("require_2fa") for e in events["data"]) == [False, True]


def test_the_secret_and_codes_appear_in_no_audit_item_or_later_response(api: Api, stack: LocalStack) -> None:
    # Given an account that set 2FA up, enabled it, signed in with a recovery code and turned it off
    email, token = _account(api)
    secret, codes = _enabled(api, token)
    status, body = _login(api, email, totp_code=codes[0])
    assert status == 200
    later = [json.dumps(api("GET", "/v1/me", headers=_bearer(body["token"]))[2])]
    assert api("DELETE", "/v1/me/2fa", headers=_bearer(token), json={"code": _code(secret, 1)})[0] == 204
    # Then no item of the user's partitions (profile, password, TOTP, tokens' counts) or of their
    # audit log holds the secret or a code in the clear: a query of those partitions, not a scan of
    # the shared table (whose first page need not hold them)
    user_id = body["user"]["id"]
    mine = [*query_partition(stack, f"USER#{user_id}"), *query_partition(stack, f"AUDIT#{user_id}")]
    assert any(i["SK"]["S"] == "PROFILE" for i in mine)
    items = json.dumps(mine, default=str)
    canaries = [secret, *codes, *(c.replace("-", "") for c in codes)]
    assert not [c for c in canaries if c in items]
    assert not [c for c in canaries if any(c in text for text in later)]
    # and the user's audit log names what happened
    actions = [i["action"]["S"] for i in mine if i.get("entity", {}).get("S") == "audit_event"]
    assert {"user.2fa_setup", "user.2fa_enabled", "user.2fa_recovery_code_used", "user.2fa_disabled"} <= set(actions)
