"""OIDC accounts over HTTP, against a stack in AUTH_MODE=oidc (its own process): an email the
issuer has not verified provisions nothing, links nothing and accepts no invitation, so nobody
can sign in first with someone else's address and wait for them (account pre-hijacking)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest

from support import http_call, unique_email

if TYPE_CHECKING:
    from conftest import OidcStack

pytestmark = pytest.mark.http


def _call(stack: OidcStack, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    status, _, payload = http_call(
        stack.url, method, path, json_body=body, headers={"Authorization": f"Bearer {token}"}
    )
    return status, payload


def test_an_unverified_sign_in_first_hijacks_nothing(oidc_stack: OidcStack) -> None:
    # Given an owner who invites the victim's address into an org
    owner = oidc_stack.token(sub=f"owner-{secrets.token_hex(4)}", email=unique_email("owner"))
    slug = f"hijack-{secrets.token_hex(4)}"
    assert _call(oidc_stack, "POST", "/v1/orgs", owner, {"name": "Target", "slug": slug})[0] == 201
    victim_email = unique_email("victim")
    status, invitation = _call(
        oidc_stack, "POST", f"/v1/orgs/{slug}/invitations", owner, {"email": victim_email, "role": "admin"}
    )
    assert status == 201, invitation

    # When the attacker signs in first with the victim's address, unverified by their issuer
    attacker = oidc_stack.token(sub=f"attacker-{secrets.token_hex(4)}", email=victim_email, email_verified=False)
    status, body = _call(oidc_stack, "GET", "/v1/me", attacker)
    # Then no account is made for them, and they accept nothing
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"
    assert victim_email not in body["error"]["message"]
    assert _call(oidc_stack, "POST", f"/v1/invitations/{invitation['token']}/accept", attacker)[0] == 401
    no_claim = oidc_stack.token(sub=f"attacker2-{secrets.token_hex(4)}", email=victim_email, email_verified=None)
    assert _call(oidc_stack, "GET", "/v1/me", no_claim)[0] == 401

    # When the victim then signs in with the address verified
    victim = oidc_stack.token(sub=f"victim-{secrets.token_hex(4)}", email=victim_email, email_verified=True)
    status, me = _call(oidc_stack, "GET", "/v1/me", victim)
    assert status == 200, me
    assert (me["email"], me["email_verified"]) == (victim_email, True)
    # Then the invitation is theirs, and the org's only new member is their own account
    status, accepted = _call(oidc_stack, "POST", f"/v1/invitations/{invitation['token']}/accept", victim)
    assert status == 200, accepted
    _, members = _call(oidc_stack, "GET", f"/v1/orgs/{slug}/members", owner)
    assert sorted((m["email"], m["role"]) for m in members["data"] if m["role"] != "owner") == [(victim_email, "admin")]
    assert [m["user_id"] for m in members["data"] if m["email"] == victim_email] == [me["id"]]
    # And the attacker still gets nothing, not even now that the address has an account
    assert _call(oidc_stack, "GET", "/v1/me", attacker)[0] == 401
    assert _call(oidc_stack, "GET", f"/v1/orgs/{slug}", attacker)[0] == 401
