"""Machine identities over HTTP: an admin makes an identity for staging; a CI job's JWT (a test
issuer with its own keys, discovery and JWKS served over HTTP) or an AWS role's signed
GetCallerIdentity (moto's STS, which the local stack makes check signatures) is exchanged for a
short-lived service token that reads staging through the runtime API until it expires; a rule
that does not match is 403 naming it; a bad, expired, foreign, unsigned or replayed credential is
401; the audit log shows the identity as the actor."""

from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import Issuer, SigningKeys

from support import Api, unique_email

pytestmark = pytest.mark.http

AUDIENCE = "https://github.com/acme"
MAIN = "repo:acme/web:ref:refs/heads/main"
STS_URL = "https://sts.us-east-1.amazonaws.com/"
ACCOUNT = "123456789012"


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"idn-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Identities", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    base = f"/v1/orgs/{slug}/projects/web/environments"
    assert api("PATCH", f"{base}/staging/secrets", user=owner, json={"set": {"DB_URL": "postgres://staging"}})[0] == 200
    return {"owner": owner, "slug": slug, "path": f"/v1/orgs/{slug}", "base": base}


def oidc_body(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    rules = {"issuer": issuer.base, "audience": AUDIENCE, "claims": {"sub": MAIN, "repository_owner": "acme"}}
    return {
        "name": "deploy from main",
        "type": "oidc",
        "project": "web",
        "environment": "staging",
        "permissions": ["read"],
        "ttl_seconds": 60,
        "rules": rules,
        **changes,
    }


def make(api: Api, org: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    status, _, created = api("POST", f"{org['path']}/identities", user=org["owner"], json=body)
    assert status == 201, created
    return created


def exchange(api: Api, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = api("POST", "/v1/auth/identity/token", json=body)
    return status, answer


def runtime(api: Api, token: str) -> tuple[int, Any]:
    status, _, body = api("GET", "/runtime/v1/secrets", headers={"Authorization": f"Bearer {token}"})
    return status, body


# --------------------------------------------------------------------------- OIDC


def test_the_right_subject_gets_a_token_that_reads_staging_until_it_expires(
    api: Api, org: dict[str, Any], workload_issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an identity for staging that trusts main of acme/web
    identity = make(api, org, oidc_body(workload_issuer))
    assert identity["id"].startswith("idn_")
    assert identity["environment_id"]
    assert identity["permissions"] == ["read"]

    # When main's JWT is exchanged
    status, answer = exchange(api, {"identity": identity["id"], "jwt": workload_issuer.workload(AUDIENCE)})

    # Then it gets a service token that reads staging (and writes nothing)
    assert status == 200, answer
    assert answer["token"].startswith("sr_svc_")
    status, body = runtime(api, answer["token"])
    assert status == 200, body
    assert body["secrets"] == {"DB_URL": "postgres://staging"}
    write = api(
        "PUT",
        f"{org['base']}/staging/secrets/X",
        headers={"Authorization": f"Bearer {answer['token']}"},
        json={"value": "x"},
    )
    assert write[0] == 403

    # and the audit log names the identity as the actor, with the subject it proved
    _, _, log = api("GET", f"{org['path']}/audit?action=identity.token_issued", user=org["owner"])
    [event] = log["data"]
    assert event["actor"] == {"type": "identity", "id": identity["id"]}
    assert event["metadata"]["subject"] == MAIN
    assert answer["token"] not in json.dumps(log)

    # and once its ttl has passed (the clock moved, not slept), the token is refused
    from strongroom import clock

    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(seconds=61))
    status, body = runtime(api, answer["token"])
    assert status == 401, body


def test_a_feature_branch_is_refused_naming_the_rule_and_nothing_of_the_token(
    api: Api, org: dict[str, Any], workload_issuer: Issuer
) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    feature = "repo:acme/web:ref:refs/heads/feature"
    status, answer = exchange(api, {"identity": identity["id"], "jwt": workload_issuer.workload(AUDIENCE, sub=feature)})
    assert status == 403, answer
    assert answer["error"]["code"] == "identity_rule_failed"
    assert answer["error"]["details"] == {"rule": "claims.sub"}
    assert "feature" not in json.dumps(answer)


def test_a_glob_matches_what_it_says(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    rules = {"issuer": workload_issuer.base, "audience": AUDIENCE, "claims": {"sub": "repo:acme/*:ref:refs/tags/v*"}}
    identity = make(api, org, oidc_body(workload_issuer, rules=rules))
    tag = workload_issuer.workload(AUDIENCE, sub="repo:acme/api:ref:refs/tags/v1.2.0")
    assert exchange(api, {"identity": identity["id"], "jwt": tag})[0] == 200
    branch = workload_issuer.workload(AUDIENCE, sub="repo:acme/api:ref:refs/heads/v1")
    assert exchange(api, {"identity": identity["id"], "jwt": branch})[0] == 403


@pytest.fixture(scope="module")
def stranger_keys() -> SigningKeys:
    return SigningKeys.generate()


def test_bad_expired_foreign_and_unsigned_jwts_are_401_alike(
    api: Api, org: dict[str, Any], workload_issuer: Issuer, stranger_keys: SigningKeys
) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    impostor = Issuer(stranger_keys)
    impostor.base = workload_issuer.base  # claims to be the trusted issuer, signs with its own key
    unsigned = Issuer.assemble(
        {"alg": "none", "typ": "JWT", "kid": "rsa-1"},
        {"iss": workload_issuer.base, "aud": AUDIENCE, "sub": MAIN, "exp": 4102444800},
    )
    refused = {
        "expired": workload_issuer.workload(AUDIENCE, exp=1_700_000_000, iat=1_699_999_000, nbf=None),
        "wrong audience": workload_issuer.workload("https://github.com/someone-else"),
        "another issuer's key": impostor.workload(AUDIENCE),
        "alg none": unsigned,
        "not yet valid": workload_issuer.workload(AUDIENCE, nbf=4102444800),
        "not a JWT": "not-a-jwt",
    }
    for why, jwt in refused.items():
        status, answer = exchange(api, {"identity": identity["id"], "jwt": jwt})
        assert status == 401, (why, answer)
        assert answer["error"]["code"] == "invalid_identity_credential", why
    # an identity that does not exist answers the same
    missing = "idn_" + "0" * 26
    status, answer = exchange(api, {"identity": missing, "jwt": workload_issuer.workload(AUDIENCE)})
    assert (status, answer["error"]["code"]) == (401, "invalid_identity_credential")
    # and so does the wrong kind of proof for the identity
    status, answer = exchange(api, {"identity": identity["id"], "aws": signed_caller_identity(identity["id"])})
    assert (status, answer["error"]["code"]) == (401, "invalid_identity_credential")


def test_a_jwt_is_accepted_once(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    for jwt in (workload_issuer.workload(AUDIENCE), workload_issuer.workload(AUDIENCE, jti=None)):
        body = {"identity": identity["id"], "jwt": jwt}
        assert exchange(api, body)[0] == 200
        status, answer = exchange(api, body)
        assert status == 401, answer
        assert answer["error"]["code"] == "credential_replayed"


def test_replacing_or_deleting_the_identity_ends_its_tokens(
    api: Api, org: dict[str, Any], workload_issuer: Issuer
) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    path = f"{org['path']}/identities/{identity['id']}"
    first = exchange(api, {"identity": identity["id"], "jwt": workload_issuer.workload(AUDIENCE)})[1]["token"]
    status, replaced = api("PUT", path, user=org["owner"], json=oidc_body(workload_issuer, ttl_seconds=120))[::2]
    assert status == 200, replaced
    assert replaced["revision"] == 2
    assert replaced["ttl_seconds"] == 120
    assert runtime(api, first)[0] == 401
    second = exchange(api, {"identity": identity["id"], "jwt": workload_issuer.workload(AUDIENCE)})[1]["token"]
    assert runtime(api, second)[0] == 200
    assert api("DELETE", path, user=org["owner"])[0] == 204
    assert runtime(api, second)[0] == 401
    assert api("GET", path, user=org["owner"])[0] == 404


def test_list_and_show(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    _, _, listed = api("GET", f"{org['path']}/identities", user=org["owner"])
    assert [i["id"] for i in listed["data"]] == [identity["id"]]
    _, _, shown = api("GET", f"{org['path']}/identities/{identity['id']}", user=org["owner"])
    assert shown["rules"]["claims"] == {"sub": MAIN, "repository_owner": "acme"}


def test_another_orgs_identity_is_not_found(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    identity = make(api, org, oidc_body(workload_issuer))
    other_owner, other = unique_email("other"), f"other-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=other_owner, json={"name": "Other", "slug": other})[0] == 201
    path = f"/v1/orgs/{other}/identities/{identity['id']}"
    for method in ("GET", "DELETE"):
        status, _, answer = api(method, path, user=other_owner)
        assert (status, answer["error"]["code"]) == (404, "not_found")
    assert api("GET", f"{org['path']}/identities/{identity['id']}", user=org["owner"])[0] == 200


@pytest.mark.usefixtures("stack_workers")
def test_access_changes_reach_webhooks(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    from http_api.test_webhooks import Receiver, subscribe

    receiver = Receiver()
    try:
        subscribe(api, org, receiver.url, ["identity.*"])
        identity = make(api, org, oidc_body(workload_issuer))
        answer = exchange(api, {"identity": identity["id"], "jwt": workload_issuer.workload(AUDIENCE)})[1]
        assert api("DELETE", f"{org['path']}/identities/{identity['id']}", user=org["owner"])[0] == 204
        calls = receiver.wait(3)
    finally:
        receiver.close()
    events = [json.loads(body) for _, body in calls]
    assert sorted(e["type"] for e in events) == ["identity.created", "identity.deleted", "identity.token_issued"]
    issued = next(e for e in events if e["type"] == "identity.token_issued")
    assert issued["data"]["actor"] == {"type": "identity", "id": identity["id"]}
    assert answer["token"] not in json.dumps(events)


# --------------------------------------------------------------------------- validation and authorization


@pytest.mark.parametrize(
    "case",
    [
        ({"ttl_seconds": 3601}, 400, "ttl_seconds"),
        ({"ttl_seconds": 4}, 400, "ttl_seconds"),
        ({"permissions": ["admin"]}, 400, "permissions"),
        ({"type": "saml"}, 400, "type"),
        ({"rules": {"issuer": "http://idp.example.com", "audience": "a", "claims": {"sub": "x"}}}, 422, "rules.issuer"),
        ({"rules": {"issuer": "ISSUER", "audience": "a", "claims": {"sub": "*"}}}, 422, "rules.claims.sub"),
        ({"rules": {"issuer": "ISSUER", "audience": "a", "claims": {"sub": "repo:**"}}}, 422, "rules.claims.sub"),
        ({"rules": {"issuer": "ISSUER", "audience": "a"}}, 422, "rules.claims"),
        (
            {"rules": {"issuer": "ISSUER", "audience": "a", "claims": {"sub": "x"}, "account": ACCOUNT}},
            422,
            "rules.account",
        ),
        ({"rules": {"issuer": "ISSUER", "claims": {"sub": "x"}, "extra": 1}}, 400, "rules.extra"),
    ],
)
def test_what_an_identity_may_not_be(
    api: Api, org: dict[str, Any], workload_issuer: Issuer, case: tuple[dict[str, Any], int, str]
) -> None:
    change, status, field = case
    body = oidc_body(workload_issuer, **change)
    if body["rules"].get("issuer") == "ISSUER":
        body["rules"]["issuer"] = workload_issuer.base
    got, _, answer = api("POST", f"{org['path']}/identities", user=org["owner"], json=body)
    assert got == status, answer
    named = [f["field"] for f in answer["error"]["details"].get("fields", [])]
    assert any(name == field or name.endswith(f".{field}") or name.startswith(field) for name in named), named


@pytest.mark.parametrize(
    ("role_arn", "field_issue"),
    [
        ("arn:aws:iam::123456789012:role/*", "every value"),
        ("arn:aws:iam::111122223333:role/ci", "another account"),
        ("arn:aws:iam::123456789012:role/path/ci", "path"),
        ("arn:aws:iam::123456789012:user/ci", "role/"),
    ],
)
def test_what_an_aws_rule_may_not_be(api: Api, org: dict[str, Any], role_arn: str, field_issue: str) -> None:
    status, _, answer = api("POST", f"{org['path']}/identities", user=org["owner"], json=aws_body(role_arn))
    assert status == 422, answer
    [named] = answer["error"]["details"]["fields"]
    assert named["field"] == "rules.role_arn"
    assert field_issue in named["issue"]


def test_nobody_gives_an_identity_more_than_they_hold(api: Api, org: dict[str, Any], workload_issuer: Issuer) -> None:
    # Given a member whose custom role manages identities but reads only non-production
    role = {"name": "CI admin", "permissions": {"identities.manage": "all", "secrets.read": "non_production"}}
    _, _, made = api("POST", f"{org['path']}/roles", user=org["owner"], json=role)
    member, developer = unique_email("ci-admin"), unique_email("dev")
    for email, role_slug in ((member, made["slug"]), (developer, "developer")):
        _, _, inv = api(
            "POST", f"{org['path']}/invitations", user=org["owner"], json={"email": email, "role": role_slug}
        )
        assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=email)[0] == 200
    path = f"{org['path']}/identities"
    # Then staging is theirs to hand out, production is not, nor is writing
    assert api("POST", path, user=member, json=oidc_body(workload_issuer))[0] == 201
    status, _, answer = api("POST", path, user=member, json=oidc_body(workload_issuer, environment="production"))
    assert status == 403, answer
    status, _, answer = api("POST", path, user=member, json=oidc_body(workload_issuer, permissions=["read", "write"]))
    assert status == 403, answer
    # and a developer manages no identity at all
    status, _, answer = api("POST", path, user=developer, json=oidc_body(workload_issuer))
    assert status == 403
    assert answer["error"]["details"]["permission"] == "identities.manage"


# --------------------------------------------------------------------------- AWS IAM (moto's STS)


def aws_body(role_arn: str) -> dict[str, Any]:
    return {
        "name": "lambda",
        "type": "aws_iam",
        "project": "web",
        "environment": "staging",
        "ttl_seconds": 300,
        "rules": {"account": ACCOUNT, "role_arn": role_arn},
    }


@pytest.fixture(scope="module")
def role_credentials(stack: Any) -> Iterator[Credentials]:
    """Credentials of a session of the role `ci-deploy`, issued by moto's STS (AssumeRole)."""
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    name = f"ci-deploy-{pysecrets.token_hex(3)}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    assumed = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="job-42"
    )["Credentials"]
    yield Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    iam.delete_role(RoleName=name)


def signed_caller_identity(identity_id: str, credentials: Credentials | None = None) -> dict[str, Any]:
    """What the CLI sends: a GetCallerIdentity signed with botocore's SigV4 (bound to the identity)."""
    creds = credentials or Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    request = AWSRequest(
        method="POST",
        url=STS_URL,
        data="Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Strongroom-Identity": identity_id,
            "X-Strongroom-Nonce": pysecrets.token_hex(8),  # as the CLI signs it: two requests differ
        },
    )
    SigV4Auth(creds, "sts", "us-east-1").add_auth(request)
    return {"method": "POST", "url": STS_URL, "headers": dict(request.headers.items()), "body": request.data}


def _role_name(credentials: Credentials) -> str:
    arn = boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    ).get_caller_identity()["Arn"]
    return str(arn).split("/")[1]


def test_an_aws_role_gets_a_token_and_a_tampered_signature_does_not(
    api: Api, org: dict[str, Any], role_credentials: Credentials
) -> None:
    role = _role_name(role_credentials)
    identity = make(api, org, aws_body(f"arn:aws:iam::{ACCOUNT}:role/ci-deploy-*"))

    # a botocore-signed GetCallerIdentity of a session of the role maps to the identity
    signed = signed_caller_identity(identity["id"], role_credentials)
    status, answer = exchange(api, {"identity": identity["id"], "aws": signed})
    assert status == 200, answer
    assert runtime(api, answer["token"])[1]["secrets"] == {"DB_URL": "postgres://staging"}
    _, _, log = api("GET", f"{org['path']}/audit?action=identity.token_issued", user=org["owner"])
    assert log["data"][0]["actor"] == {"type": "identity", "id": identity["id"]}
    assert log["data"][0]["metadata"]["subject"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/job-42"

    # the same signed request once more is a replay
    status, answer = exchange(api, {"identity": identity["id"], "aws": signed})
    assert (status, answer["error"]["code"]) == (401, "credential_replayed")

    # a signature changed by one character is refused by STS (moto checks it in the local stack)
    tampered = signed_caller_identity(identity["id"], role_credentials)
    auth = tampered["headers"]["Authorization"]
    tampered["headers"]["Authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    status, answer = exchange(api, {"identity": identity["id"], "aws": tampered})
    assert (status, answer["error"]["code"]) == (401, "invalid_aws_signature"), answer

    # so is a key STS never issued, and a request bound to another identity
    status, answer = exchange(api, {"identity": identity["id"], "aws": signed_caller_identity(identity["id"])})
    assert status == 401, answer
    other = signed_caller_identity("idn_" + "1" * 26, role_credentials)
    assert exchange(api, {"identity": identity["id"], "aws": other})[0] == 401
    # and one signed for another URL than this stack's STS endpoint
    elsewhere = signed_caller_identity(identity["id"], role_credentials) | {"url": "https://evil.example.com/"}
    status, answer = exchange(api, {"identity": identity["id"], "aws": elsewhere})
    assert status == 401
    assert answer["error"]["details"] == {"sts_url": STS_URL}


def test_a_role_the_rule_does_not_match_is_403(api: Api, org: dict[str, Any], role_credentials: Credentials) -> None:
    identity = make(api, org, aws_body(f"arn:aws:iam::{ACCOUNT}:role/prod-*"))
    status, answer = exchange(
        api, {"identity": identity["id"], "aws": signed_caller_identity(identity["id"], role_credentials)}
    )
    assert status == 403, answer
    assert answer["error"]["details"] == {"rule": "role_arn"}
    assert "ci-deploy" not in json.dumps(answer)
