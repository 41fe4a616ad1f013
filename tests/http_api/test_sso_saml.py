"""Single sign-on with SAML 2.0 through the local server, against a test IdP whose assertions are
signed by `signxml` (tests/saml_idp.py), an implementation independent of the python3-saml and
xmlsec that verify them.

The owner's configuration, the SP metadata (valid against OASIS's metadata schema, with our
entityID and ACS), the AuthnRequest (HTTP-Redirect, deflated), then the ACS: a good Response signs
in exactly as the OIDC callback does (a session that works on /v1/me, the membership with the
default role on a first sign-in); each of a tampered NameID, a wrong audience, an expired
assertion, an unknown InResponseTo, a second use of a Response, the same assertion inside a new
request's Response and a signature by another key signs nobody in (401)."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import onelogin.saml2
import pytest
from lxml import etree

from saml_idp import Idp, KeyPair, authn_request
from strongroom_local import LocalStack
from support import Api, cookie_of

pytestmark = pytest.mark.http

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SCHEMAS = Path(onelogin.saml2.__file__).parent / "schemas"


@dataclass
class Org:
    id: str
    owner: str
    domain: str
    idp: Idp
    sp_entity_id: str
    acs: str


@pytest.fixture(scope="module")
def org(api: Api) -> Org:
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    status, _h, created = api("POST", "/v1/orgs", user=owner, json={"name": f"SAML {secrets.token_hex(3)}"})
    assert status == 201, created
    idp = Idp()
    domain = f"saml-{secrets.token_hex(4)}.test"
    status, _h, body = api(
        "PUT",
        f"/v1/orgs/{created['id']}/sso/saml",
        user=owner,
        json={
            "idp_entity_id": idp.entity_id,
            "idp_sso_url": idp.sso_url,
            "idp_x509_cert": idp.keys.cert_pem,
            "domains": [domain],
            "default_role": "developer",
        },
    )
    assert status == 200, body
    return Org(
        id=created["id"], owner=owner, domain=domain, idp=idp, sp_entity_id=body["sp_entity_id"], acs=body["acs_url"]
    )


def start(local_stack: str, org: Org) -> str:
    """authorize: the ID of the AuthnRequest it redirects to the IdP with."""
    response = httpx.get(f"{local_stack}/v1/sso/saml/authorize", params={"org": org.id}, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(org.idp.sso_url + "?")
    request, relay = authn_request(location)
    assert request.get("AssertionConsumerServiceURL") == org.acs
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") == org.sp_entity_id
    assert relay == org.id
    return str(request.get("ID"))


def post(local_stack: str, saml_response: str) -> httpx.Response:
    return httpx.post(
        f"{local_stack}/v1/sso/saml/acs",
        data={"SAMLResponse": saml_response, "RelayState": "x"},
        follow_redirects=False,
    )


def answer(org: Org, request_id: str, email: str, **changes: Any) -> str:
    fields: dict[str, Any] = {"name_id": email, "in_response_to": request_id, "audience": org.sp_entity_id}
    return org.idp.response(**{**fields, "acs": org.acs, **changes})


def _members(api: Api, org: Org) -> dict[str, Any]:
    status, _h, body = api("GET", f"/v1/orgs/{org.id}/members", user=org.owner)
    assert status == 200
    return {m["email"]: m for m in body["data"]}


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_saml_response"
    assert cookie_of(response, "sr_session") is None


# --------------------------------------------------------------------------- configuration


def test_the_configuration_answers_what_the_idp_needs(api: Api, org: Org, local_stack: str) -> None:
    status, _h, body = api("GET", f"/v1/orgs/{org.id}/sso/saml", user=org.owner)
    assert status == 200
    assert body["idp_entity_id"] == org.idp.entity_id
    assert body["domains"] == [org.domain]
    assert body["acs_url"] == f"{local_stack}/v1/sso/saml/acs"
    assert body["sp_entity_id"] == f"{local_stack}/v1/sso/saml/metadata?org={org.id}"
    status, _h, audit = api("GET", f"/v1/orgs/{org.id}/audit?action=sso.saml_configured", user=org.owner)
    assert status == 200
    assert len(audit["data"]) == 1
    status, _h, found = api("GET", f"/v1/sso/by-domain?domain={org.domain}")
    assert (status, found) == (200, {"org_id": org.id, "methods": ["saml"]})


def test_a_certificate_that_is_not_one_is_refused(api: Api, org: Org) -> None:
    body = {
        "idp_entity_id": "https://idp.example.test",
        "idp_sso_url": "https://idp.example.test/sso",
        "idp_x509_cert": "-----BEGIN CERTIFICATE-----\n" + "A" * 120 + "\n-----END CERTIFICATE-----",
        "domains": [org.domain],
        "default_role": "viewer",
    }
    status, _h, answer_ = api("PUT", f"/v1/orgs/{org.id}/sso/saml", user=org.owner, json=body)
    assert status == 400
    assert answer_["error"]["details"]["fields"][0]["field"] == "idp_x509_cert"


def test_the_sp_metadata_is_saml_metadata_with_our_entity_id_and_acs(org: Org, local_stack: str) -> None:
    response = httpx.get(f"{local_stack}/v1/sso/saml/metadata", params={"org": org.id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    document = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "saml-schema-metadata-2.0.xsd")))
    assert schema.validate(document), schema.error_log
    assert document.tag == f"{{{MD}}}EntityDescriptor"
    assert document.get("entityID") == org.sp_entity_id
    acs = document.find(f"{{{MD}}}SPSSODescriptor/{{{MD}}}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == org.acs
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    formats = document.findall(f"{{{MD}}}SPSSODescriptor/{{{MD}}}NameIDFormat")
    assert [f.text for f in formats] == ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
    missing = httpx.get(f"{local_stack}/v1/sso/saml/metadata", params={"org": "org_nothing"})
    assert missing.status_code == 404


# --------------------------------------------------------------------------- the ACS


def test_a_good_response_provisions_the_member_and_signs_in(api: Api, org: Org, local_stack: str) -> None:
    email = f"ada-{secrets.token_hex(3)}@{org.domain}"
    saml_response = answer(org, start(local_stack, org), email)

    response = post(local_stack, saml_response)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == email
    assert cookie_of(response, "sr_session") == body["token"]
    status, _h, me = api("GET", "/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (status, me["email"]) == (200, email)
    assert _members(api, org)[email]["role"] == "developer"
    status, _h, events = api("GET", f"/v1/orgs/{org.id}/audit?action=member.joined", user=org.owner)
    assert any(e["resource"]["id"] == me["id"] and e["metadata"]["via"] == "sso_saml" for e in events["data"])
    assert saml_response not in str(events)

    # The same Response again (its request is answered) signs nobody in.
    _refused(post(local_stack, saml_response))

    # A second sign-in: a new session for the same user.
    again = post(local_stack, answer(org, start(local_stack, org), email))
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == me["id"]
    assert again.json()["token"] != body["token"]

    # Signed in so, they approve a device login (`strongroom login --approve`), which then works.
    session = {"Authorization": f"Bearer {body['token']}"}
    _s, _h, device = api("POST", "/v1/auth/device/start", json={"client_name": "strongroom-cli"})
    approve = {"user_code": device["user_code"]}
    assert api("POST", "/v1/auth/device/approve", headers=session, json=approve)[0] == 204
    status, _h, issued = api("POST", "/v1/auth/device/token", json={"device_code": device["device_code"]})
    assert status == 200, issued
    assert api("GET", "/v1/me", headers={"Authorization": f"Bearer {issued['access_token']}"})[2]["email"] == email


def test_a_sign_in_can_land_on_the_console(org: Org, local_stack: str) -> None:
    email = f"bo-{secrets.token_hex(3)}@{org.domain}"
    response = httpx.get(
        f"{local_stack}/v1/sso/saml/authorize", params={"org": org.id, "return_to": "/orgs"}, follow_redirects=False
    )
    request_id = authn_request(response.headers["location"])[0].get("ID")
    landed = post(local_stack, answer(org, str(request_id), email))
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"].endswith("/orgs")
    assert cookie_of(landed, "sr_session")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"tamper_name_id": "mallory@{domain}"}, id="tampered-nameid"),
        pytest.param({"audience": "https://sp.elsewhere.test/metadata"}, id="wrong-audience"),
        pytest.param(
            {"not_before": datetime.timedelta(hours=-2), "not_on_or_after": datetime.timedelta(hours=-1)}, id="expired"
        ),
        pytest.param({"signer": "another key"}, id="another-key"),
        pytest.param({"acs": "https://sp.elsewhere.test/acs"}, id="wrong-destination"),
    ],
)
def test_a_response_that_is_not_right_signs_nobody_in(
    api: Api, org: Org, local_stack: str, changes: dict[str, Any]
) -> None:
    email = f"eve-{secrets.token_hex(3)}@{org.domain}"
    if "tamper_name_id" in changes:
        changes = {"tamper_name_id": changes["tamper_name_id"].format(domain=org.domain)}
    if changes.get("signer") == "another key":
        changes = {"signer": KeyPair.new("Another IdP")}
    request_id = start(local_stack, org)
    saml_response = answer(org, request_id, email, **changes)

    _refused(post(local_stack, saml_response))

    members = _members(api, org)
    assert email not in members
    assert "mallory@" + org.domain not in members
    # The request was not used up by the refusal: a good Response to it still signs in.
    assert post(local_stack, answer(org, request_id, email)).status_code == 200


def test_an_unknown_in_response_to_signs_nobody_in(api: Api, org: Org, local_stack: str) -> None:
    email = f"ian-{secrets.token_hex(3)}@{org.domain}"
    _refused(post(local_stack, answer(org, f"ONELOGIN_{secrets.token_hex(20)}", email)))
    assert email not in _members(api, org)


def test_an_assertion_is_accepted_once_even_in_a_new_response(api: Api, org: Org, local_stack: str) -> None:
    email = f"joe-{secrets.token_hex(3)}@{org.domain}"
    assertion_id = f"_a{secrets.token_hex(16)}"
    first = post(local_stack, answer(org, start(local_stack, org), email, assertion_id=assertion_id))
    assert first.status_code == 200, first.text

    _refused(post(local_stack, answer(org, start(local_stack, org), email, assertion_id=assertion_id)))


def test_an_email_outside_the_domains_is_refused(api: Api, org: Org, local_stack: str) -> None:
    email = f"kim-{secrets.token_hex(3)}@elsewhere.test"
    response = post(local_stack, answer(org, start(local_stack, org), email))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "domain_not_allowed"
    assert email not in _members(api, org)


def test_a_response_that_is_not_saml_is_a_clear_401(local_stack: str) -> None:
    for junk in ("not base64!", "PHJvb3Q+PC9yb290Pg==", "PCFET0NUWVBFIHg+"):
        _refused(post(local_stack, junk))
    as_json = httpx.post(f"{local_stack}/v1/sso/saml/acs", json={"SAMLResponse": "x"})
    assert as_json.status_code == 415


def test_another_orgs_idp_signs_nobody_into_this_org(api: Api, org: Org, local_stack: str) -> None:
    # Given a second org whose IdP claims another domain
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    _s, _h, created = api("POST", "/v1/orgs", user=owner, json={"name": "Other SAML"})
    other = Idp()
    body = {
        "idp_entity_id": org.idp.entity_id,  # even the same entity id: the certificate is the org's
        "idp_sso_url": other.sso_url,
        "idp_x509_cert": other.keys.cert_pem,
        "domains": [f"other-{secrets.token_hex(4)}.test"],
        "default_role": "admin",
    }
    assert api("PUT", f"/v1/orgs/{created['id']}/sso/saml", user=owner, json=body)[0] == 200
    # When the other org's IdP answers a request of this org, for this org's audience and domain
    email = f"mal-{secrets.token_hex(3)}@{org.domain}"
    forged = other.response(
        name_id=email, in_response_to=start(local_stack, org), audience=org.sp_entity_id, acs=org.acs
    )
    # Then nobody is signed in, here or there
    _refused(post(local_stack, forged))
    assert email not in _members(api, org)
    status, _h, theirs = api("GET", f"/v1/orgs/{created['id']}/members", user=owner)
    assert status == 200
    assert email not in {m["email"] for m in theirs["data"]}


def test_a_first_sign_in_at_the_member_limit_releases_an_expired_invitation(
    api: Api, local_stack: str, stack: LocalStack
) -> None:
    from strongroom import aws
    from support import table_name

    # Given an org allowed two members: its owner and one invitation, whose time has passed
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    org_id = api("POST", "/v1/orgs", user=owner, json={"name": "Limited SAML"})[2]["id"]
    idp, domain = Idp(), f"limited-{secrets.token_hex(4)}.test"
    configured = {"idp_entity_id": idp.entity_id, "idp_sso_url": idp.sso_url, "idp_x509_cert": idp.keys.cert_pem}
    status, _, saml = api(
        "PUT",
        f"/v1/orgs/{org_id}/sso/saml",
        user=owner,
        json={**configured, "domains": [domain], "default_role": "viewer"},
    )
    assert status == 200, saml
    assert (
        api("PATCH", f"/v1/admin/orgs/{org_id}", user="admin@example.com", json={"limit_overrides": {"members": 2}})[0]
        == 200
    )
    status, _, invited = api(
        "POST", f"/v1/orgs/{org_id}/invitations", user=owner, json={"email": f"late@{domain}", "role": "developer"}
    )
    assert status == 201, invited
    limited = Org(
        id=org_id, owner=owner, domain=domain, idp=idp, sp_entity_id=saml["sp_entity_id"], acs=saml["acs_url"]
    )
    # (while it is pending, a first sign-in is past the limit: nobody is signed in)
    refused = post(local_stack, answer(limited, start(local_stack, limited), f"first@{domain}"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "plan_limit"
    aws.dynamodb().update_item(
        TableName=table_name(stack),
        Key={"PK": {"S": f"ORG#{org_id}"}, "SK": {"S": f"INVITE#{invited['id']}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00Z"}},
    )
    # When someone signs in for the first time through the org's IdP
    email = f"ana-{secrets.token_hex(3)}@{domain}"
    landed = post(local_stack, answer(limited, start(local_stack, limited), email))
    # Then they are a member, the expired invitation is released, and the org counts two
    assert landed.status_code == 200, landed.text
    assert _members(api, limited)[email]["role"] == "viewer"
    listed = {i["id"]: i["status"] for i in api("GET", f"/v1/orgs/{org_id}/invitations", user=owner)[2]["data"]}
    assert listed[invited["id"]] == "expired"
    assert api("GET", f"/v1/orgs/{org_id}/usage", user=owner)[2]["usage"]["members"] == 2
