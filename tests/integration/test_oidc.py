"""OIDC end to end through the identity handler (AUTH_MODE=oidc, a real JWKS on loopback, moto):
first sight of a subject provisions a user; an email that already belongs to an account is
linked to a new subject only when the issuer says the email is verified."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import pytest

from integration.conftest import Invoke, body_of, load_event, plain
from strongroom.data import keys
from strongroom_local import LocalStack

if TYPE_CHECKING:
    from conftest import Issuer


def _me(invoke: Invoke, token: str) -> tuple[int, Any, dict[str, str]]:
    event = load_event("identity_get_me", headers={"x-strongroom-dev-user": None, "authorization": f"Bearer {token}"})
    response = invoke("IdentityFunction", event)
    return response["statusCode"], body_of(response), response.get("headers") or {}


def _item(stack: LocalStack, key: dict[str, str]) -> dict[str, Any] | None:
    """One item by its key (GetItem), untyped."""
    from strongroom import aws

    assert stack.resources is not None
    found = aws.dynamodb().get_item(
        TableName=stack.resources.refs["Table"], Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
    )
    return {k: plain(v) for k, v in found["Item"].items()} if "Item" in found else None


def _partition(stack: LocalStack, partition: str) -> list[dict[str, Any]]:
    """Every item of one partition (Query), untyped."""
    from strongroom import aws

    assert stack.resources is not None
    pages = (
        aws.dynamodb()
        .get_paginator("query")
        .paginate(
            TableName=stack.resources.refs["Table"],
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
            ConsistentRead=True,
        )
    )
    return [{k: plain(v) for k, v in i.items()} for page in pages for i in page["Items"]]


def _email_owner(stack: LocalStack, email: str) -> str | None:
    """The user the email's (unique) pointer names."""
    pointer = _item(stack, keys.user_email(email))
    return str(pointer["user_id"]) if pointer else None


def _identity_pointers(stack: LocalStack, issuer: str, subject: str) -> list[str]:
    """The user the subject's pointer names, as a list (empty when there is none)."""
    pointer = _item(stack, keys.user_identity(issuer, subject))
    return [str(pointer["user_id"])] if pointer else []


def _audit(stack: LocalStack, user_id: str, action: str) -> list[dict[str, Any]]:
    return [
        i
        for i in _partition(stack, keys.audit_partition(user_id))
        if i.get("entity") == "audit_event" and i["action"] == action
    ]


def test_a_new_subject_is_provisioned_and_me_returns_it(invoke: Invoke, stack: LocalStack, oidc_mode: Issuer) -> None:
    email = f"oidc-{secrets.token_hex(4)}@example.com"
    subject = f"sub-{secrets.token_hex(4)}"
    status, me, _ = _me(invoke, oidc_mode.mint(sub=subject, email=email))
    assert status == 200
    assert me["email"] == email
    assert me["id"].startswith("usr_")
    # Stored once, with the issuer's subject pointing at it, and audited in the user's own log.
    assert _email_owner(stack, email) == me["id"]
    assert _identity_pointers(stack, oidc_mode.issuer, subject) == [me["id"]]
    assert [e["metadata"] for e in _audit(stack, me["id"], "user.created")] == [{"via": "oidc"}]
    # The same subject again (another key of the issuer) is the same user, not a second one.
    status, again, _ = _me(invoke, oidc_mode.mint("EdDSA", sub=subject, email=email))
    assert (status, again["id"]) == (200, me["id"])
    assert _email_owner(stack, email) == me["id"]
    assert len(_audit(stack, me["id"], "user.created")) == 1


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
    assert _email_owner(stack, email) == owner["id"]
    assert _identity_pointers(stack, oidc_mode.issuer, second) == []

    status, linked, _ = _me(invoke, oidc_mode.mint(sub=second, email=email, email_verified=True))
    assert (status, linked["id"]) == (200, owner["id"])
    assert _identity_pointers(stack, oidc_mode.issuer, second) == [owner["id"]]
    assert _email_owner(stack, email) == owner["id"]
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


# --------------------------------------------------------------------------- unverified accounts


def _bearer(token: str) -> dict[str, str | None]:
    return {"x-strongroom-dev-user": None, "authorization": f"Bearer {token}"}


def _legacy_user(stack: LocalStack, issuer: str, subject: str, email: str) -> str:
    """A user as sign-in stored one before `email_verified` existed (from any email, verified or
    not): the profile without the flag, the email pointer and the subject's pointer."""
    from strongroom import aws
    from strongroom.data import db

    assert stack.resources is not None
    user_id = f"usr_01m8{secrets.token_hex(11)[:22]}"
    now = "2026-11-01T00:00:00.000Z"
    items = [
        {**keys.user(user_id), "entity": "user", "id": user_id, "email": email, "name": "legacy"}
        | {"created_at": now, "updated_at": now},
        {**keys.user_email(email), "entity": "user_email", "user_id": user_id},
        {**keys.user_identity(issuer, subject), "entity": "user_identity", "user_id": user_id},
    ]
    for item in items:
        aws.dynamodb().put_item(TableName=stack.resources.refs["Table"], Item=db.serialize(item))
    return user_id


