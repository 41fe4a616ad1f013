"""Helpers shared by the tests: one HTTP call over a real socket."""

from __future__ import annotations

import html
import http.client
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

if TYPE_CHECKING:
    from strongroom_local import LocalStack

Api = Callable[..., tuple[int, dict[str, str], Any]]


def unique_email(who: str) -> str:
    """An address no other test uses: `<who>-<8 hex digits>@example.com`."""
    return f"{who}-{secrets.token_hex(4)}@example.com"


# The local stack's AWS account (moto's): the account the functions call KMS from.
STRONGROOM_ACCOUNT = "123456789012"
CUSTOMER_ACCOUNT = "111122223333"
KEY_ADMINISTRATION = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]


def byok_key_policy(*org_ids: str) -> dict[str, Any]:
    """The key policy docs/byok.md has a customer set: their account administers the key;
    Strongroom's account may use it only under the encryption context of `org_ids`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{CUSTOMER_ACCOUNT}:root"},
                "Action": KEY_ADMINISTRATION,
                "Resource": "*",
            },
            {
                "Sid": "StrongroomUsesThisKeyForOneOrganization",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{STRONGROOM_ACCOUNT}:root"},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:org": list(org_ids)}},
            },
        ],
    }


def customer_key(*org_ids: str) -> str:
    """A customer's KMS key (on the stack's moto), set up for the orgs `org_ids` as docs/byok.md
    says; with no org ids, moto's default policy (the account may use it for anything)."""
    from strongroom import aws

    kwargs: dict[str, Any] = {"Description": "a customer's key"}
    if org_ids:
        kwargs["Policy"] = json.dumps(byok_key_policy(*org_ids))
    return str(aws.kms().create_key(**kwargs)["KeyMetadata"]["Arn"])


def http_call(
    base: str,
    method: str,
    path: str,
    *,
    user: str | None = None,
    json_body: Any = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], Any]:
    """One request over a real socket. Returns (status, lower-cased headers, parsed JSON or text)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if user is not None:
        all_headers["X-Strongroom-Dev-User"] = user
    payload = body if body is not None else (json.dumps(json_body).encode() if json_body is not None else None)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        resp = conn.getresponse()
        raw = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    if not raw:
        return resp.status, resp_headers, None
    if resp_headers.get("content-type", "").startswith("application/json"):
        return resp.status, resp_headers, json.loads(raw)
    return resp.status, resp_headers, raw.decode("utf-8", "replace")


def org_with_members(api: Api, roles: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """An org owned by `owner`, with members of the given roles (name -> role). Returns its slug,
    the emails and the user ids by name."""
    emails = {"owner": unique_email("owner"), **{name: unique_email(name) for name in roles}}
    slug = f"roles-{secrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=emails["owner"], json={"name": "Roles", "slug": slug})[0] == 201
    for name, role in roles.items():
        _, _, inv = api(
            "POST", f"/v1/orgs/{slug}/invitations", user=emails["owner"], json={"email": emails[name], "role": role}
        )
        assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=emails[name])[0] == 200
    user_ids = {name: api("GET", "/v1/me", user=email)[2]["id"] for name, email in emails.items()}
    return slug, emails, user_ids


def table_name(stack: LocalStack) -> str:
    """The table the functions use now: the stack's, or a test's isolated table (see `isolated`
    in tests/conftest.py), which the functions find through TABLE_NAME as they always do."""
    import os

    assert stack.resources is not None
    return os.environ.get("TABLE_NAME") or str(stack.resources.refs["Table"])


def query_partition(stack: LocalStack, pk: str, sk_prefix: str | None = None) -> list[dict[str, Any]]:
    """Every item of one partition (optionally those whose SK begins with `sk_prefix`), in
    DynamoDB's own (typed) format, read consistently. What an assertion about known partitions reads."""
    from strongroom import aws

    client = aws.dynamodb()
    condition, values = "PK = :pk", {":pk": {"S": pk}}
    if sk_prefix is not None:
        condition += " AND begins_with(SK, :sk)"
        values[":sk"] = {"S": sk_prefix}
    kwargs: dict[str, Any] = {
        "TableName": table_name(stack),
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = client.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_item(stack: LocalStack, pk: str, sk: str) -> dict[str, Any] | None:
    """One item by its key (typed format, consistent read), or None."""
    from strongroom import aws

    found = aws.dynamodb().get_item(
        TableName=table_name(stack), Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    )
    return found.get("Item")


def count_items(stack: LocalStack, *partitions: str) -> int:
    """How many items the partitions `partitions` hold (a Query with Select=COUNT each)."""
    from strongroom import aws

    client = aws.dynamodb()
    total = 0
    for pk in partitions:
        kwargs: dict[str, Any] = {
            "TableName": table_name(stack),
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        while True:
            page = client.query(**kwargs)
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return total


def scan_all(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of the table the functions use, in DynamoDB's own (typed) format. For the
    assertions that are about the whole table ("nowhere in the table"): those tests are marked
    `isolated`, so the table holds only what they wrote. Anything about known partitions is a
    `query_partition` or a `get_item`."""
    from strongroom import aws

    client = aws.dynamodb()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name(stack)}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def seal(stack: LocalStack, *scopes: str) -> dict[str, Any]:
    """Run the audit sealer (AuditSealerFunction, as its stream event source would) for these
    scopes now: every unsealed event of each becomes a leaf of its tree and its head is signed.
    Tests run without the workers; this is the sealer's run they wait for."""
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "NewImage": {
                    "entity": {"S": "audit_event"},
                    "scope_id": {"S": scope},
                    "id": {"S": "evt_" + "0" * 26},  # names no event: the sealer takes the scope's unsealed list
                }
            },
        }
        for scope in scopes
    ]
    result: dict[str, Any] = stack.invoke("AuditSealerFunction", {"Records": records})
    return result


