"""What the running API answers is what docs/openapi.json says it answers.

Every operation of the document has a recipe here (or, for mutations, the one in
test_audit_every_mutation.py) that drives its success path over HTTP against the local stack;
each response is checked against the operation in the committed document:
- the status is one the operation documents;
- the response has a body exactly when the document gives that status a content, and its media
  type (Content-Type without parameters) is one the document lists for it;
- the body validates against that media type's schema (JSON Schema 2020-12, with the document's
  own components): JSON bodies parsed, YAML bodies loaded, text bodies as strings;
- every header the document marks as required is there and matches its schema.

`make openapi-check` runs this module after the drift check (`scripts/openapi.py --check`), and the
HTTP tier (`make test-http`, in `make test`) runs it too. Schemathesis (`make fuzz`) checks response
conformance as well, but only where its requests succeed: it has no service token, so the runtime
routes only ever answered it 401.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator

from http_api.test_audit_every_mutation import (  # noqa: F401 - the module's autouse fixture, run here too
    RECIPES,
    E,
    World,
    _access_request,
    _agent_job,
    _change_request,
    _client_env,
    _governed,
    _identity,
    _integration,
    _publish_key,
    _rotate_now,
    _stripe_environment,
)
from strongroom import ids
from strongroom.domain import tokens
from strongroom_local import LocalStack
from support import (
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    Api,
    OidcPeer,
    saml_config,
    seal,
    sign_in_at_issuer,
    unique_email,
)

pytestmark = pytest.mark.http

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


METHODS = {"get", "put", "post", "delete", "patch"}


# --------------------------------------------------------------------------- the check


def _document() -> dict[str, Any]:
    return json.loads(DOC_PATH.read_text(encoding="utf-8"))


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _schema_errors(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    # `#/components/...` references resolve against the root: the document's components sit there.
    wrapped = {"allOf": [schema], "components": doc["components"]}
    validator = Draft202012Validator(wrapped, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:200]}" for e in validator.iter_errors(instance)
    ]


def _body(media_type: str, raw: bytes) -> Any:
    if media_type == "application/json" or media_type.endswith("+json"):
        return json.loads(raw)
    if media_type in {"application/yaml", "application/x-yaml", "text/yaml"}:
        return yaml.safe_load(raw.decode("utf-8"))
    return raw.decode("utf-8")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    raw: bytes


def _header_problems(doc: dict[str, Any], documented: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """The documented response headers that are missing (when required) or do not match their schema."""
    problems = []
    for name, declared in documented.get("headers", {}).items():
        header = _resolve(doc, declared)
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
        elif "schema" in header:
            problems += [f"header {name}: {e}" for e in _schema_errors(doc, header["schema"], value)]
    return problems


def conformance_problems(doc: dict[str, Any], method: str, template: str, reply: Reply) -> list[str]:
    """What differs between one real response and the document's operation `method template`."""
    status, headers, raw = reply.status, reply.headers, reply.raw
    operation = doc["paths"][template][method.lower()]
    responses = operation["responses"]
    documented = responses.get(str(status))
    if documented is None:
        return [f"status {status} is not documented (documented: {sorted(responses)})"]
    documented = _resolve(doc, documented)
    problems = _header_problems(doc, documented, headers)
    content = documented.get("content", {})
    if not raw:
        if content:
            problems.append(f"no body, but the document gives {status} a body ({sorted(content)})")
        return problems
    if not content:
        return [*problems, f"a body, but the document gives {status} none"]
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in content:
        return [*problems, f"media type {media_type or '(none)'} is not documented for {status} ({sorted(content)})"]
    schema = content[media_type].get("schema", {})
    try:
        body = _body(media_type, raw)
    except (ValueError, yaml.YAMLError) as exc:
        return [*problems, f"the body is not {media_type}: {type(exc).__name__}"]
    return problems + [f"body: {e}" for e in _schema_errors(doc, schema, body)]


# --------------------------------------------------------------------------- the calls


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    user: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # credentials stay out of reports


