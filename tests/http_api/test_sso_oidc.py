"""Single sign-on with OpenID Connect against a real OpenID Provider: panva's `oidc-provider`
(tests/peers/oidc, installed by `npm ci`), started once per test process on a free loopback port with
one confidential client (client_secret_basic, PKCE required) and its development login and consent
pages, which these tests fill in like a browser does (httpx).

The owner's configuration (secret never answered, domains claimed once, owner only), the domain
lookup, then sign-ins: a first one lands a session that works on /v1/me and a membership with the
default role; a replayed callback, a forged state, another browser's callback, an email outside
the domains and an unverified email sign nobody in."""

from __future__ import annotations

import io
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from strongroom import aws
from strongroom_local import LocalStack
from support import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, Api, Landing, OidcPeer, cookie_of, sign_in_at_issuer, table_name

pytestmark = pytest.mark.http


@dataclass
class Org:
    id: str
    owner: str
    domain: str


@pytest.fixture(scope="module")
def org(api: Api, oidc_peer: OidcPeer) -> Org:
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    status, _h, created = api("POST", "/v1/orgs", user=owner, json={"name": f"SSO {secrets.token_hex(3)}"})
    assert status == 201, created
    domain = f"acme-{secrets.token_hex(4)}.test"
    status, _h, body = api(
        "PUT",
        f"/v1/orgs/{created['id']}/sso/oidc",
        user=owner,
        json={
            "issuer": oidc_peer.issuer,
            "client_id": OIDC_CLIENT_ID,
            "client_secret": OIDC_CLIENT_SECRET,
            "domains": [domain.upper()],
            "default_role": "developer",
        },
    )
    assert status == 200, body
    return Org(id=created["id"], owner=owner, domain=domain)


def land(local_stack: str, landing: Landing, *, binding: str | None = None) -> httpx.Response:
    cookie = landing.binding if binding is None else binding
    headers = {"Cookie": f"sr_sso={cookie}"} if cookie else {}
    return httpx.get(landing.callback, headers=headers, follow_redirects=False)


def _members(api: Api, org: Org) -> dict[str, Any]:
    status, _h, body = api("GET", f"/v1/orgs/{org.id}/members", user=org.owner)
    assert status == 200
    return {m["email"]: m for m in body["data"]}