# --------------------------------------------------------------------------- single sign-on

# The client the real OpenID Provider (tests/http_api/conftest.py `oidc_peer`) knows; the secret's
# characters need form-encoding in client_secret_basic (RFC 6749, section 2.3.1).
OIDC_CLIENT_ID = "strongroom-sso-test"
OIDC_CLIENT_SECRET = "s3cret+/=:%peer-" + secrets.token_hex(8)


@dataclass(frozen=True)
class OidcPeer:
    issuer: str


def cookie_of(response: Any, name: str) -> str | None:
    """The value of the cookie `name` an httpx response sets."""
    for header in response.headers.get_list("set-cookie"):
        found, _, rest = header.partition("=")
        if found.strip() == name:
            return rest.split(";", 1)[0]
    return None


def _form(page: str, base: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert action is not None, page[:500]
    fields = {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    return urljoin(base, html.unescape(action.group(1))), fields


@dataclass
class Landing:
    callback: str  # our callback URL with the issuer's code and our state
    binding: str  # the sr_sso cookie authorize set


def sign_in_at_issuer(local_stack: str, org: str, login: str, *, return_to: str | None = None) -> Landing:
    """What a browser does: authorize → the issuer's login form (login = the account's email) →
    consent → the redirect back to our callback, which is not followed."""
    import httpx

    params = {"org": org, **({"return_to": return_to} if return_to else {})}
    start = httpx.get(f"{local_stack}/v1/sso/oidc/authorize", params=params, follow_redirects=False)
    assert start.status_code == 302, start.text
    binding = cookie_of(start, "sr_sso")
    assert binding
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"]
    assert query["state"]
    callback = f"{local_stack}/v1/sso/oidc/callback"
    assert query["redirect_uri"] == [callback]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        response = browser.get(start.headers["location"])
        for _step in range(12):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(callback):
                    return Landing(callback=location, binding=binding)
                response = browser.get(location)
                continue
            assert response.status_code == 200, response.text[:500]
            action, fields = _form(response.text, str(response.url))
            if 'name="login"' in response.text:
                fields.update({"login": login, "password": "any"})
            response = browser.post(action, data=fields)
    raise AssertionError("the issuer never sent the browser back")


# --------------------------------------------------------------------------- SAML


def _saml_cert() -> str:
    """A self-signed certificate (P-256: cheap to make) an IdP configuration may name."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from cryptography.x509.oid import NameOID

    key = _ec.generate_private_key(_ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IdP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


SAML_CERT = _saml_cert()


def saml_config(domain: str, *, role: str = "viewer") -> dict[str, Any]:
    """A valid body of PUT /v1/orgs/{org}/sso/saml."""
    return {
        "idp_entity_id": "https://idp.example.test/saml",
        "idp_sso_url": "https://idp.example.test/sso",
        "idp_x509_cert": SAML_CERT,
        "domains": [domain],
        "default_role": role,
    }
