"""Fuzz the API with schemathesis, every check on, against the embedded local stack.

    python scripts/fuzz.py                          # what `make fuzz` runs
    FUZZ_MAX_EXAMPLES=50 FUZZ_SEED=7 python scripts/fuzz.py
    python scripts/fuzz.py --include-operation-id put_secret   # extra arguments go to schemathesis

1. checks that docs/openapi.json is what the code generates (fuzzing a stale document proves little);
2. starts the local stack in this process (moto, AUTH_MODE=dev) on a free port;
3. seeds a small tenant as fuzz@example.com (an org, a project with its three environments,
   secrets, members, a pending invitation, and throw-away resources for the DELETE operations), so
   that generated requests reach the API's logic instead of a 404: path parameters are drawn from
   these real identifiers about half of the time (schemathesis dictionaries), and randomly otherwise;
4. runs the schemathesis CLI against http://127.0.0.1:<port>/openapi.json with every check on,
   all four phases (examples, coverage, fuzzing, stateful along the document's links), the header
   X-Strongroom-Dev-User: fuzz@example.com, FUZZ_MAX_EXAMPLES cases per operation (default 8,
   about three minutes on two cores for 178 operations) and a fixed seed (FUZZ_SEED) so that a failure reproduces;
   every operation but `login`, then `login` alone (the session token it answers would otherwise
   ride beside the dev header on every later request: two credentials, 401 for all of them).

Exits with schemathesis' status: non-zero on any failure. The goal is 0 server errors and 0 schema
violations. Reports (JUnit, and a pytest file reproducing each failure) go to schemathesis-report/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
USER = "fuzz@example.com"
OWNER = "owner@example.com"  # owns the orgs that invite the fuzz user
MEMBERS = ("member1@example.com", "member2@example.com", "member3@example.com")
OPENAPI = ROOT / "docs" / "openapi.json"
PROBABILITY = 0.5  # share of generated path parameters that name a seeded resource
# The files the console serves at /console/{asset} (its static folder but the page itself).
CONSOLE_STATIC = ROOT / "functions" / "console" / "console_api" / "static"
CONSOLE_ASSETS = sorted(p.name for p in CONSOLE_STATIC.iterdir() if p.is_file() and p.name != "index.html")


# --------------------------------------------------------------------------- seeding


def _call(base: str, method: str, path: str, body: Any = None, *, user: str = USER) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)  # noqa: S310 - our own local server
    request.add_header("X-Strongroom-Dev-User", user)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            text = response.read()
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"fuzz: seeding failed: {method} {path} -> {exc.code} {exc.read()[:300]!r}") from None
    return json.loads(text) if text else None


def _certificate() -> str:
    """A self-signed certificate (P-256) for the seeded SAML configuration."""
    import datetime  # noqa: PLC0415 - seeding only

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fuzz IdP")])
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Seed:
    orgs: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    invitations: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    doomed_orgs: list[str] = field(default_factory=list)
    doomed_projects: list[str] = field(default_factory=list)
    doomed_envs: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    access_requests: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def seed(base: str) -> Seed:
    """IDs rather than slugs: PATCH operations may rename slugs, IDs stay."""
    s = Seed()
    org = _call(base, "POST", "/v1/orgs", {"name": "Fuzz", "slug": "fuzz"})
    o = org["id"]
    s.orgs.append(o)
    project = _call(base, "POST", f"/v1/orgs/{o}/projects", {"name": "App", "slug": "app"})
    p = project["id"]
    s.projects.append(p)
    s.envs += [e["id"] for e in project["environments"]]
    s.keys += ["DATABASE_URL", "API_KEY", "feature.flag-1"]
    for env in s.envs:
        for key in s.keys:
            _call(base, "PUT", f"/v1/orgs/{o}/projects/{p}/environments/{env}/secrets/{key}", {"value": f"v-{key}"})
    # Folders: a key in one (the secret routes' ?path= reaches it), and empty ones to move and delete.
    s.paths += ["/", "/backend/db"]
    for env in s.envs:
        e = f"/v1/orgs/{o}/projects/{p}/environments/{env}"
        _call(base, "PUT", f"{e}/secrets/DATABASE_URL?path=/backend/db", {"value": "v-folder"})
        for i in range(3):
            s.folders.append(_call(base, "POST", f"{e}/folders", {"path": f"/seeded/f{i}"})["id"])
    for key in s.keys:  # the org's shared secrets, by the same names (`path.key`)
        _call(base, "PUT", f"/v1/orgs/{o}/shared-secrets/{key}", {"value": f"shared-{key}"})
    # Single sign-on naming an issuer that does not resolve (.test): the configuration's reads and
    # writes reach their logic; authorize reaches netguard, which refuses it (422 issuer_refused).
    sso = {
        "issuer": "https://idp.fuzz.test",
        "client_id": "fuzz",
        "client_secret": "fuzz-secret",
        "domains": ["fuzz.example.test"],
        "default_role": "viewer",
    }
    _call(base, "PUT", f"/v1/orgs/{o}/sso/oidc", sso)
    # And SAML (its metadata and authorize answer; the ACS refuses every Response the fuzzer makes).
    saml = {
        "idp_entity_id": "https://idp.fuzz.test/saml",
        "idp_sso_url": "https://idp.fuzz.test/sso",
        "idp_x509_cert": _certificate(),
        "domains": ["saml.fuzz.example.test"],
        "default_role": "viewer",
    }
    _call(base, "PUT", f"/v1/orgs/{o}/sso/saml", saml)
    for i, email in enumerate(MEMBERS):
        role = ("admin", "developer", "viewer")[i]
        invitation = _call(base, "POST", f"/v1/orgs/{o}/invitations", {"email": email, "role": role})
        _call(base, "POST", f"/v1/invitations/{invitation['token']}/accept", user=email)
        s.users.append(_call(base, "GET", "/v1/me", user=email)["id"])
    for i in range(3):
        s.invitations.append(
            _call(base, "POST", f"/v1/orgs/{o}/invitations", {"email": f"pending{i}@example.com", "role": "viewer"})[
                "id"
            ]
        )
        # Invitations *for* the fuzz user, to other orgs: accepting one succeeds once, then 409.
        other = _call(base, "POST", "/v1/orgs", {"name": f"Other {i}"}, user=OWNER)["id"]
        s.tokens.append(
            _call(base, "POST", f"/v1/orgs/{other}/invitations", {"email": USER, "role": "viewer"}, user=OWNER)["token"]
        )
        s.doomed_orgs.append(_call(base, "POST", "/v1/orgs", {"name": f"Doomed {i}"})["id"])
        doomed = _call(base, "POST", f"/v1/orgs/{o}/projects", {"name": f"Doomed {i}"})
        s.doomed_projects.append(doomed["id"])
        s.doomed_envs.append(
            _call(base, "POST", f"/v1/orgs/{o}/projects/{p}/environments", {"name": f"Doomed {i}"})["id"]
        )
    # Governance: production needs two admins' approvals for access, staging's changes one admin's;
    # the developer asks for production (pending requests for the decisions to reach).
    policy = {"name": "Prod", "project": p, "environments": [s.envs[2]], "applies_to": ["access_requests"]}
    s.policies.append(
        _call(
            base, "POST", f"/v1/orgs/{o}/approval-policies", {**policy, "approvers": ["admin"], "approvals_required": 2}
        )["id"]
    )
    ask = {"project": p, "environment": s.envs[2], "permission": "secrets.read", "duration_seconds": 60}
    for _ in range(3):
        req = _call(base, "POST", f"/v1/orgs/{o}/access-requests", {**ask, "reason": "fuzz"}, user=MEMBERS[1])
        s.access_requests.append(req["id"])
    return s


# --------------------------------------------------------------------------- configuration


def org_singletons(document: dict[str, Any]) -> list[str]:
    """The reads and deletes of every per-org configuration that exists once someone PUTs it.

    A path whose only parameter is {org} and that takes a PUT (`/v1/orgs/{org}/sso/oidc`, ...) is a
    singleton of the org: absent (404) until configured, so "created resource not found" does not
    apply to its GET and DELETE after the links schemathesis infers from creating an org.
    """
    found = []
    for path, operations in document["paths"].items():
        if "put" in operations and re.findall(r"{(\w+)}", path) == ["org"]:
            found += [operations[m]["operationId"] for m in ("get", "delete") if m in operations]
    return sorted(found)


def project_named_in_body(document: dict[str, Any]) -> list[str]:
    """The operations whose JSON body must name a project (`project` required): a link from
    creating an org hands them the org but no project of it, so their 404 ("project not found")
    is right, and "created resource not found" does not apply to them."""
    schemas = document.get("components", {}).get("schemas", {})
    found = []
    for operations in document["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            schema = body.get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            if "project" in schema.get("required", []):
                found.append(operation["operationId"])
    return sorted(found)


def _toml(value: Any) -> str:
    """The few TOML values this file needs (JSON strings, numbers and arrays are TOML too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _bind(dictionary: str) -> dict[str, Any]:
    return {"dictionary": dictionary, "probability": PROBABILITY}


# Where a check's expectation cannot be expressed in the OpenAPI document, it is widened here,
# narrowly, with the reason. No check is disabled. (operation ids, check, expected statuses, why)
EXPECTATIONS: list[tuple[list[str], str, list[str], str]] = [
    (
        [
            "list_orgs",
            "list_members",
            "list_invitations",
            "list_projects",
            "list_environments",
            "list_secrets",
            "list_versions",
            "list_tokens",
            "list_identities",
            "list_approval_policies",
            "list_access_requests",
            "list_change_requests",
            "list_agents",
            "list_jobs",
            "list_discovered_secrets",
            "list_shared_secrets",
            "list_shared_secret_versions",
            "list_integrations",
        ],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "?cursor= is an HMAC-authenticated token only the server issues: any string is schema-valid, "
        "but one it did not issue is refused with 400 (tamper evidence).",
    ),
    (
        ["create_environment", "patch_environment"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "`parent` names another environment of the project; one that does not exist (or would make "
        "a cycle) is a well-formed but unprocessable reference: 422 naming the field. A client-"
        "encrypted environment needs `id` and `grant` (and no parent), a server-managed one has "
        "neither, and a grant's length is its suite's: fields that depend on each other, 400.",
    ),
    (
        ["put_secret", "delete_secret", "put_shared_secret", "delete_shared_secret"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "412", "422"],
        "If-Match names the version the client read; any other version, or a secret that does not "
        "exist, makes the precondition false: 412 (RFC 9110). A client-encrypted environment (an "
        "`encryption` the API accepts at creation) refuses server-side values: 422 client_encrypted.",
    ),
    (
        ["accept_invitation"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "410"],
        "An invitation token is accepted once, by the invitee, before it expires: a used one is "
        "409, another user's 403, an expired one 410.",
    ),
    (
        ["search", "export", "verify"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "The audit log's cursor is server-issued (400 otherwise), and `since`/`until` must carry a "
        "time zone offset and be in order (400 naming the field): the schema's date-time cannot say so.",
    ),
    (
        ["rollback_secret"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "412", "422"],
        "A rollback names a version: one that is a deletion has no value to return to (422); "
        "If-Match works as on put (412).",
    ),
    (
        ["patch_secrets", "import_secrets", "promote", "restore_environment"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "413", "422"],
        "Checked against the state found: keys to delete or promote that do not exist, content that "
        "is not dotenv/JSON, `from` equal to `to`, an instant in the future are 422 naming the "
        "problem; a change past the environment's size (or the request body limit), 413.",
    ),
    (
        ["test_kms_key", "enable_kms_key"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "422", "503"],
        "A well-formed key ARN may name a key that does not exist or that Strongroom may not use: "
        "422 key_unusable naming the KMS error (503 when KMS itself fails).",
    ),
    (
        ["create_webhook", "patch_webhook"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "422"],
        "A well-formed URL may be refused as a webhook destination (not https, a private or "
        "unresolvable host) and a project/environment filter may name nothing: 422 naming it.",
    ),
    (
        ["device_token"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "429"],
        "RFC 8628: a well-formed device code that is pending, too eager, expired, denied or unknown "
        "is 400 with the RFC's error name.",
    ),
    (
        ["create_token", "create_personal_token"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "An `expires_at` in the past, an `allowed_cidrs` entry that is no network, or an org the "
        "caller is not a member of, is 422 naming it. A client-made token names all of token_id, "
        "token_hash, public_key and suite, the key of its suite's length (400), and only for a "
        "client-encrypted environment (422).",
    ),
    (
        ["create_scim_token"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "422"],
        "An org holds at most 20 SCIM tokens (domain/scim_tokens.py): the next is 422 too_many_tokens.",
    ),
    (
        ["create_identity", "replace_identity"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "422"],
        "An identity's rules depend on its `type` (an OIDC issuer, audience and claims; an AWS account "
        "and role ARN), and an issuer must be an address netguard lets us call: a schema-valid body "
        "with the other type's rules, a missing one, a pattern of `*` alone or an unusable issuer is "
        "422 naming the field; an environment or permission the caller cannot grant is 403.",
    ),
    (
        ["exchange_identity_token"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "409"],
        "The body is the proof: a well-formed identity ID with a JWT or a signed GetCallerIdentity "
        "that does not prove it (unknown identity, bad signature, another issuer, expired, replayed) "
        "is 401; a credential that proves it but does not satisfy a rule is 403 naming the rule.",
    ),
    (
        ["register_account", "change_password", "forgot_password"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "409", "429"],
        "A password of 12 to 256 characters may still be refused: a strength estimate below 3 "
        "(zxcvbn) or the email inside it is 400 naming `password`; register and forgot-password are "
        "limited per source address (429 with Retry-After).",
    ),
    (
        ["verify_email", "reset_password", "login", "enable_two_factor", "disable_two_factor"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "429"],
        "Tokens and codes are server-issued: a well-formed mail token the server did not issue (or "
        "used, or expired) is 400 invalid_token; a TOTP code that is not the current one is 400/401 "
        "totp_invalid; unknown credentials are 401 invalid_credentials, and a locked account 429.",
    ),
    (
        ["consistency", "event_proof"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "Tree sizes must lie within the sealed tree (and above the event's leaf), which the schema "
        "cannot know: 400 naming the field. `first` and `second` are both required, checked once the "
        "caller may read the log (a stranger gets the 404 of a missing org): the schema marks them optional.",
    ),
    (
        ["create_invitation", "patch_member"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "A role is a built-in role or one of the org's custom roles (any slug is schema-valid): a "
        "slug the org has no role for is 400 naming `role`.",
    ),
    (
        ["get_key", "list_grants", "create_grant", "revoke_grant"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "Grants exist in client-encrypted environments only (422 not_client_encrypted elsewhere); the "
        "caller's grant may be missing (403 no_grant); a grantee must be able to read the environment "
        "and have published a key of the grant's suite, a rekey must name exactly the current grants "
        "and values (422), at the current key version (409); a grant's length is its suite's (400).",
    ),
    (
        ["rekey"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "413", "422"],
        "As the other grant operations; and a rekey carries every value of its environment, so a "
        "schema-valid one may pass the 1 MiB request body limit: 413 before any validation.",
    ),
    (
        ["rekey"],
        "negative_data_rejection",
        ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"],
        "A schema-violating rekey past the 1 MiB request body limit is refused by its size first "
        "(413 payload_too_large): the body is not read, so no field is named.",
    ),
    (
        ["sso_saml_acs"],
        "negative_data_rejection",
        ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"],
        "A SAMLResponse past its maxLength may also pass the 1 MiB request body limit, which is "
        "checked first (413 payload_too_large): the form is not read, so no field is named.",
    ),
    (
        ["put_my_keys"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403"],
        "A public key's length is its suite's (32 bytes x25519, 1216 xwing) and a suite appears once: "
        "constraints between fields, 400 naming the field.",
    ),
    (
        ["create_role", "put_role"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "A role's permissions map is keyed by the permission catalog and valued by a scope: any "
        "other key (or a permission the caller lacks, 403) is refused naming `permissions`.",
    ),
    (
        ["put_oidc_config"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "An issuer URL the schema admits may carry a query, a fragment or credentials, and a "
        "`default_role` slug may name no role of the org (or owner): 400 naming the field; an "
        "email domain another org's single sign-on claims is 409 domain_taken.",
    ),
    (
        ["put_saml_config"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409"],
        "A certificate the schema admits (a string) may not be an X.509 certificate, an email domain "
        "may not be a DNS name, and a `default_role` slug may name no role of the org (or owner): "
        "400 naming the field; a domain another org's single sign-on claims is 409 domain_taken.",
    ),
    (
        ["sso_by_domain", "sso_oidc_authorize"],
        "positive_data_acceptance",
        ["2xx", "400", "404", "422"],
        "Only a domain or org whose single sign-on is configured is found (404 otherwise); an "
        "issuer a configuration names that netguard refuses (it does not resolve, or not to a "
        "public address) is 422 issuer_refused.",
    ),
    (
        ["create_approval_policy", "replace_approval_policy"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "A policy gives either `steps` or `approvers` (with `approvals_required`), never both (400); "
        "its project, environments and approvers must exist in the org (422 naming the field), and "
        "one policy at most covers an environment for each kind (409 policy_overlap).",
    ),
    (
        ["put_rotation"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "A postgres rotator alternates between two different users (the same name twice is 400: "
        "uniqueness the generated schema does not carry); a webhook rotator's URL must be one "
        "webhooks may call (422 unsafe_url, as webhooks); a client-encrypted environment cannot be "
        "rotated by the server (422 client_encrypted).",
    ),
    (
        ["create_access_request"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "A request needs a policy covering its environment (422 no_approval_policy), a duration "
        "within the policy's maximum (422), and a permission the requester's role lacks (409 "
        "already_permitted); an `agent_read` asks for `secrets.read` only: fields that depend on "
        "each other, 400.",
    ),
    (
        [
            "approve_access_request",
            "reject_access_request",
            "cancel_access_request",
            "approve_change_request",
            "reject_change_request",
            "comment_change_request",
            "apply_change_request",
        ],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409"],
        "Decisions are state transitions: a request already decided, expired or approved by the "
        "caller is 409; a caller who is not an approver of its step (or not its requester, for "
        "cancel; not its author, for apply) is 403; applying one whose keys moved since it was opened "
        "is 409 stale.",
    ),
    (
        ["create_integration"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "An integration's `config` depends on its `type` (AWS ones take role_arn…, SSM also kms_key_id and "
        "a parameter-shaped name; github_actions takes repository and token): 400 naming the mismatch; an "
        "`api_url` netguard refuses, or a client-encrypted environment, is 422.",
    ),
    (
        ["create_job"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "403", "404", "409", "422"],
        "A job's `params` depend on its `type` (a read job needs `ref` and `recipient_public_key`): 400 "
        "naming them; its `agent` must be an agent of the org (422 unknown_agent), not revoked (409).",
    ),
    (
        ["sso_oidc_callback"],
        "positive_data_acceptance",
        ["2xx", "400", "401", "404", "409"],
        "A callback's `state` is server-issued, single-use and bound to the browser's sr_sso cookie: "
        "any other schema-valid one is 400 invalid_state (the point of it).",
    ),
    (
        ["stripe_webhook"],
        "positive_data_acceptance",
        ["2xx", "400", "413", "415", "429"],
        "Stripe-Signature is an HMAC of the exact body under the endpoint's secret: any other "
        "schema-valid header is 400 invalid_signature (what Stripe's libraries expect).",
    ),
    (
        ["create_checkout", "create_portal"],
        "positive_data_acceptance",
        ["2xx", "401", "403", "404", "409", "422", "503"],
        "Checkout sells the plans a Stripe price is configured for (else 422 plan_not_for_sale), the "
        "portal needs the org's Stripe customer (422 no_customer before a checkout), and a stack "
        "without a Stripe key is 503 billing_not_configured.",
    ),
]


def config(s: Seed) -> str:
    lines = [
        "# Generated by scripts/fuzz.py for one run; see EXPECTATIONS there for the reasons.",
        "generation.with-security-parameters = false  # the dev user header is the credential",
        "phases.stateful.max-steps = 30",
        "",
        "[dictionaries]",
    ]
    dictionaries = {
        "orgs": s.orgs,
        "projects": s.projects,
        "envs": s.envs,
        "keys": s.keys,
        "users": s.users,
        "invitations": s.invitations,
        "tokens": s.tokens,
        "doomed_orgs": s.doomed_orgs,
        "doomed_projects": s.doomed_projects,
        "doomed_envs": s.doomed_envs,
        "policies": s.policies,
        "access_requests": s.access_requests,
        "folders": s.folders,
        "paths": s.paths,
        "console_assets": CONSOLE_ASSETS,
    }
    lines += [f"{name} = {_toml({'values': values})}" for name, values in dictionaries.items()]
    lines += ["", "[parameters]"]
    bindings = {
        "path.org": "orgs",
        "query.org": "orgs",
        "path.project": "projects",
        "path.env": "envs",
        "path.key": "keys",
        "path.user": "users",
        "path.id": "invitations",
        "path.token": "tokens",
        "path.asset": "console_assets",
        "query.path": "paths",
    }
    lines += [f"{json.dumps(k)} = {_toml(_bind(v))}" for k, v in bindings.items()]
    # One [[operations]] block per operation, holding all its settings: schemathesis applies only
    # one block to an operation, so a second block naming it would silently drop the first's.
    per_op: dict[str, list[str]] = {}
    # Deleting the seeded tenant would turn the rest of the run into 404s: DELETE targets the
    # throw-away resources instead (and random identifiers, as everywhere).
    for op_id, param, dictionary in [
        ("delete_org", "path.org", "doomed_orgs"),
        ("delete_project", "path.project", "doomed_projects"),
        ("delete_environment", "path.env", "doomed_envs"),
    ]:
        per_op.setdefault(op_id, []).append(f"parameters = {_toml({param: _bind(dictionary)})}")
    # Governance routes name their own resources by `{id}`.
    for op_ids, dictionary in [
        (["get_approval_policy", "replace_approval_policy", "delete_approval_policy"], "policies"),
        (
            ["get_access_request", "approve_access_request", "reject_access_request", "cancel_access_request"],
            "access_requests",
        ),
        (["move_folder", "delete_folder"], "folders"),
    ]:
        for op_id in op_ids:
            per_op.setdefault(op_id, []).append(f"parameters = {_toml({'path.id': _bind(dictionary)})}")
    # Singletons of an org that exist once configured, and operations whose body names a project: a
    # new org has neither, so the links schemathesis infers from POST /v1/orgs to them find 404, as
    # they should.
    document = json.loads(OPENAPI.read_text())
    for op_id in [*org_singletons(document), *project_named_in_body(document)]:
        per_op.setdefault(op_id, []).append("checks.ensure_resource_availability.enabled = false")
    # A shared secret's deletion is soft (a `delete` version): its history stays readable after it,
    # which the check for deleted resources (any 2xx after a DELETE of the path's key) takes for one
    # still there; reading the secret itself is 404 from the deletion on.
    per_op.setdefault("list_shared_secret_versions", []).append("checks.use_after_free.enabled = false")
    for op_ids, check, statuses, why in EXPECTATIONS:
        for op_id in op_ids:
            per_op.setdefault(op_id, []).append(f"checks.{check}.expected-statuses = {_toml(statuses)}  # {why}")
    for op_id, settings in per_op.items():
        lines += ["", "[[operations]]", f"include-operation-id = {_toml(op_id)}", *settings]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- run


def main(argv: list[str]) -> int:
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"], check=False)
    if check.returncode != 0:
        print("fuzz: docs/openapi.json is stale; run `make openapi` first", file=sys.stderr)
        return check.returncode
    sys.path[:0] = [str(ROOT / "local"), str(ROOT / "layers" / "strongroom")]
    from strongroom_local import LocalStack  # noqa: PLC0415

    max_examples = os.environ.get("FUZZ_MAX_EXAMPLES", "8")
    seed_value = os.environ.get("FUZZ_SEED", "20261122")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with LocalStack(port=0, auth_mode="dev") as stack, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fixture = seed(stack.url)
        config_file = Path(tmp) / "schemathesis.toml"
        config_file.write_text(config(fixture), encoding="utf-8")
        print(f"fuzz: local stack on {stack.url}, seeded in {time.perf_counter() - started:.1f}s", flush=True)
        command = [
            str(schemathesis),
            "--config-file",
            str(config_file),
            "run",
            f"{stack.url}/openapi.json",
            "--url",
            stack.url,
            # Every check is on by default; `--checks all` here would override the per-operation
            # `enabled = false` of the configuration (CLI options win), as it did until ci11.
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            max_examples,
            "--seed",
            seed_value,
            "--workers",
            os.environ.get("FUZZ_WORKERS", "2"),
            "--header",
            f"X-Strongroom-Dev-User: {USER}",
            "--request-timeout",
            "60",
            # max_response_time defaults to 10 s. The deployed bound is API
            # Gateway's 30 s integration timeout (the longest function Timeout); locally moto copies
            # the whole table for every item of a transaction, so writes slow down as the run fills it.
            "--max-response-time",
            "30",
            "--suppress-health-check",
            "too_slow",
            "--generation-database",
            "none",
            "--report",
            "junit,pytest",
            "--report-dir",
            str(ROOT / "schemathesis-report"),
            "--no-color",
            *argv,
        ]
        # `login` answers a session token, which schemathesis then sends as a bearer beside the dev
        # header (two credentials: 401 for everything after). It gets a run of its own.
        result = subprocess.run([*command, "--exclude-operation-id", "login"], cwd=ROOT, check=False)
        alone = [*command, "--include-operation-id", "login", "--phases", "examples,coverage,fuzzing"]  # no links
        alone_run = subprocess.run(alone, cwd=ROOT, check=False)
        elapsed = time.perf_counter() - started
        code = result.returncode or alone_run.returncode
        print(f"fuzz: schemathesis exited {code} after {elapsed:.0f}s (seed {seed_value})")
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