def _error(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# --------------------------------------------------------------------------- configuration


def test_the_configuration_never_answers_its_secret(api: Api, org: Org, oidc_peer: OidcPeer, local_stack: str) -> None:
    status, _h, body = api("GET", f"/v1/orgs/{org.id}/sso/oidc", user=org.owner)
    assert status == 200
    assert body["issuer"] == oidc_peer.issuer
    assert body["domains"] == [org.domain]
    assert body["client_secret_set"] is True
    assert "client_secret" not in body
    assert body["redirect_uri"] == f"{local_stack}/v1/sso/oidc/callback"
    assert OIDC_CLIENT_SECRET not in str(body)
    status, _h, audit = api("GET", f"/v1/orgs/{org.id}/audit?action=sso.oidc_configured", user=org.owner)
    assert status == 200
    assert len(audit["data"]) == 1
    assert OIDC_CLIENT_SECRET not in str(audit)


def test_a_domain_is_claimed_by_one_org(api: Api, org: Org, oidc_peer: OidcPeer) -> None:
    other = f"other-{secrets.token_hex(4)}@example.com"
    _s, _h, created = api("POST", "/v1/orgs", user=other, json={"name": "Other"})
    body = {
        "issuer": oidc_peer.issuer,
        "client_id": "x",
        "client_secret": "y",
        "domains": [org.domain],
        "default_role": "viewer",
    }
    status, _h, answer = api("PUT", f"/v1/orgs/{created['id']}/sso/oidc", user=other, json=body)
    assert status == 409
    assert answer["error"]["code"] == "domain_taken"
    status, _h, answer = api(
        "PUT", f"/v1/orgs/{created['id']}/sso/oidc", user=other, json={**body, "default_role": "owner"}
    )
    assert status == 400


def test_the_domain_lookup_finds_the_org(api: Api, org: Org) -> None:
    status, _h, body = api("GET", f"/v1/sso/by-domain?domain={org.domain}")
    assert (status, body) == (200, {"org_id": org.id, "methods": ["oidc"]})
    status, _h, _b = api("GET", "/v1/sso/by-domain?domain=nobody-here.test")
    assert status == 404


# --------------------------------------------------------------------------- sign-in


def test_a_first_sign_in_provisions_the_member_and_signs_in(api: Api, org: Org, local_stack: str) -> None:
    email = f"dana-{secrets.token_hex(3)}@{org.domain}"
    landing = sign_in_at_issuer(local_stack, org.id, email)

    response = land(local_stack, landing)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == email
    session = cookie_of(response, "sr_session")
    assert session == body["token"]
    assert "HttpOnly" in response.headers["set-cookie"]
    assert "Secure" in response.headers["set-cookie"]
    status, _h, me = api("GET", "/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert status == 200
    assert me["email"] == email
    assert _members(api, org)[email]["role"] == "developer"
    status, _h, events = api("GET", f"/v1/orgs/{org.id}/audit?action=member.joined", user=org.owner)
    assert any(e["resource"]["id"] == me["id"] and e["metadata"]["via"] == "sso_oidc" for e in events["data"])

    # The same callback again signs nobody in.
    replay = land(local_stack, landing)
    assert replay.status_code == 400
    assert _error(replay) == "invalid_state"
    assert cookie_of(replay, "sr_session") is None

    # A second sign-in: a new session, the same membership.
    again = land(local_stack, sign_in_at_issuer(local_stack, org.id, email))
    assert again.status_code == 200
    assert again.json()["user"]["id"] == me["id"]
    assert again.json()["token"] != body["token"]


def test_a_sign_in_can_land_on_the_console(org: Org, local_stack: str) -> None:
    email = f"erin-{secrets.token_hex(3)}@{org.domain}"
    response = land(local_stack, sign_in_at_issuer(local_stack, org.id, email, return_to="/orgs"))
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("/orgs")
    assert cookie_of(response, "sr_session")


def test_a_forged_state_or_another_browser_signs_nobody_in(api: Api, org: Org, local_stack: str) -> None:
    email = f"frank-{secrets.token_hex(3)}@{org.domain}"
    landing = sign_in_at_issuer(local_stack, org.id, email)
    forged_url = re.sub(r"state=[^&]+", "state=" + secrets.token_urlsafe(32), landing.callback)
    forged = Landing(callback=forged_url, binding="x")
    response = land(local_stack, forged, binding=landing.binding)
    assert response.status_code == 400
    assert _error(response) == "invalid_state"
    elsewhere = land(local_stack, landing, binding="")
    assert elsewhere.status_code == 400
    assert _error(elsewhere) == "invalid_state"
    assert email not in _members(api, org)


def test_an_email_outside_the_domains_is_refused(api: Api, org: Org, local_stack: str) -> None:
    email = f"gina-{secrets.token_hex(3)}@elsewhere.test"
    response = land(local_stack, sign_in_at_issuer(local_stack, org.id, email))
    assert response.status_code == 401
    assert _error(response) == "domain_not_allowed"
    assert cookie_of(response, "sr_session") is None
    assert email not in _members(api, org)


def test_an_unverified_email_is_refused(api: Api, org: Org, local_stack: str) -> None:
    email = f"hal-{secrets.token_hex(3)}@{org.domain}"
    response = land(local_stack, sign_in_at_issuer(local_stack, org.id, f"unverified.{email}"))
    assert response.status_code == 401
    assert _error(response) == "email_not_verified"
    assert email not in _members(api, org)


def test_an_account_it_did_not_create_is_not_taken_over(api: Api, org: Org, local_stack: str) -> None:
    email = f"ivy-{secrets.token_hex(3)}@{org.domain}"
    register = {"email": email, "password": "plover-quartz-umbrella-9"}
    assert api("POST", "/v1/auth/register", json=register)[0] == 201
    response = land(local_stack, sign_in_at_issuer(local_stack, org.id, email))
    assert response.status_code == 409
    assert _error(response) == "account_exists"
    assert cookie_of(response, "sr_session") is None
    assert email not in _members(api, org)


def test_the_secret_code_and_tokens_are_nowhere(
    api: Api, org: Org, local_stack: str, stack: LocalStack, server_log: io.StringIO
) -> None:
    email = f"jo-{secrets.token_hex(3)}@{org.domain}"
    landing = sign_in_at_issuer(local_stack, org.id, email)
    query = parse_qs(urlsplit(landing.callback).query)
    code, state = query["code"][0], query["state"][0]
    response = land(local_stack, landing)
    assert response.status_code == 200
    replay = land(local_stack, landing)  # a refusal logs too
    assert replay.status_code == 400
    seen = [response.text, json.dumps(dict(response.headers)), replay.text]
    table = aws.dynamodb()
    for partition in (f"ORG#{org.id}", f"AUDIT#{org.id}", f"AUDIT#{response.json()['user']['id']}"):
        items = table.query(
            TableName=table_name(stack),
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
        )["Items"]
        seen.append(json.dumps(items, default=str))
    assert "sso sign-in" in server_log.getvalue()  # the log was read
    seen.append(server_log.getvalue())
    for text in seen:
        for secret in (OIDC_CLIENT_SECRET, code, state, landing.binding):
            assert secret not in text


def test_an_issuer_error_signs_nobody_in_and_spends_nothing(api: Api, org: Org, local_stack: str) -> None:
    email = f"kim-{secrets.token_hex(3)}@{org.domain}"
    landing = sign_in_at_issuer(local_stack, org.id, email)
    state = parse_qs(urlsplit(landing.callback).query)["state"][0]
    denied = Landing(callback=f"{local_stack}/v1/sso/oidc/callback?error=access_denied&state={state}", binding="")
    response = land(local_stack, denied, binding=landing.binding)
    assert response.status_code == 401
    assert _error(response) == "idp_refused"
    assert email not in _members(api, org)
    # Nothing was written: the sign-in in flight is still there for its own callback.
    assert land(local_stack, landing).status_code == 200
    assert _members(api, org)[email]["role"] == "developer"