def _raw_call(local_stack: str, call: Call) -> Reply:
    url = urlsplit(local_stack)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
    headers = {"Content-Type": "application/json", **call.headers}
    if call.user is not None:
        headers["X-Strongroom-Dev-User"] = call.user
    payload = (
        call.body if isinstance(call.body, bytes) else None if call.body is None else json.dumps(call.body).encode()
    )
    try:
        conn.request(call.method, call.path, body=payload, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@dataclass
class Tenant:
    """One org with a bit of everything the read operations show (made through the API)."""

    world: World
    org: str  # /v1/orgs/<slug>
    slug: str
    project: str  # …/projects/web
    staging: str  # …/environments/staging
    webhook: str  # …/webhooks/<id>
    token: str  # a read service token of staging
    event_id: str = ""  # a sealed audit event
    base: str = ""  # the local stack's URL
    sso_domain: str = ""  # the email domain its single sign-on (the real OpenID Provider) takes

    @property
    def owner(self) -> str:
        return self.world.owner

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def tenant(api: Api, stack: LocalStack, oidc_peer: OidcPeer, workload_issuer: Any) -> Tenant:
    w = World(api, workload_issuer)
    created = w.org()
    slug = created["slug"]
    org = f"/v1/orgs/{slug}"
    w.call("POST", f"{org}/projects", user=w.owner, body={"name": "Web"}, want=201)
    project = f"{org}/projects/web"
    staging = f"{project}/environments/staging"
    values = {"DB_HOST": "db", "DB_URL": "postgres://${DB_HOST}/app", "NOTE": "it's $HOME"}
    w.call("PATCH", f"{staging}/secrets", user=w.owner, body={"set": values}, want=200)
    w.call("PUT", f"{staging}/secrets/DB_HOST", user=w.owner, body={"value": "db2"}, want=200)
    w.call("POST", f"{project}/template", user=w.owner, body={"key": "DB_URL", "pattern": "^postgres://"}, want=201)
    invitation = w.invitation(created, w.member)
    w.call("POST", f"/v1/invitations/{invitation['token']}/accept", user=w.member, want=200)
    w.invitation(created, unique_email("pending"))
    body = {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read"]}
    token = w.call("POST", f"{org}/tokens", user=w.owner, body=body, want=201)["token"]
    hook_body = {"url": "http://127.0.0.1:9/hook", "events": ["nothing.matches"]}
    hook = w.call("POST", f"{org}/webhooks", user=w.owner, body=hook_body, want=201)
    webhook = f"{org}/webhooks/{hook['id']}"
    w.call("POST", f"{webhook}/test", user=w.owner, want=201)
    w.call("POST", "/v1/auth/tokens", user=w.owner, body={"name": "laptop"}, want=201)
    seal(stack, created["id"])
    event_id = w.call("GET", f"{org}/audit?action=org.created", user=w.owner, want=200)["data"][0]["id"]  # leaf 0
    sso_domain = f"{slug}.test"
    sso_body = {
        "issuer": oidc_peer.issuer,
        "client_id": OIDC_CLIENT_ID,
        "client_secret": OIDC_CLIENT_SECRET,
        "domains": [sso_domain],
        "default_role": "viewer",
    }
    w.call("PUT", f"{org}/sso/oidc", user=w.owner, body=sso_body, want=200)
    w.call("PUT", f"{org}/sso/saml", user=w.owner, body=saml_config(f"saml-{slug}.test"), want=200)
    return Tenant(w, org, slug, project, staging, webhook, token, event_id, stack.url, sso_domain)


def _etag(api: Api, call: Call) -> dict[str, str]:
    status, headers, _ = api(call.method, call.path, user=call.user, headers=call.headers)
    assert status == 200, (call, status)
    return {**call.headers, "If-None-Match": headers["etag"]}


def _pull(t: Tenant, api: Api) -> list[Call]:
    calls = [Call("GET", f"/runtime/v1/secrets?format={f}", headers=t.bearer) for f in ("json", "dotenv", "shell")]
    return [*calls, Call("GET", "/runtime/v1/secrets", headers=_etag(api, calls[0]))]


def _export(t: Tenant, api: Api) -> list[Call]:
    path = f"{t.staging}/export"
    calls = [Call("GET", f"{path}?format={f}", user=t.owner) for f in ("dotenv", "json", "yaml", "shell")]
    calls.append(Call("GET", f"{path}?format=json&resolve=false", user=t.owner))
    return [*calls, Call("GET", path, user=t.owner, headers=_etag(api, calls[0]))]


def _folder_reads(t: Tenant, api: Api) -> list[Call]:
    status, _h, body = api("PUT", f"{t.staging}/secrets/DB_URL?path=/backend/db", user=t.owner, json={"value": "x"})
    assert status == 200, body
    return [
        Call("GET", f"{t.staging}/folders", user=t.owner),
        Call("GET", f"{t.staging}/folders?path=/backend&recursive=true&limit=1", user=t.owner),
    ]


def _role_reads(t: Tenant, api: Api) -> list[Call]:
    body = {"name": f"Reader {secrets.token_hex(3)}", "permissions": {"audit.read": "all"}}
    status, _h, role = api("POST", f"{t.org}/roles", user=t.owner, json=body)
    assert status == 201, role
    return [Call("GET", f"{t.org}/roles/{ref}", user=t.owner) for ref in (role["id"], role["slug"])]


def _identity_reads(t: Tenant, _api: Api, *, one: bool) -> list[Call]:
    org, identity = _identity(t.world)
    return [Call("GET", f"{org}/identities/{identity['id']}" if one else f"{org}/identities", user=t.owner)]


def _scim_token_reads(t: Tenant, api: Api) -> list[Call]:
    """The listing with a token in it (its schema is then checked on an item)."""
    status, _h, created = api("POST", f"{t.org}/scim/tokens", user=t.owner, json={"name": "idp"})
    assert status == 201, created
    return [Call("GET", f"{t.org}/scim/tokens", user=t.owner)]


def _client_reads(t: Tenant, api: Api, what: str) -> list[Call]:
    env, _member, _env_id = _client_env(t.world)
    return [Call("GET", f"{env}/{what}", user=t.owner)]


def _runtime_key(t: Tenant, api: Api) -> list[Call]:
    """A client-made token of a client-encrypted environment (random bytes of the suite's lengths:
    the server cannot tell) with its grant."""
    env, _member, env_id = _client_env(t.world)
    token_id = ids.new_id("tok")
    token = tokens.mint(token_id)  # the contract's format, whoever computes it
    org = env.split("/projects/")[0]
    public_key = base64.b64encode(os.urandom(32)).decode()
    body = {
        "name": "ci",
        "project": env.split("/projects/")[1].split("/")[0],
        "environment": env_id,
        "token_id": token_id,
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "public_key": public_key,
        "suite": "x25519",
    }
    t.world.call("POST", f"{org}/tokens", user=t.owner, body=body, want=201)
    grant = {"principal": {"type": "token", "id": token_id}, "suite": "x25519", "key_version": 1}
    grant["wrapped_key"] = base64.b64encode(os.urandom(80)).decode()
    t.world.call("POST", f"{env}/grants", user=t.owner, body=grant, want=201)
    return [Call("GET", "/runtime/v1/key", headers={"Authorization": f"Bearer {token}"})]


def _my_keys(t: Tenant, api: Api) -> list[Call]:
    _publish_key(t.world, t.owner)
    return [Call("GET", "/v1/me/keys", user=t.owner)]


def _sso_callbacks(t: Tenant, api: Api) -> list[Call]:
    """Two sign-ins at the real OpenID Provider landing on the callback: JSON, and to the console."""
    calls = []
    for return_to in (None, "/orgs"):
        email = f"sso-{secrets.token_hex(3)}@{t.sso_domain}"
        landing = sign_in_at_issuer(t.base, t.slug, email, return_to=return_to)
        path = landing.callback.removeprefix(t.base)
        calls.append(Call("GET", path, headers={"Cookie": f"sr_sso={landing.binding}"}))
    return calls


# route key -> the calls of its success path, for the operations that change nothing (or, for the
# sign-in, a GET whose writes the e2e tests check: tests/http_api/test_sso_oidc.py)
Reads = Callable[[Tenant, Api], list[Call]]
READS: dict[str, Reads] = {
    "GET /health": lambda t, api: [Call("GET", "/health")],
    # the web console: its page at each path that opens it, and every file it serves
    "GET /": lambda t, api: [Call("GET", "/")],
    "GET /device": lambda t, api: [Call("GET", "/device?user_code=BCDF-GHJK")],
    "GET /verify-email": lambda t, api: [Call("GET", "/verify-email?token=x")],
    "GET /reset-password": lambda t, api: [Call("GET", "/reset-password?token=x")],
    "GET /console/{asset}": lambda t, api: [
        Call("GET", f"/console/{name}") for name in ("app.js", "console.css", "pico.min.css", "favicon.svg")
    ],
    "GET /runtime/v1": lambda t, api: [Call("GET", "/runtime/v1", headers=t.bearer)],
    "GET /runtime/v1/secrets": _pull,
    "GET /runtime/v1/secrets/{key}": lambda t, api: [Call("GET", "/runtime/v1/secrets/DB_URL", headers=t.bearer)],
    "GET /v1/auth/tokens": lambda t, api: [Call("GET", "/v1/auth/tokens", user=t.owner)],
    "GET /v1/me": lambda t, api: [Call("GET", "/v1/me", user=t.owner)],
    "GET /v1/me/keys": _my_keys,
    "GET /runtime/v1/key": _runtime_key,
    f"GET {E}/key": lambda t, api: _client_reads(t, api, "key"),
    f"GET {E}/grants": lambda t, api: _client_reads(t, api, "grants"),
    "GET /v1/me/permissions": lambda t, api: [Call("GET", f"/v1/me/permissions?org={t.slug}", user=t.owner)],
    "GET /v1/permissions": lambda t, api: [Call("GET", "/v1/permissions", user=t.owner)],
    "GET /v1/orgs": lambda t, api: [Call("GET", "/v1/orgs?limit=1", user=t.owner)],
    "GET /v1/orgs/{org}": lambda t, api: [Call("GET", t.org, user=t.owner)],
    "GET /v1/orgs/{org}/audit": lambda t, api: [
        Call("GET", f"{t.org}/audit?limit=2", user=t.owner),
        Call("GET", f"{t.org}/audit?action=secret.", user=t.owner),
    ],
    "GET /v1/orgs/{org}/audit/export": lambda t, api: [
        Call("GET", f"{t.org}/audit/export?format={f}", user=t.owner) for f in ("json", "csv")
    ],
    "GET /v1/orgs/{org}/audit/verify": lambda t, api: [Call("GET", f"{t.org}/audit/verify", user=t.owner)],
    "GET /v1/orgs/{org}/audit/tree-head": lambda t, api: [Call("GET", f"{t.org}/audit/tree-head", user=t.owner)],
    "GET /v1/orgs/{org}/audit/public-key": lambda t, api: [Call("GET", f"{t.org}/audit/public-key", user=t.owner)],
    "GET /v1/orgs/{org}/audit/events/{id}": lambda t, api: [
        Call("GET", f"{t.org}/audit/events/{t.event_id}", user=t.owner)
    ],
    "GET /v1/orgs/{org}/audit/events/{id}/proof": lambda t, api: [
        Call("GET", f"{t.org}/audit/events/{t.event_id}/proof{q}", user=t.owner) for q in ("", "?tree_size=2")
    ],
    "GET /v1/orgs/{org}/audit/consistency": lambda t, api: [
        Call("GET", f"{t.org}/audit/consistency?first=1&second=2", user=t.owner)
    ],
    "GET /v1/orgs/{org}/audit/leaves": lambda t, api: [
        Call("GET", f"{t.org}/audit/leaves{q}", user=t.owner) for q in ("", "?start=1&limit=2")
    ],
    "GET /v1/orgs/{org}/encryption": lambda t, api: [Call("GET", f"{t.org}/encryption", user=t.owner)],
    "GET /v1/orgs/{org}/invitations": lambda t, api: [Call("GET", f"{t.org}/invitations", user=t.owner)],
    "GET /v1/orgs/{org}/roles": lambda t, api: [Call("GET", f"{t.org}/roles", user=t.owner)],
    "GET /v1/orgs/{org}/roles/{role}": _role_reads,
    "GET /v1/orgs/{org}/members": lambda t, api: [Call("GET", f"{t.org}/members?limit=1", user=t.owner)],
    "GET /v1/orgs/{org}/projects": lambda t, api: [Call("GET", f"{t.org}/projects", user=t.owner)],
    "GET /v1/orgs/{org}/projects/{project}": lambda t, api: [Call("GET", t.project, user=t.owner)],
    "GET /v1/orgs/{org}/projects/{project}/environments": lambda t, api: [
        Call("GET", f"{t.project}/environments?limit=2", user=t.owner)
    ],
    "GET /v1/orgs/{org}/projects/{project}/template": lambda t, api: [
        Call("GET", f"{t.project}/template", user=t.owner)
    ],
    f"GET {E}": lambda t, api: [Call("GET", t.staging, user=t.owner)],
    f"GET {E}/export": _export,
    f"GET {E}/folders": _folder_reads,
    f"GET {E}/secrets": lambda t, api: [
        Call("GET", f"{t.staging}/secrets", user=t.owner),
        Call("GET", f"{t.staging}/secrets?values=false&limit=1", user=t.owner),
        Call("GET", f"{t.staging}/secrets?resolve=false&prefix=DB_", user=t.owner),
    ],
    f"GET {E}/secrets/{{key}}": lambda t, api: [
        Call("GET", f"{t.staging}/secrets/DB_URL", user=t.owner),
        Call("GET", f"{t.staging}/secrets/DB_HOST?version=1", user=t.owner),
    ],
    f"GET {E}/secrets/{{key}}/versions": lambda t, api: [
        Call("GET", f"{t.staging}/secrets/DB_HOST/versions", user=t.owner)
    ],
    f"GET {E}/validate": lambda t, api: [Call("GET", f"{t.staging}/validate", user=t.owner)],
    "GET /v1/orgs/{org}/tokens": lambda t, api: [Call("GET", f"{t.org}/tokens", user=t.owner)],
    "GET /v1/orgs/{org}/scim/tokens": _scim_token_reads,
    "GET /v1/orgs/{org}/identities": lambda t, api: _identity_reads(t, api, one=False),
    "GET /v1/orgs/{org}/identities/{id}": lambda t, api: _identity_reads(t, api, one=True),
    "GET /v1/orgs/{org}/webhooks": lambda t, api: [Call("GET", f"{t.org}/webhooks", user=t.owner)],
    "GET /v1/orgs/{org}/webhooks/{id}": lambda t, api: [Call("GET", t.webhook, user=t.owner)],
    "GET /v1/orgs/{org}/webhooks/{id}/deliveries": lambda t, api: [
        Call("GET", f"{t.webhook}/deliveries", user=t.owner)
    ],
    "GET /v1/orgs/{org}/sso/oidc": lambda t, api: [Call("GET", f"{t.org}/sso/oidc", user=t.owner)],
    "GET /v1/sso/by-domain": lambda t, api: [Call("GET", f"/v1/sso/by-domain?domain={t.sso_domain}")],
    "GET /v1/sso/oidc/authorize": lambda t, api: [
        Call("GET", f"/v1/sso/oidc/authorize?org={t.slug}"),
        Call("GET", f"/v1/sso/oidc/authorize?org={t.slug}&return_to=/orgs"),
    ],
    "GET /v1/sso/oidc/callback": _sso_callbacks,
    "GET /v1/orgs/{org}/sso/saml": lambda t, api: [Call("GET", f"{t.org}/sso/saml", user=t.owner)],
    "GET /v1/sso/saml/metadata": lambda t, api: [Call("GET", f"/v1/sso/saml/metadata?org={t.slug}")],
    "GET /v1/sso/saml/authorize": lambda t, api: [
        Call("GET", f"/v1/sso/saml/authorize?org={t.slug}"),
        Call("GET", f"/v1/sso/saml/authorize?org={t.slug}&return_to=/orgs"),
    ],
}


def _governance_reads(t: Tenant, _api: Api, what: str) -> list[Call]:
    """A governed org's policies and access requests, listed and one by one."""
    org, policy = _governed(t.world)
    req = _access_request(t.world, org)
    one = {"approval-policies": policy["id"], "access-requests": req["id"]}[what]
    return [Call("GET", f"{org}/{what}", user=t.world.owner), Call("GET", f"{org}/{what}/{one}", user=t.world.owner)]


def _change_reads(t: Tenant, _api: Api, *, one: bool) -> list[Call]:
    org, cr = _change_request(t.world)
    return [Call("GET", f"{org}/change-requests/{cr['id']}" if one else f"{org}/change-requests", user=t.world.owner)]


ADMIN = "admin@example.com"  # the local stack's platform admin
READS.update(
    {
        "GET /healthz": lambda t, api: [Call("GET", "/healthz")],
        "GET /readyz": lambda t, api: [Call("GET", "/readyz")],
        "GET /metrics": lambda t, api: [Call("GET", "/metrics", user=ADMIN)],
        "GET /v1/orgs/{org}/usage": lambda t, api: [Call("GET", f"{t.org}/usage", user=t.owner)],
        "GET /v1/orgs/{org}/billing": lambda t, api: [Call("GET", f"{t.org}/billing", user=t.owner)],
        "GET /v1/admin/stats": lambda t, api: [Call("GET", "/v1/admin/stats", user=ADMIN)],
        "GET /v1/admin/orgs": lambda t, api: [Call("GET", f"/v1/admin/orgs?q={t.slug}", user=ADMIN)],
        "GET /v1/admin/orgs/{org}": lambda t, api: [Call("GET", f"/v1/admin/orgs/{t.slug}", user=ADMIN)],
        "GET /v1/admin/plans": lambda t, api: [Call("GET", "/v1/admin/plans", user=ADMIN)],
        "GET /v1/admin/metrics/summary": lambda t, api: [Call("GET", "/v1/admin/metrics/summary?hours=2", user=ADMIN)],
        "GET /v1/orgs/{org}/change-requests": lambda t, api: _change_reads(t, api, one=False),
        "GET /v1/orgs/{org}/change-requests/{id}": lambda t, api: _change_reads(t, api, one=True),
        "GET /v1/orgs/{org}/approval-policies": lambda t, api: _governance_reads(t, api, "approval-policies")[:1],
        "GET /v1/orgs/{org}/approval-policies/{id}": lambda t, api: _governance_reads(t, api, "approval-policies")[1:],
        "GET /v1/orgs/{org}/access-requests": lambda t, api: _governance_reads(t, api, "access-requests")[:1],
        "GET /v1/orgs/{org}/access-requests/{id}": lambda t, api: _governance_reads(t, api, "access-requests")[1:],
    }
)


def _agent_reads(t: Tenant, api: Api, what: str) -> list[Call]:
    """An agent with a read job it answered (a wrap) and a discovered secret, read as its admin."""
    org, agent, auth, job = _agent_job(t.world, "read")
    owner = t.world.owner
    assert api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=auth)[0] == 200
    sealed = base64.b64encode(os.urandom(80)).decode()
    status, _h, wrap = api(
        "POST", f"/v1/agents/{agent['id']}/wraps", headers=auth, json={"job": job["id"], "sealed": sealed}
    )
    assert status == 201, wrap
    item = {
        "ref": "web/.env#DB_URL",
        "provider": "file",
        "cluster_name": "laptop",
        "labels": {"app": "web"},
        "fingerprint": "hmac:0123456789ab",
    }
    assert api("POST", f"/v1/agents/{agent['id']}/secrets/bulk", headers=auth, json={"secrets": [item]})[0] == 200
    return {
        "agents": [Call("GET", f"{org}/agents", user=owner)],
        "agent": [Call("GET", f"{org}/agents/{agent['id']}", user=owner)],
        "jobs": [
            Call("GET", f"{org}/jobs", user=owner),
            Call("GET", f"{org}/jobs?agent={agent['id']}&status=claimed", user=owner),
        ],
        "job": [Call("GET", f"{org}/jobs/{job['id']}", user=owner)],
        "wrap": [Call("GET", f"{org}/wraps/{wrap['id']}", user=owner)],
        "discovered": [
            Call("GET", f"{org}/discovered-secrets", user=owner),
            Call(
                "GET",
                f"{org}/discovered-secrets?label=app:web&cluster_name=laptop&provider=file&ref_prefix=web/&status=active",
                user=owner,
            ),
        ],
    }[what]


def _rotation_reads(t: Tenant, api: Api) -> list[Call]:
    method, path, user, body, _action = _rotate_now(t.world)
    t.world.call(method, path, user=user, body=body, want=200)  # rotated once: every field filled
    return [Call("GET", path.removesuffix("/rotate") + "/rotation", user=user)]


READS["GET /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rotation"] = _rotation_reads


READS.update(
    {
        "GET /v1/orgs/{org}/agents": lambda t, api: _agent_reads(t, api, "agents"),
        "GET /v1/orgs/{org}/agents/{id}": lambda t, api: _agent_reads(t, api, "agent"),
        "GET /v1/orgs/{org}/jobs": lambda t, api: _agent_reads(t, api, "jobs"),
        "GET /v1/orgs/{org}/jobs/{id}": lambda t, api: _agent_reads(t, api, "job"),
        "GET /v1/orgs/{org}/wraps/{wrap}": lambda t, api: _agent_reads(t, api, "wrap"),
        "GET /v1/orgs/{org}/discovered-secrets": lambda t, api: _agent_reads(t, api, "discovered"),
    }
)


def _shared_reads(t: Tenant, api: Api, what: str) -> list[Call]:
    """The org's shared secrets: listed, one read, its versions (SENTRY_DSN written first)."""
    path = f"{t.org}/shared-secrets"
    assert api("PUT", f"{path}/SENTRY_DSN", user=t.owner, json={"value": "https://k@sentry/1"})[0] == 200
    one = {"list": path, "get": f"{path}/SENTRY_DSN", "versions": f"{path}/SENTRY_DSN/versions"}[what]
    return [Call("GET", one, user=t.owner)]


def _integration_reads(t: Tenant, api: Api, what: str) -> list[Call]:
    """An integration of the tenant's world (never synced here: no worker runs), read as its admin."""
    path, _made = _integration(t.world)
    owner = t.world.owner
    return {
        "list": [Call("GET", path.rsplit("/", 1)[0], user=owner)],
        "one": [Call("GET", path, user=owner)],
        "status": [Call("GET", f"{path}/status", user=owner)],
    }[what]


READS.update(
    {
        "GET /v1/orgs/{org}/shared-secrets": lambda t, api: _shared_reads(t, api, "list"),
        "GET /v1/orgs/{org}/shared-secrets/{key}": lambda t, api: _shared_reads(t, api, "get"),
        "GET /v1/orgs/{org}/shared-secrets/{key}/versions": lambda t, api: _shared_reads(t, api, "versions"),
        "GET /v1/orgs/{org}/integrations": lambda t, api: _integration_reads(t, api, "list"),
        "GET /v1/orgs/{org}/integrations/{id}": lambda t, api: _integration_reads(t, api, "one"),
        "GET /v1/orgs/{org}/integrations/{id}/status": lambda t, api: _integration_reads(t, api, "status"),
    }
)


def _documented_routes() -> set[str]:
    doc = _document()
    return {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item if m in METHODS}


def _template(route_key: str) -> tuple[str, str]:
    method, _, template = route_key.partition(" ")
    return method, template


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path.split("?", 1)[0]) is not None


