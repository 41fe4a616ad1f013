"""OIDC end to end through the identity handler (AUTH_MODE=oidc, a real JWKS on loopback, moto):
first sight of a subject provisions a user; an email that already belongs to an account is
linked to a new subject only when the issuer says the email is verified."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import pytest

from integration.conftest import Invoke, body_of, entity, load_event, plain, scan_all
from strongroom_local import LocalStack

if TYPE_CHECKING:
    from conftest import Issuer


def _me(invoke: Invoke, token: str) -> tuple[int, Any, dict[str, str]]:
    event = load_event("identity_get_me", headers={"x-strongroom-dev-user": None, "authorization": f"Bearer {token}"})
    response = invoke("IdentityFunction", event)
    return response["statusCode"], body_of(response), response.get("headers") or {}


def _users_with_email(stack: LocalStack, email: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(stack) if entity(i) == "user" and i["email"]["S"] == email]


def _identity_pointers(stack: LocalStack, issuer: str, subject: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(stack) if entity(i) == "user_identity" and i["PK"]["S"] == f"IDP#{issuer}#{subject}"]


def _audit(stack: LocalStack, user_id: str, action: str) -> list[dict[str, Any]]:
    return [
        {k: plain(v) for k, v in i.items()}
        for i in scan_all(stack)
        if entity(i) == "audit_event" and i["PK"]["S"] == f"AUDIT#{user_id}" and i["action"]["S"] == action
    ]


def test_a_new_subject_is_provisioned_and_me_returns_it(invoke: Invoke, stack: LocalStack, oidc_mode: Issuer) -> None:
    email = f"oidc-{secrets.token_hex(4)}@example.com"
    subject = f"sub-{secrets.token_hex(4)}"
    status, me, _ = _me(invoke, oidc_mode.mint(sub=subject, email=email))
    assert status == 200
    assert me["email"] == email
    assert me["id"].startswith("usr_")
    # Stored once, with the issuer's subject pointing at it, and audited in the user's own log.
    assert [u["id"]["S"] for u in _users_with_email(stack, email)] == [me["id"]]
    assert [p["user_id"]["S"] for p in _identity_pointers(stack, oidc_mode.issuer, subject)] == [me["id"]]
    assert [e["metadata"] for e in _audit(stack, me["id"], "user.created")] == [{"via": "oidc"}]
    # The same subject again (another key of the issuer) is the same user, not a second one.
    status, again, _ = _me(invoke, oidc_mode.mint("EdDSA", sub=subject, email=email))
    assert (status, again["id"]) == (200, me["id"])
    assert len(_users_with_email(stack, email)) == 1


def test_the_email_of_a_new_subject_is_stored_lower_cased(invoke: Invoke, oidc_mode: Issuer) -> None:
    local = f"Mixed.Case-{secrets.token_hex(3)}"
    status, me, _ = _me(invoke, oidc_mode.mint(sub=f"sub-{local}", email=f"{local}@Example.COM"))
    assert status == 200
    assert me["email"] == f"{local.lower()}@example.com"


def test_a_new_subject_without_an_email_is_refused(invoke: Invoke, stack: LocalStack, oidc_mode: Issuer) -> None:
    subject = f"no-email-{secrets.token_hex(4)}"
    status, body, _ = _me(invoke, oidc_mode.mint(sub=subject, email=None))
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert _identity_pointers(stack, oidc_mode.issuer, subject) == []


@pytest.mark.parametrize("verified", [None, False], ids=["email_verified-absent", "email_verified-false"])
def test_an_email_of_another_account_is_linked_only_when_verified(
    invoke: Invoke, stack: LocalStack, oidc_mode: Issuer, verified: bool | None
) -> None:
    email = f"taken-{secrets.token_hex(4)}@example.com"
    first, second = f"first-{secrets.token_hex(4)}", f"second-{secrets.token_hex(4)}"
    status, owner, _ = _me(invoke, oidc_mode.mint(sub=first, email=email))
    assert status == 200

    status, body, _ = _me(invoke, oidc_mode.mint(sub=second, email=email, email_verified=verified))
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["request_id"]
    assert email not in body["error"]["message"]
    # Nothing was created or linked for the refused subject.
    assert len(_users_with_email(stack, email)) == 1
    assert _identity_pointers(stack, oidc_mode.issuer, second) == []

    status, linked, _ = _me(invoke, oidc_mode.mint(sub=second, email=email, email_verified=True))
    assert (status, linked["id"]) == (200, owner["id"])
    assert [p["user_id"]["S"] for p in _identity_pointers(stack, oidc_mode.issuer, second)] == [owner["id"]]
    assert len(_users_with_email(stack, email)) == 1
    # Both subjects now reach the same account.
    status, still, _ = _me(invoke, oidc_mode.mint(sub=first, email=email))
    assert (status, still["id"]) == (200, owner["id"])
    assert len(_audit(stack, owner["id"], "user.identity_linked")) == 1


def test_email_verified_must_be_the_boolean_true(invoke: Invoke, oidc_mode: Issuer) -> None:
    email = f"strict-{secrets.token_hex(4)}@example.com"
    assert _me(invoke, oidc_mode.mint(sub=f"a-{email}", email=email))[0] == 200
    for not_true in ("true", 1, "yes"):
        assert _me(invoke, oidc_mode.mint(sub=f"b-{email}", email=email, email_verified=not_true))[0] == 401


def test_the_identity_link_is_audited_with_an_actor(invoke: Invoke, stack: LocalStack, oidc_mode: Issuer) -> None:
    email = f"actor-{secrets.token_hex(4)}@example.com"
    _, owner, _ = _me(invoke, oidc_mode.mint(sub=f"one-{email}", email=email))
    assert _me(invoke, oidc_mode.mint(sub=f"two-{email}", email=email))[0] == 200
    (event,) = _audit(stack, owner["id"], "user.identity_linked")
    assert event["actor"]["type"] in {"user", "system"}
    assert event["actor"]["id"] != ""


def test_the_dev_header_is_refused_in_oidc_mode(invoke: Invoke, oidc_mode: Issuer) -> None:
    event = load_event("identity_get_me")
    assert "x-strongroom-dev-user" in event["headers"]
    response = invoke("IdentityFunction", event)
    assert response["statusCode"] == 401
    assert "AUTH_MODE=dev" in body_of(response)["error"]["message"]
    assert body_of(response)["error"]["request_id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong audience", "alg none", "no authorization"],
)
def test_refused_tokens_are_401_in_the_envelope(invoke: Invoke, oidc_mode: Issuer, case: str) -> None:
    now = int(time.time())
    tokens = {
        "expired": oidc_mode.mint(exp=now - 300, iat=now - 900, nbf=now - 900),
        "wrong audience": oidc_mode.mint(aud="another-api"),
        "alg none": oidc_mode.assemble({"alg": "none", "kid": "rsa-1"}, oidc_mode.claims()),
    }
    headers: dict[str, str | None] = {"x-strongroom-dev-user": None}
    if case in tokens:
        headers["authorization"] = f"Bearer {tokens[case]}"
    event = load_event("identity_get_me", headers=headers)
    response = invoke("IdentityFunction", event)
    error = body_of(response)["error"]
    assert response["statusCode"] == 401
    assert error["code"] == "unauthorized"
    assert error["request_id"] == event["requestContext"]["requestId"]
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]
    assert "Traceback" not in response["body"]
    if case in tokens:
        assert tokens[case] not in response["body"]