def _invite(invoke: Invoke, owner_token: str, email: str) -> str:
    slug = f"inv-{secrets.token_hex(4)}"
    created = invoke(
        "OrgsFunction", load_event("orgs_create", headers=_bearer(owner_token), body={"name": "O", "slug": slug})
    )
    assert created["statusCode"] == 201, created["body"]
    invite = load_event(
        "orgs_create",
        routeKey="POST /v1/orgs/{org}/invitations",
        path_parameters={"org": slug},
        headers=_bearer(owner_token),
        body={"email": email, "role": "admin"},
    )
    response = invoke("OrgsFunction", invite)
    assert response["statusCode"] == 201, response["body"]
    return str(body_of(response)["token"])


def _accept(invoke: Invoke, token: str, invitation: str) -> dict[str, Any]:
    accept = load_event(
        "orgs_create",
        routeKey="POST /v1/invitations/{token}/accept",
        path_parameters={"token": invitation},
        headers=_bearer(token),
        body="{}",
    )
    return invoke("OrgsFunction", accept)


def test_an_unverified_account_accepts_no_invitation_and_yields_its_email(
    invoke: Invoke, stack: LocalStack, oidc_mode: Issuer
) -> None:
    # Given an account stored before the flag existed, holding the email, and an invitation to it
    email = f"legacy-{secrets.token_hex(4)}@example.com"
    legacy_sub, verified_sub = f"legacy-{secrets.token_hex(4)}", f"verified-{secrets.token_hex(4)}"
    legacy_id = _legacy_user(stack, oidc_mode.issuer, legacy_sub, email)
    owner = oidc_mode.mint(sub=f"owner-{secrets.token_hex(4)}", email=f"owner-{secrets.token_hex(4)}@example.com")
    invitation = _invite(invoke, owner, email)
    legacy = oidc_mode.mint(sub=legacy_sub, email=email, email_verified=False)

    # When its subject signs in (its issuer not vouching for the email), it is that account, unverified
    status, me, _ = _me(invoke, legacy)
    assert (status, me["id"]) == (200, legacy_id)
    # Then it accepts nothing sent to that email
    refused = _accept(invoke, legacy, invitation)
    assert refused["statusCode"] == 403
    assert body_of(refused)["error"]["code"] == "email_not_verified"
    assert me["email_verified"] is False

    # When another subject signs in with the email verified
    status, mine, _ = _me(invoke, oidc_mode.mint(sub=verified_sub, email=email, email_verified=True))
    # Then it gets an account of its own (not linked into the unverified one), and the email
    assert status == 200
    assert mine["id"] != legacy_id
    assert mine["email_verified"] is True
    assert _email_owner(stack, email) == mine["id"]
    assert _identity_pointers(stack, oidc_mode.issuer, verified_sub) == [mine["id"]]
    assert _audit(stack, legacy_id, "user.identity_linked") == []
    assert [e["metadata"] for e in _audit(stack, mine["id"], "user.created")] == [
        {"via": "oidc", "replaced_unverified": legacy_id}
    ]
    # And the invitation is theirs to accept
    assert _accept(invoke, oidc_mode.mint(sub=verified_sub, email=email), invitation)["statusCode"] == 200
    # While the unverified account cannot verify an email that is no longer its own
    status, still, _ = _me(invoke, oidc_mode.mint(sub=legacy_sub, email=email, email_verified=True))
    assert (status, still["id"], still["email_verified"]) == (200, legacy_id, False)


def test_an_unverified_account_is_verified_by_its_own_subject(
    invoke: Invoke, stack: LocalStack, oidc_mode: Issuer
) -> None:
    email = f"heal-{secrets.token_hex(4)}@example.com"
    subject = f"heal-{secrets.token_hex(4)}"
    user_id = _legacy_user(stack, oidc_mode.issuer, subject, email)
    assert _me(invoke, oidc_mode.mint(sub=subject, email=email, email_verified=False))[1]["email_verified"] is False
    # another address, even verified, proves nothing about this one
    other = f"other-{secrets.token_hex(4)}@example.com"
    assert _me(invoke, oidc_mode.mint(sub=subject, email=other, email_verified=True))[1]["email_verified"] is False

    status, me, _ = _me(invoke, oidc_mode.mint(sub=subject, email=email, email_verified=True))
    assert (status, me["id"], me["email_verified"]) == (200, user_id, True)
    assert _item(stack, keys.user(user_id))["email_verified"] is True  # type: ignore[index]
    assert [e["metadata"] for e in _audit(stack, user_id, "user.email_verified")] == [{"issuer": oidc_mode.issuer}]
    # an invitation to it is now accepted
    owner = oidc_mode.mint(sub=f"owner-{secrets.token_hex(4)}", email=f"owner-{secrets.token_hex(4)}@example.com")
    invitation = _invite(invoke, owner, email)
    assert _accept(invoke, oidc_mode.mint(sub=subject, email=email), invitation)["statusCode"] == 200


def test_a_new_subject_with_an_unverified_email_is_refused(
    invoke: Invoke, stack: LocalStack, oidc_mode: Issuer
) -> None:
    email = f"unverified-{secrets.token_hex(4)}@example.com"
    for verified in (False, None, "true"):
        subject = f"unverified-{secrets.token_hex(4)}"
        status, body, _ = _me(invoke, oidc_mode.mint(sub=subject, email=email, email_verified=verified))
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert _identity_pointers(stack, oidc_mode.issuer, subject) == []
    assert _email_owner(stack, email) is None