def test_every_documented_operation_has_a_recipe() -> None:
    recipes = set(READS) | set(RECIPES)
    assert set(READS).isdisjoint(RECIPES)
    assert sorted(_documented_routes() - recipes) == [], "operations without a conformance recipe"
    assert sorted(recipes - _documented_routes()) == [], "recipes for operations the document does not have"


@pytest.mark.parametrize("route_key", sorted(_documented_routes()))
def test_success_responses_match_the_document(route_key: str, api: Api, local_stack: str, tenant: Tenant) -> None:
    # Given the state the operation needs, and its calls
    method, template = _template(route_key)
    if route_key in READS:
        calls = READS[route_key](tenant, api)
    else:
        m, path, user, body, _action, *extra = RECIPES[route_key](World(api, tenant.world.issuer))
        calls = [Call(m, path, user=user, body=body, headers=extra[0] if extra else {})]
    doc = _document()
    for call in calls:
        assert (call.method, _matches(template, call.path)) == (method, True), call
        # When it is called
        reply = _raw_call(local_stack, call)
        # Then it succeeded, and the response is what the document says
        assert 200 <= reply.status < 400, (call, reply.status, reply.raw[:300])
        assert conformance_problems(doc, method, template, reply) == [], call


# --------------------------------------------------------------------------- the check itself


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return _document()


def test_the_check_finds_a_body_the_schema_refuses(doc: dict[str, Any]) -> None:
    headers = {"x-request-id": "r", "content-type": "application/json"}
    problems = conformance_problems(doc, "GET", "/v1/me", Reply(200, headers, b'{"id": 1}'))
    assert problems
    assert all(p.startswith("body: ") for p in problems)


def test_the_check_finds_undocumented_statuses_media_types_and_missing_headers(doc: dict[str, Any]) -> None:
    json_headers = {"x-request-id": "r", "content-type": "application/json"}
    undocumented = conformance_problems(doc, "GET", "/v1/me", Reply(299, json_headers, b"{}"))
    assert undocumented[0].startswith("status 299 is not documented")
    text = {"x-request-id": "r", "content-type": "text/html"}
    html = conformance_problems(doc, "GET", "/v1/me", Reply(200, text, b"<p>"))
    assert html == ["media type text/html is not documented for 200 (['application/json'])"]
    missing = conformance_problems(doc, "DELETE", "/v1/orgs/{org}", Reply(204, {}, b""))
    assert missing == ["required header X-Request-Id is missing"]
    body_on_204 = conformance_problems(doc, "DELETE", "/v1/orgs/{org}", Reply(204, json_headers, b"{}"))
    assert body_on_204 == ["a body, but the document gives 204 none"]
