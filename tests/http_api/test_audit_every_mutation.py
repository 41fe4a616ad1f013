"""Every mutating route writes exactly one audit event, in the same TransactWriteItems as the change.

The mutating routes are enumerated from template.yaml (the route table of record): a route
added without a recipe here fails `test_every_mutating_route_has_a_recipe`, and each recipe
proves, for one successful call over HTTP, that
- the DynamoDB client made exactly one TransactWriteItems call,
- that transaction holds exactly one audit event item, with the expected action,
- no other write (PutItem/UpdateItem/DeleteItem/BatchWriteItem) happened outside it (what a
  deletion leaves behind is purged by the purge worker, not by the request),
- the stored event carries the response's request id.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from saml_idp import Idp, acs_form
from strongroom import aws, ids
from strongroom_local import LocalStack
from strongroom_local.template import load_template, routes
from support import customer_key, saml_config

pytestmark = pytest.mark.http

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Re-wrapping every data key of an org follows its audited transaction with conditional
# UpdateItems of the wrapped keys (KMS ReEncrypt results) and of the org's migration status.
ROUTES_THAT_REWRAP = {
    "POST /v1/orgs/{org}/encryption/kms/enable",
    "DELETE /v1/orgs/{org}/encryption/kms",
}
# Device login's start is pre-authentication bookkeeping (no actor, no tenant data): plain
# conditional writes of the pending request, no transaction, no event (domain/device.py).
PRE_AUTH_BOOKKEEPING = {"POST /v1/auth/device/start"}
# Issuing the device token claims and then closes the approved request with conditional
# UpdateItems around the audited transaction that creates the token.
# Registering counts the source IP's registrations (one conditional UpdateItem) before its
# audited transaction (domain/accounts.py).
ROUTES_WITH_BOOKKEEPING_UPDATES = {"POST /v1/auth/device/token", "POST /v1/auth/register"}
# Asking for a verification or reset mail is bookkeeping, not a change of the account (domain/
# account_mail.py): a counter UpdateItem and the token's create-only PutItem, no transaction, no event.
MAIL_BOOKKEEPING = {"POST /v1/auth/send-verification", "POST /v1/auth/forgot-password"}
# A rekey writes the next key version's grants ahead (BatchWriteItem, at a version no reader reads
# until its transaction publishes it) and deletes the replaced version's afterwards.
ROUTES_THAT_WRITE_AHEAD = {"POST /v1/orgs/{org}/projects/{project}/environments/{env}/rekey"}
# A discovery report upserts its items (BatchWriteItem, up to 5,000: no one transaction holds them)
# before its audited transaction (domain/discovery.py).
ROUTES_THAT_WRITE_AHEAD.add("POST /v1/agents/{id}/secrets/bulk")
# An agent's heartbeat refreshes its `last_seen_at` (at most once a minute): one conditional
# UpdateItem, no transaction, no event (domain/agents.py).
STATE_REFRESH = {"POST /v1/agents/{id}/heartbeat"}
# Rotating a secret now takes its policy's lease and records each step of the rotation on the policy
# item (conditional PutItems, so that a rotation cut short resumes), before the audited transaction
# that writes the new version and the policy's outcome (domain/rotation.py).
ROUTES_WITH_A_LEASE = {"POST /v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}/rotate"}
# POSTs that change nothing (and so write nothing, audit included).
READ_ONLY_POSTS = {
    "POST /v1/orgs/{org}/encryption/kms/test",
    # a Stripe Checkout or Portal session: Stripe's (here a stand-in's) state, nothing of ours
    "POST /v1/orgs/{org}/billing/checkout",
    "POST /v1/orgs/{org}/billing/portal",
}
# One audited change per environment: N transactions, each with one event of this action.
FAN_OUT = {"POST /v1/orgs/{org}/encryption/rotate": "environment.key_rotated"}


@dataclass
class Recorder:
    """Records the DynamoDB calls the stack's shared client makes (botocore event hooks)."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        # The webhook pipeline's workers (stream → fan-out, queue → dispatcher) run in their own
        # threads and write deliveries at any time: they are not the request under test.
        if threading.current_thread().name.startswith("strongroom-worker-"):
            return
        # The rate limit counts every request (one UpdateItem of the caller's RATE# counter, issue
        # #18): bookkeeping of the request, not a write of the mutation.
        if model.name == "UpdateItem" and str(params.get("Key", {}).get("PK", {}).get("S", "")).startswith("RATE#"):
            return
        with self.lock:
            self.calls.append((model.name, params))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            out, self.calls = self.calls, []
        return out


@pytest.fixture(scope="module")
def recorder(local_stack: str) -> Iterator[Recorder]:
    rec = Recorder()
    client = aws.dynamodb()
    client.meta.events.register("provide-client-params.dynamodb.*", rec)
    yield rec
    client.meta.events.unregister("provide-client-params.dynamodb.*", rec)


def _route_keys() -> set[str]:
    return {f"{r.method} {r.path}" for r in routes(load_template()) if r.method in MUTATING}


def _uid() -> str:
    return secrets.token_hex(4)


class World:
    """Sets up the state each recipe needs (through the API, before recording starts)."""

    def __init__(self, api: Callable[..., tuple[int, dict[str, str], Any]], issuer: Any = None) -> None:
        self.api = api
        self.issuer = issuer  # a workload's OIDC issuer (machine identities)
        self.owner = f"owner-{_uid()}@example.com"
        self.member = f"member-{_uid()}@example.com"
        self.call("GET", "/v1/me", user=self.owner)
        self.call("GET", "/v1/me", user=self.member)

    def call(self, method: str, path: str, *, user: str, body: Any = None, want: int | None = None) -> Any:
        status, _headers, payload = self.api(method, path, user=user, json=body)
        if want is not None:
            assert status == want, (method, path, status, payload)
        return payload

    def org(self) -> dict[str, Any]:
        return self.call("POST", "/v1/orgs", user=self.owner, body={"name": f"Org {_uid()}"}, want=201)

    def project(self, org: dict[str, Any]) -> dict[str, Any]:
        return self.call(
            "POST", f"/v1/orgs/{org['slug']}/projects", user=self.owner, body={"name": f"P {_uid()}"}, want=201
        )

    def invitation(self, org: dict[str, Any], email: str) -> dict[str, Any]:
        return self.call(
            "POST",
            f"/v1/orgs/{org['slug']}/invitations",
            user=self.owner,
            body={"email": email, "role": "developer"},
            want=201,
        )

    def with_member(self) -> tuple[dict[str, Any], str]:
        org = self.org()
        inv = self.invitation(org, self.member)
        self.call("POST", f"/v1/invitations/{inv['token']}/accept", user=self.member, want=200)
        me = self.call("GET", "/v1/me", user=self.member, want=200)
        return org, me["id"]


# route key -> recipe(world) returning (method, path, user, body, expected audit action)
# (method, path, dev user or None, body, audit action[, headers])
Recipe = Callable[[World], tuple[Any, ...]]


def _org_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", "/v1/orgs", w.owner, {"name": f"New {_uid()}"}, "org.created"


def _org_patch(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    return "PATCH", f"/v1/orgs/{org['id']}", w.owner, {"name": "Renamed"}, "org.updated"


def _org_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    w.project(org)
    return "DELETE", f"/v1/orgs/{org['slug']}", w.owner, None, "org.deleted"


def _member_patch(w: World) -> tuple[str, str, str, Any, str]:
    org, user_id = w.with_member()
    return "PATCH", f"/v1/orgs/{org['slug']}/members/{user_id}", w.owner, {"role": "viewer"}, "member.role_changed"


def _member_delete(w: World) -> tuple[str, str, str, Any, str]:
    org, user_id = w.with_member()
    return "DELETE", f"/v1/orgs/{org['slug']}/members/{user_id}", w.owner, None, "member.removed"


def _invite(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    body = {"email": f"x-{_uid()}@example.com", "role": "viewer"}
    return "POST", f"/v1/orgs/{org['slug']}/invitations", w.owner, body, "member.invited"


def _revoke(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    inv = w.invitation(org, f"y-{_uid()}@example.com")
    return "DELETE", f"/v1/orgs/{org['slug']}/invitations/{inv['id']}", w.owner, None, "invitation.revoked"


def _accept(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    inv = w.invitation(org, w.member)
    return "POST", f"/v1/invitations/{inv['token']}/accept", w.member, None, "member.joined"


AUDITOR = {"audit.read": "all", "secrets.read": "non_production"}


def _role(w: World, org: dict[str, Any]) -> dict[str, Any]:
    body = {"name": f"Auditor {_uid()}", "permissions": AUDITOR}
    return w.call("POST", f"/v1/orgs/{org['slug']}/roles", user=w.owner, body=body, want=201)


def _role_create(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    body = {"name": "Auditor", "slug": "auditor", "permissions": AUDITOR}
    return "POST", f"/v1/orgs/{org['slug']}/roles", w.owner, body, "role.created"


def _role_put(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    role = _role(w, org)
    body = {"name": "Auditor", "permissions": {"audit.read": "all"}}
    return "PUT", f"/v1/orgs/{org['slug']}/roles/{role['id']}", w.owner, body, "role.updated"


def _role_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    role = _role(w, org)
    return "DELETE", f"/v1/orgs/{org['slug']}/roles/{role['slug']}", w.owner, None, "role.deleted"


def _me_patch(w: World) -> tuple[str, str, str, Any, str]:
    return "PATCH", "/v1/me", w.owner, {"name": "Owner Person"}, "user.updated"


# End-to-end grants: the server checks only shapes and lengths (it cannot open a grant), so random
# bytes of a suite's lengths stand for keys and grants here (tests/http_api/test_e2e.py does the
# cryptography).
def _b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def _publish_key(w: World, user: str) -> None:
    key = {"suite": "x25519", "public_key": _b64(32), "encrypted_private_key": _b64(64)}
    w.call("PUT", "/v1/me/keys", user=user, body={"keys": [key]}, want=200)


def _client_env(w: World) -> tuple[str, str, str]:
    """A client-encrypted environment of a new org that has a developer: (its path, the member's ID, env ID)."""
    org, member_id = w.with_member()
    p = w.project(org)
    _publish_key(w, w.owner)
    _publish_key(w, w.member)
    env_id = ids.new_id("env")
    body = {
        "name": "Vault",
        "encryption": "client",
        "id": env_id,
        "grant": {"suite": "x25519", "wrapped_key": _b64(80)},
    }
    w.call("POST", f"/v1/orgs/{org['slug']}/projects/{p['slug']}/environments", user=w.owner, body=body, want=201)
    return f"/v1/orgs/{org['slug']}/projects/{p['slug']}/environments/{env_id}", member_id, env_id


def _grant_body(member_id: str, key_version: int = 1) -> dict[str, Any]:
    grant = {"principal": {"type": "user", "id": member_id}, "suite": "x25519", "wrapped_key": _b64(80)}
    return {**grant, "key_version": key_version}


def _keys_put(w: World) -> tuple[str, str, str, Any, str]:
    key = {"suite": "x25519", "public_key": _b64(32), "encrypted_private_key": _b64(64)}
    return "PUT", "/v1/me/keys", w.owner, {"keys": [key]}, "user.keys_updated"


def _grant_create(w: World) -> tuple[str, str, str, Any, str]:
    env, member_id, _ = _client_env(w)
    return "POST", f"{env}/grants", w.owner, _grant_body(member_id), "grant.created"


def _grant_revoke(w: World) -> tuple[str, str, str, Any, str]:
    env, member_id, _ = _client_env(w)
    grant = w.call("POST", f"{env}/grants", user=w.owner, body=_grant_body(member_id), want=201)
    return "DELETE", f"{env}/grants/{grant['id']}", w.owner, None, "grant.revoked"


def _rekey(w: World) -> tuple[str, str, str, Any, str]:
    env, _, _ = _client_env(w)
    owner_id = w.call("GET", "/v1/me", user=w.owner, want=200)["id"]
    w.call("PUT", f"{env}/secrets/API_KEY", user=w.owner, body={"value": _b64(40)}, want=200)
    grant = {**_grant_body(owner_id)}
    grant.pop("key_version")
    body = {"key_version": 2, "grants": [grant], "values": {"API_KEY": _b64(40)}}
    return "POST", f"{env}/rekey", w.owner, body, "environment.rekeyed"


def _project_create(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    return "POST", f"/v1/orgs/{org['slug']}/projects", w.owner, {"name": "Api"}, "project.created"


def _project_patch(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    p = w.project(org)
    return "PATCH", f"/v1/orgs/{org['slug']}/projects/{p['slug']}", w.owner, {"description": "d"}, "project.updated"


def _project_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    p = w.project(org)
    return "DELETE", f"/v1/orgs/{org['slug']}/projects/{p['id']}", w.owner, None, "project.deleted"


def _env_create(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    p = w.project(org)
    path = f"/v1/orgs/{org['slug']}/projects/{p['slug']}/environments"
    return "POST", path, w.owner, {"name": "QA", "parent": "staging"}, "environment.created"


def _env_patch(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    p = w.project(org)
    path = f"/v1/orgs/{org['slug']}/projects/{p['slug']}/environments/staging"
    return "PATCH", path, w.owner, {"name": "Stage"}, "environment.updated"


def _env_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    p = w.project(org)
    path = f"/v1/orgs/{org['slug']}/projects/{p['slug']}/environments/development"
    return "DELETE", path, w.owner, None, "environment.deleted"


E = "/v1/orgs/{org}/projects/{project}/environments/{env}"


def _secret_put(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    w.project(org)
    path = f"/v1/orgs/{org['slug']}/projects/{_last_project(w, org)}/environments/staging/secrets/API_KEY"
    return "PUT", path, w.owner, {"value": "s3cr3t"}, "secret.created"


def _secret_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    w.project(org)
    path = f"/v1/orgs/{org['slug']}/projects/{_last_project(w, org)}/environments/staging/secrets/API_KEY"
    w.call("PUT", path, user=w.owner, body={"value": "s3cr3t"}, want=200)
    return "DELETE", path, w.owner, None, "secret.deleted"


def _staging_with(w: World, values: dict[str, str]) -> tuple[str, str]:
    """A new org and project whose staging holds `values`. Returns (project path, staging path)."""
    org = w.org()
    w.project(org)
    project = f"/v1/orgs/{org['slug']}/projects/{_last_project(w, org)}"
    staging = f"{project}/environments/staging"
    if values:
        w.call("PATCH", f"{staging}/secrets", user=w.owner, body={"set": values}, want=200)
    return project, staging


def _secret_restore(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"API_KEY": "one"})
    w.call("DELETE", f"{staging}/secrets/API_KEY", user=w.owner, want=204)
    return "POST", f"{staging}/secrets/API_KEY/restore", w.owner, None, "secret.restored"


def _secret_rollback(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"API_KEY": "one"})
    w.call("PUT", f"{staging}/secrets/API_KEY", user=w.owner, body={"value": "two"}, want=200)
    return "POST", f"{staging}/secrets/API_KEY/rollback", w.owner, {"version": 1}, "secret.rolled_back"


def _secrets_patch(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"OLD": "x"})
    body = {"set": {"A": "1", "B": "2"}, "delete": ["OLD"]}
    return "PATCH", f"{staging}/secrets", w.owner, body, "secrets.batch_changed"


def _secrets_import(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {})
    body = {"format": "dotenv", "content": "A=1\nB='two'\n"}
    return "POST", f"{staging}/import", w.owner, body, "secrets.imported"


def _environment_restore(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"A": "1"})
    at = w.call("GET", f"{staging}/secrets/A", user=w.owner, want=200)["updated_at"]
    time.sleep(0.005)  # times are kept to the millisecond
    w.call("PUT", f"{staging}/secrets/A", user=w.owner, body={"value": "2"}, want=200)
    return "POST", f"{staging}/restore", w.owner, {"at": at}, "environment.restored"


def _folder_create(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {})
    return "POST", f"{staging}/folders", w.owner, {"path": "/backend/db"}, "folder.created"


def _folder_with_secret(w: World) -> tuple[str, str]:
    _, staging = _staging_with(w, {})
    w.call("PUT", f"{staging}/secrets/DB_URL?path=/backend/db", user=w.owner, body={"value": "pg://x"}, want=200)
    listed = w.call("GET", f"{staging}/folders?path=/backend", user=w.owner, want=200)["data"]
    return staging, str(listed[0]["id"])


def _folder_move(w: World) -> tuple[str, str, str, Any, str]:
    staging, folder = _folder_with_secret(w)
    return "PATCH", f"{staging}/folders/{folder}", w.owner, {"path": "/data/db"}, "folder.moved"


def _folder_delete(w: World) -> tuple[str, str, str, Any, str]:
    staging, folder = _folder_with_secret(w)
    return "DELETE", f"{staging}/folders/{folder}?recursive=true", w.owner, None, "folder.deleted"


def _promote(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {"A": "1"})
    return "POST", f"{project}/promote", w.owner, {"from": "staging", "to": "production"}, "secrets.promoted"


def _rotate_key(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"A": "1"})
    return "POST", f"{staging}/rotate-key", w.owner, None, "environment.key_rotated"


def _template_set(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {})
    return "POST", f"{project}/template", w.owner, {"key": "DB_URL", "pattern": "^postgres://"}, "template.key_set"


def _template_delete(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {})
    w.call("POST", f"{project}/template", user=w.owner, body={"key": "DB_URL"}, want=201)
    return "DELETE", f"{project}/template/DB_URL", w.owner, None, "template.key_deleted"


def _customer_key(w: World, org: str) -> str:
    """A key limited to this org (path `org`) by its key policy, as docs/byok.md has it."""
    return customer_key(w.call("GET", org, user=w.owner, want=200)["id"])


def _kms_enable(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {"A": "1"})
    org = project.split("/projects/")[0]
    return "POST", f"{org}/encryption/kms/enable", w.owner, {"kms_key_arn": _customer_key(w, org)}, "org.kms_enabled"


def _kms_disable(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {"A": "1"})
    org = project.split("/projects/")[0]
    w.call("POST", f"{org}/encryption/kms/enable", user=w.owner, body={"kms_key_arn": _customer_key(w, org)}, want=200)
    return "DELETE", f"{org}/encryption/kms", w.owner, None, "org.kms_disabled"


def _kms_test(w: World) -> tuple[str, str, str, Any, str]:
    org = f"/v1/orgs/{w.org()['slug']}"
    return "POST", f"{org}/encryption/kms/test", w.owner, {"kms_key_arn": _customer_key(w, org)}, ""


def _org_rotate(w: World) -> tuple[str, str, str, Any, str]:
    project, _ = _staging_with(w, {"A": "1"})
    org = project.split("/projects/")[0]
    return "POST", f"{org}/encryption/rotate", w.owner, None, "environment.key_rotated"


def _token_body() -> dict[str, Any]:
    return {"name": "ci", "project": "web", "environment": "staging", "permissions": ["read"]}


def _token_org(w: World) -> str:
    org = w.org()
    w.call("POST", f"/v1/orgs/{org['slug']}/projects", user=w.owner, body={"name": "Web"}, want=201)
    return f"/v1/orgs/{org['slug']}"


def _token_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", f"{_token_org(w)}/tokens", w.owner, _token_body(), "token.created"


def _token_rotate(w: World) -> tuple[str, str, str, Any, str]:
    org = _token_org(w)
    token = w.call("POST", f"{org}/tokens", user=w.owner, body=_token_body(), want=201)
    return "POST", f"{org}/tokens/{token['id']}/rotate", w.owner, None, "token.rotated"


def _token_revoke(w: World) -> tuple[str, str, str, Any, str]:
    org = _token_org(w)
    token = w.call("POST", f"{org}/tokens", user=w.owner, body=_token_body(), want=201)
    return "DELETE", f"{org}/tokens/{token['id']}", w.owner, None, "token.revoked"


def _identity_body(w: World) -> dict[str, Any]:
    rules = {"issuer": w.issuer.base, "audience": "ci", "claims": {"sub": "repo:acme/web:*"}}
    return {"name": "ci", "type": "oidc", "project": "web", "environment": "staging", "rules": rules}


def _identity(w: World) -> tuple[str, dict[str, Any]]:
    org = _token_org(w)
    return org, w.call("POST", f"{org}/identities", user=w.owner, body=_identity_body(w), want=201)


def _identity_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", f"{_token_org(w)}/identities", w.owner, _identity_body(w), "identity.created"


def _identity_replace(w: World) -> tuple[str, str, str, Any, str]:
    org, identity = _identity(w)
    body = {**_identity_body(w), "ttl_seconds": 60}
    return "PUT", f"{org}/identities/{identity['id']}", w.owner, body, "identity.updated"


def _identity_delete(w: World) -> tuple[str, str, str, Any, str]:
    org, identity = _identity(w)
    return "DELETE", f"{org}/identities/{identity['id']}", w.owner, None, "identity.deleted"


def _identity_exchange(w: World) -> tuple[str, None, None, Any, str]:
    _org, identity = _identity(w)
    body = {"identity": identity["id"], "jwt": w.issuer.workload("ci", sub="repo:acme/web:ref:refs/heads/main")}
    return "POST", "/v1/auth/identity/token", None, body, "identity.token_issued"


def _pat_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", "/v1/auth/tokens", w.owner, {"name": "laptop"}, "pat.created"


def _pat_revoke(w: World) -> tuple[str, str, str, Any, str]:
    pat = w.call("POST", "/v1/auth/tokens", user=w.owner, body={"name": "laptop"}, want=201)
    return "DELETE", f"/v1/auth/tokens/{pat['id']}", w.owner, None, "pat.revoked"


def _device_start(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", "/v1/auth/device/start", w.owner, {}, ""


def _device_approve(w: World) -> tuple[str, str, str, Any, str]:
    started = w.call("POST", "/v1/auth/device/start", user=w.owner, body={}, want=200)
    return "POST", "/v1/auth/device/approve", w.owner, {"user_code": started["user_code"]}, "device.approved"


ACCOUNT_PASSWORD = "plover-quartz-umbrella-9"


def _account(w: World) -> tuple[str, str]:
    """A password account, signed in: (email, session token)."""
    email = f"acct-{_uid()}@example.com"
    w.call("POST", "/v1/auth/register", user=None, body={"email": email, "password": ACCOUNT_PASSWORD}, want=201)
    login = w.call("POST", "/v1/auth/login", user=None, body={"email": email, "password": ACCOUNT_PASSWORD}, want=200)
    return email, login["token"]


def _register(_w: World) -> tuple[str, str, str | None, Any, str]:
    body = {"email": f"acct-{_uid()}@example.com", "password": ACCOUNT_PASSWORD}
    return "POST", "/v1/auth/register", None, body, "user.registered"


def _login(w: World) -> tuple[str, str, str | None, Any, str]:
    email, _token = _account(w)
    return "POST", "/v1/auth/login", None, {"email": email, "password": ACCOUNT_PASSWORD}, "user.login"


def _logout(w: World) -> tuple[str, str, str | None, Any, str, dict[str, str]]:
    _email, token = _account(w)
    return "POST", "/v1/auth/logout", None, None, "user.logout", {"Authorization": f"Bearer {token}"}


def _change_password(w: World) -> tuple[str, str, str | None, Any, str, dict[str, str]]:
    _email, token = _account(w)
    body = {"current_password": ACCOUNT_PASSWORD, "new_password": "marble-tundra-violin-83"}
    headers = {"Authorization": f"Bearer {token}"}
    return "POST", "/v1/auth/change-password", None, body, "user.password_changed", headers


def _mailed_token(w: World, email: str, page: str) -> str:
    mails = w.call("GET", f"/_local/mailbox?to={email}", user=None, want=200)["data"]
    found = re.search(rf"/{page}\?token=([A-Za-z0-9_-]+)", mails[-1]["text"])
    assert found
    return found.group(1)


def _send_verification(w: World) -> tuple[str, str, str | None, Any, str, dict[str, str]]:
    _email, token = _account(w)
    return "POST", "/v1/auth/send-verification", None, None, "", {"Authorization": f"Bearer {token}"}


def _verify_email(w: World) -> tuple[str, str, str | None, Any, str]:
    email, token = _account(w)
    w.api("POST", "/v1/auth/send-verification", headers={"Authorization": f"Bearer {token}"})
    return (
        "POST",
        "/v1/auth/verify-email",
        None,
        {"token": _mailed_token(w, email, "verify-email")},
        "user.email_verified",
    )


def _forgot_password(w: World) -> tuple[str, str, str | None, Any, str]:
    email, _token = _account(w)
    return "POST", "/v1/auth/forgot-password", None, {"email": email}, ""


def _reset_password(w: World) -> tuple[str, str, str | None, Any, str]:
    email, _token = _account(w)
    w.call("POST", "/v1/auth/forgot-password", user=None, body={"email": email}, want=202)
    body = {"token": _mailed_token(w, email, "reset-password"), "new_password": "marble-tundra-violin-83"}
    return "POST", "/v1/auth/reset-password", None, body, "user.password_reset"


def _device_token(w: World) -> tuple[str, str, str, Any, str]:
    started = w.call("POST", "/v1/auth/device/start", user=w.owner, body={}, want=200)
    w.call("POST", "/v1/auth/device/approve", user=w.owner, body={"user_code": started["user_code"]}, want=204)
    return "POST", "/v1/auth/device/token", w.owner, {"device_code": started["device_code"]}, "pat.created"


def _totp_now(secret: str, steps: int = 0) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).at(time.time() + 30 * steps))


def _two_factor_setup(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", "/v1/me/2fa/setup", w.owner, None, "user.2fa_setup"


def _two_factor_enable(w: World) -> tuple[str, str, str, Any, str]:
    secret = w.call("POST", "/v1/me/2fa/setup", user=w.owner, want=200)["secret"]
    return "POST", "/v1/me/2fa/enable", w.owner, {"code": _totp_now(secret)}, "user.2fa_enabled"


def _two_factor_disable(w: World) -> tuple[str, str, str, Any, str]:
    secret = w.call("POST", "/v1/me/2fa/setup", user=w.owner, want=200)["secret"]
    w.call("POST", "/v1/me/2fa/enable", user=w.owner, body={"code": _totp_now(secret)}, want=200)
    return "DELETE", "/v1/me/2fa", w.owner, {"code": _totp_now(secret, 1)}, "user.2fa_disabled"


HOOK_URL = "http://127.0.0.1:9/hook"  # dev mode allows loopback receivers; nothing listens


def _webhook(w: World) -> tuple[str, dict[str, Any]]:
    org = w.org()
    body = {"url": HOOK_URL, "events": ["nothing.matches"]}
    return f"/v1/orgs/{org['slug']}", w.call(
        "POST", f"/v1/orgs/{org['slug']}/webhooks", user=w.owner, body=body, want=201
    )


def _webhook_create(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    body = {"url": HOOK_URL, "events": ["secret.*"]}
    return "POST", f"/v1/orgs/{org['slug']}/webhooks", w.owner, body, "webhook.created"


def _webhook_patch(w: World) -> tuple[str, str, str, Any, str]:
    org, hook = _webhook(w)
    return "PATCH", f"{org}/webhooks/{hook['id']}", w.owner, {"description": "x"}, "webhook.updated"


def _webhook_delete(w: World) -> tuple[str, str, str, Any, str]:
    org, hook = _webhook(w)
    return "DELETE", f"{org}/webhooks/{hook['id']}", w.owner, None, "webhook.deleted"


def _webhook_test(w: World) -> tuple[str, str, str, Any, str]:
    org, hook = _webhook(w)
    return "POST", f"{org}/webhooks/{hook['id']}/test", w.owner, None, "webhook.tested"


def _webhook_rotate(w: World) -> tuple[str, str, str, Any, str]:
    org, hook = _webhook(w)
    return "POST", f"{org}/webhooks/{hook['id']}/rotate-secret", w.owner, {}, "webhook.secret_rotated"


def _webhook_redeliver(w: World) -> tuple[str, str, str, Any, str]:
    org, hook = _webhook(w)
    delivery = w.call("POST", f"{org}/webhooks/{hook['id']}/test", user=w.owner, want=201)
    path = f"{org}/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver"
    return "POST", path, w.owner, None, "webhook.redelivered"


def _sso_body() -> dict[str, Any]:
    return {
        "issuer": "https://idp.example.test",
        "client_id": "strongroom",
        "client_secret": "not-shown",
        "domains": [f"sso-{_uid()}.test"],
        "default_role": "developer",
    }


def _sso_put(w: World) -> tuple[str, str, str, Any, str]:
    return "PUT", f"/v1/orgs/{w.org()['slug']}/sso/oidc", w.owner, _sso_body(), "sso.oidc_configured"


def _sso_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = f"/v1/orgs/{w.org()['slug']}"
    w.call("PUT", f"{org}/sso/oidc", user=w.owner, body=_sso_body(), want=200)
    return "DELETE", f"{org}/sso/oidc", w.owner, None, "sso.oidc_removed"


def _saml_put(w: World) -> tuple[str, str, str, Any, str]:
    body = saml_config(f"saml-{_uid()}.test")
    return "PUT", f"/v1/orgs/{w.org()['slug']}/sso/saml", w.owner, body, "sso.saml_configured"


def _saml_delete(w: World) -> tuple[str, str, str, Any, str]:
    org = f"/v1/orgs/{w.org()['slug']}"
    w.call("PUT", f"{org}/sso/saml", user=w.owner, body=saml_config(f"saml-{_uid()}.test"), want=200)
    return "DELETE", f"{org}/sso/saml", w.owner, None, "sso.saml_removed"


def _saml_acs(w: World) -> tuple[str, str, str | None, Any, str, dict[str, str]]:
    """A member's sign-in (their first one, which provisions, ran before): one transaction, the
    session's, with the request consumed, the assertion remembered and `user.login`."""
    org, idp, domain = w.org(), Idp(), f"saml-{_uid()}.test"
    body = {**saml_config(domain), "idp_entity_id": idp.entity_id, "idp_x509_cert": idp.keys.cert_pem}
    w.call("PUT", f"/v1/orgs/{org['slug']}/sso/saml", user=w.owner, body=body, want=200)
    email, form = f"sam-{_uid()}@{domain}", {"Content-Type": "application/x-www-form-urlencoded"}
    first = w.api("POST", "/v1/sso/saml/acs", body=acs_form(w.api, org["id"], idp, email), headers=form)
    assert first[0] == 200, first
    return "POST", "/v1/sso/saml/acs", None, acs_form(w.api, org["id"], idp, email), "user.login", form


def _scim_token_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", f"/v1/orgs/{w.org()['slug']}/scim/tokens", w.owner, {"name": "idp"}, "scim_token.created"


def _scim_token_revoke(w: World) -> tuple[str, str, str, Any, str]:
    org = f"/v1/orgs/{w.org()['slug']}"
    token = w.call("POST", f"{org}/scim/tokens", user=w.owner, body={"name": "idp"}, want=201)
    return "DELETE", f"{org}/scim/tokens/{token['id']}", w.owner, None, "scim_token.revoked"


def _last_project(w: World, org: dict[str, Any]) -> str:
    return str(w.call("GET", f"/v1/orgs/{org['slug']}/projects", user=w.owner, want=200)["data"][-1]["slug"])


RECIPES: dict[str, Recipe] = {
    f"PUT {E}/secrets/{{key}}": _secret_put,
    f"DELETE {E}/secrets/{{key}}": _secret_delete,
    f"POST {E}/secrets/{{key}}/restore": _secret_restore,
    f"POST {E}/secrets/{{key}}/rollback": _secret_rollback,
    f"PATCH {E}/secrets": _secrets_patch,
    f"POST {E}/import": _secrets_import,
    f"POST {E}/restore": _environment_restore,
    f"POST {E}/folders": _folder_create,
    f"PATCH {E}/folders/{{id}}": _folder_move,
    f"DELETE {E}/folders/{{id}}": _folder_delete,
    "POST /v1/orgs/{org}/projects/{project}/promote": _promote,
    f"POST {E}/rotate-key": _rotate_key,
    "POST /v1/orgs/{org}/projects/{project}/template": _template_set,
    "DELETE /v1/orgs/{org}/projects/{project}/template/{key}": _template_delete,
    "POST /v1/orgs/{org}/encryption/kms/enable": _kms_enable,
    "DELETE /v1/orgs/{org}/encryption/kms": _kms_disable,
    "POST /v1/orgs/{org}/encryption/kms/test": _kms_test,
    "POST /v1/orgs/{org}/encryption/rotate": _org_rotate,
    "POST /v1/orgs/{org}/tokens": _token_create,
    "POST /v1/orgs/{org}/tokens/{id}/rotate": _token_rotate,
    "DELETE /v1/orgs/{org}/tokens/{id}": _token_revoke,
    "POST /v1/orgs/{org}/identities": _identity_create,
    "PUT /v1/orgs/{org}/identities/{id}": _identity_replace,
    "DELETE /v1/orgs/{org}/identities/{id}": _identity_delete,
    "POST /v1/auth/identity/token": _identity_exchange,
    "POST /v1/auth/tokens": _pat_create,
    "DELETE /v1/auth/tokens/{id}": _pat_revoke,
    "POST /v1/auth/device/start": _device_start,
    "POST /v1/auth/device/approve": _device_approve,
    "POST /v1/auth/device/token": _device_token,
    "POST /v1/auth/register": _register,
    "POST /v1/auth/login": _login,
    "POST /v1/auth/logout": _logout,
    "POST /v1/auth/change-password": _change_password,
    "POST /v1/auth/send-verification": _send_verification,
    "POST /v1/auth/verify-email": _verify_email,
    "POST /v1/auth/forgot-password": _forgot_password,
    "POST /v1/auth/reset-password": _reset_password,
    "POST /v1/orgs/{org}/webhooks": _webhook_create,
    "PATCH /v1/orgs/{org}/webhooks/{id}": _webhook_patch,
    "DELETE /v1/orgs/{org}/webhooks/{id}": _webhook_delete,
    "POST /v1/orgs/{org}/webhooks/{id}/test": _webhook_test,
    "POST /v1/orgs/{org}/webhooks/{id}/rotate-secret": _webhook_rotate,
    "POST /v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/redeliver": _webhook_redeliver,
    "POST /v1/orgs": _org_create,
    "PATCH /v1/orgs/{org}": _org_patch,
    "DELETE /v1/orgs/{org}": _org_delete,
    "PATCH /v1/orgs/{org}/members/{user}": _member_patch,
    "DELETE /v1/orgs/{org}/members/{user}": _member_delete,
    "POST /v1/orgs/{org}/invitations": _invite,
    "DELETE /v1/orgs/{org}/invitations/{id}": _revoke,
    "POST /v1/invitations/{token}/accept": _accept,
    "PATCH /v1/me": _me_patch,
    "PUT /v1/me/keys": _keys_put,
    f"POST {E}/grants": _grant_create,
    f"DELETE {E}/grants/{{grant}}": _grant_revoke,
    f"POST {E}/rekey": _rekey,
    "POST /v1/me/2fa/setup": _two_factor_setup,
    "POST /v1/me/2fa/enable": _two_factor_enable,
    "DELETE /v1/me/2fa": _two_factor_disable,
    "POST /v1/orgs/{org}/roles": _role_create,
    "PUT /v1/orgs/{org}/roles/{role}": _role_put,
    "DELETE /v1/orgs/{org}/roles/{role}": _role_delete,
    "PUT /v1/orgs/{org}/sso/oidc": _sso_put,
    "DELETE /v1/orgs/{org}/sso/oidc": _sso_delete,
    "PUT /v1/orgs/{org}/sso/saml": _saml_put,
    "DELETE /v1/orgs/{org}/sso/saml": _saml_delete,
    "POST /v1/sso/saml/acs": _saml_acs,
    "POST /v1/orgs/{org}/scim/tokens": _scim_token_create,
    "DELETE /v1/orgs/{org}/scim/tokens/{id}": _scim_token_revoke,
    "POST /v1/orgs/{org}/projects": _project_create,
    "PATCH /v1/orgs/{org}/projects/{project}": _project_patch,
    "DELETE /v1/orgs/{org}/projects/{project}": _project_delete,
    "POST /v1/orgs/{org}/projects/{project}/environments": _env_create,
    "PATCH /v1/orgs/{org}/projects/{project}/environments/{env}": _env_patch,
    "DELETE /v1/orgs/{org}/projects/{project}/environments/{env}": _env_delete,
}


# Governance (the access function): policies and access requests.


def _governed(w: World, *, applies_to: str = "access_requests") -> tuple[str, dict[str, Any]]:
    """An org with a developer (w.member), its project `web`, and a policy of its production."""
    org, _ = w.with_member()
    w.call("POST", f"/v1/orgs/{org['slug']}/projects", user=w.owner, body={"name": "Web"}, want=201)
    body = _policy_body(applies_to)
    policy = w.call("POST", f"/v1/orgs/{org['slug']}/approval-policies", user=w.owner, body=body, want=201)
    return f"/v1/orgs/{org['slug']}", policy


def _policy_body(applies_to: str = "access_requests") -> dict[str, Any]:
    return {
        "name": "Guard",
        "project": "web",
        "environments": ["production"],
        "applies_to": [applies_to],
        "approvers": ["admin"],
    }


def _access_request(w: World, org: str) -> dict[str, Any]:
    body = {
        "project": "web",
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 60,
        "reason": "incident",
    }
    return w.call("POST", f"{org}/access-requests", user=w.member, body=body, want=201)


def _policy_create(w: World) -> tuple[str, str, str, Any, str]:
    org, _ = w.with_member()
    w.call("POST", f"/v1/orgs/{org['slug']}/projects", user=w.owner, body={"name": "Web"}, want=201)
    return "POST", f"/v1/orgs/{org['slug']}/approval-policies", w.owner, _policy_body(), "approval_policy.created"


def _policy_replace(w: World) -> tuple[str, str, str, Any, str]:
    org, policy = _governed(w)
    body = {**_policy_body(), "environments": ["staging"]}
    return "PUT", f"{org}/approval-policies/{policy['id']}", w.owner, body, "approval_policy.updated"


def _policy_delete(w: World) -> tuple[str, str, str, Any, str]:
    org, policy = _governed(w)
    return "DELETE", f"{org}/approval-policies/{policy['id']}", w.owner, None, "approval_policy.deleted"


def _request_create(w: World) -> tuple[str, str, str, Any, str]:
    org, _ = _governed(w)
    body = {
        "project": "web",
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 60,
        "reason": "incident",
    }
    return "POST", f"{org}/access-requests", w.member, body, "access_request.created"


def _request_approve(w: World) -> tuple[str, str, str, Any, str]:
    org, _ = _governed(w)
    req = _access_request(w, org)
    return "POST", f"{org}/access-requests/{req['id']}/approve", w.owner, {}, "access_request.approved"


def _request_reject(w: World) -> tuple[str, str, str, Any, str]:
    org, _ = _governed(w)
    req = _access_request(w, org)
    body = {"reason": "no"}
    return "POST", f"{org}/access-requests/{req['id']}/reject", w.owner, body, "access_request.rejected"


def _request_cancel(w: World) -> tuple[str, str, str, Any, str]:
    org, _ = _governed(w)
    req = _access_request(w, org)
    return "POST", f"{org}/access-requests/{req['id']}/cancel", w.member, None, "access_request.cancelled"


def _change_request(w: World, *, approved: bool = False) -> tuple[str, dict[str, Any]]:
    """A change request the member (made an admin: it writes production) opened by writing to a
    production whose changes the policy covers."""
    org, _ = _governed(w, applies_to="changes")
    env = f"{org}/projects/web/environments/production"
    member = w.call("GET", f"{org}/members", user=w.owner, want=200)["data"]
    dev_id = next(m["user_id"] for m in member if m["email"] == w.member)
    w.call("PATCH", f"{org}/members/{dev_id}", user=w.owner, body={"role": "admin"}, want=200)
    held = w.call("PUT", f"{env}/secrets/DB_URL", user=w.member, body={"value": "postgres://x"}, want=202)
    cr = held["change_request"]
    if approved:
        w.call("POST", f"{org}/change-requests/{cr['id']}/approve", user=w.owner, body={}, want=200)
    return org, cr


def _change_approve(w: World) -> tuple[str, str, str, Any, str]:
    org, cr = _change_request(w)
    return "POST", f"{org}/change-requests/{cr['id']}/approve", w.owner, {}, "change_request.approved"


def _change_reject(w: World) -> tuple[str, str, str, Any, str]:
    org, cr = _change_request(w)
    body = {"reason": "no"}
    return "POST", f"{org}/change-requests/{cr['id']}/reject", w.owner, body, "change_request.rejected"


def _change_comment(w: World) -> tuple[str, str, str, Any, str]:
    org, cr = _change_request(w)
    body = {"body": "why?"}
    return "POST", f"{org}/change-requests/{cr['id']}/comments", w.owner, body, "change_request.commented"


def _change_apply(w: World) -> tuple[str, str, str, Any, str]:
    org, cr = _change_request(w, approved=True)
    return "POST", f"{org}/change-requests/{cr['id']}/apply", w.member, None, "change_request.applied"


PLATFORM_ADMIN = "admin@example.com"  # the local stack's PLATFORM_ADMINS


def _admin_org_patch(w: World) -> tuple[str, str, str, Any, str]:
    w.call("GET", "/v1/me", user=PLATFORM_ADMIN, want=200)  # the admin's user exists before
    body = {"limit_overrides": {"webhooks": 7}}
    return "PATCH", f"/v1/admin/orgs/{w.org()['id']}", PLATFORM_ADMIN, body, "admin.org_updated"


def _admin_plan_put(w: World) -> tuple[str, str, str, Any, str]:
    # the free plan: the local stack's orgs start on enterprise, so no other test meets this
    w.call("GET", "/v1/me", user=PLATFORM_ADMIN, want=200)
    return "PUT", "/v1/admin/plans/free", PLATFORM_ADMIN, {"limits": {"webhooks": 3}}, "admin.plan_updated"


@pytest.fixture(scope="module", autouse=True)
def _stripe_environment(stack: LocalStack) -> Iterator[None]:
    """The billing recipes point the stack at a Stripe stand-in; the stack's own settings after (read
    once the stack has set them)."""
    names = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_PRICES")
    before = {name: os.environ.get(name) for name in names}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _stripe_stand_in() -> None:
    """Stripe's API for this process: the stand-in of tests/http_api/test_billing.py."""
    from http_api.test_billing import serve_fake_stripe

    serve_fake_stripe()


def _billing_checkout(w: World) -> tuple[str, str, str, Any, str]:
    _stripe_stand_in()
    return "POST", f"/v1/orgs/{w.org()['slug']}/billing/checkout", w.owner, {"plan": "team"}, ""


def _billing_portal(w: World) -> tuple[str, str, str, Any, str]:
    from http_api.test_billing import deliver, event

    _stripe_stand_in()
    org = w.org()
    paid = event(
        "checkout.session.completed", {"customer": f"cus_{_uid()}", "metadata": {"org_id": org["id"], "plan": "team"}}
    )
    assert deliver(w.api, paid)[0] == 200
    return "POST", f"/v1/orgs/{org['slug']}/billing/portal", w.owner, None, ""


def _stripe_webhook(w: World) -> tuple[str, str, str | None, Any, str, dict[str, str]]:
    from http_api.test_billing import event, signed

    org = w.org()
    payload, header = signed(event("checkout.session.completed", {"metadata": {"org_id": org["id"], "plan": "team"}}))
    return (
        "POST",
        "/v1/billing/webhook",
        None,
        json.loads(payload),
        "billing.plan_changed",
        {"Stripe-Signature": header},
    )


RECIPES.update(
    {
        "POST /v1/orgs/{org}/billing/checkout": _billing_checkout,
        "POST /v1/orgs/{org}/billing/portal": _billing_portal,
        "POST /v1/billing/webhook": _stripe_webhook,
        "PATCH /v1/admin/orgs/{org}": _admin_org_patch,
        "PUT /v1/admin/plans/{plan}": _admin_plan_put,
        "POST /v1/orgs/{org}/change-requests/{id}/approve": _change_approve,
        "POST /v1/orgs/{org}/change-requests/{id}/reject": _change_reject,
        "POST /v1/orgs/{org}/change-requests/{id}/comments": _change_comment,
        "POST /v1/orgs/{org}/change-requests/{id}/apply": _change_apply,
        "POST /v1/orgs/{org}/approval-policies": _policy_create,
        "PUT /v1/orgs/{org}/approval-policies/{id}": _policy_replace,
        "DELETE /v1/orgs/{org}/approval-policies/{id}": _policy_delete,
        "POST /v1/orgs/{org}/access-requests": _request_create,
        "POST /v1/orgs/{org}/access-requests/{id}/approve": _request_approve,
        "POST /v1/orgs/{org}/access-requests/{id}/reject": _request_reject,
        "POST /v1/orgs/{org}/access-requests/{id}/cancel": _request_cancel,
    }
)


# --------------------------------------------------------------------------- agents


def _agent(w: World) -> tuple[str, dict[str, Any], dict[str, str]]:
    """An org with an agent: (the org's path, the agent as minted, its credential header)."""
    org = f"/v1/orgs/{w.org()['slug']}"
    agent = w.call("POST", f"{org}/agents", user=w.owner, body={"name": "cluster"}, want=201)
    return org, agent, {"Authorization": f"Bearer {agent['agent_secret']}"}


def _agent_job(w: World, job_type: str = "discover") -> tuple[str, dict[str, Any], dict[str, str], dict[str, Any]]:
    org, agent, auth = _agent(w)
    params = {"ref": "web/.env#DB_URL", "recipient_public_key": _b64(32)} if job_type == "read" else {}
    body = {"agent": agent["id"], "type": job_type, "params": params}
    job = w.call("POST", f"{org}/jobs", user=w.owner, body=body, want=201)
    return org, agent, auth, job


def _claimed(w: World, job_type: str = "discover") -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    _org, agent, auth, job = _agent_job(w, job_type)
    status, _h, claimed = w.api("POST", f"/v1/agents/{agent['id']}/jobs/claim", headers=auth)
    assert (status, claimed["id"]) == (200, job["id"])
    return agent, auth, job


def _agent_create(w: World) -> tuple[str, str, str, Any, str]:
    return "POST", f"/v1/orgs/{w.org()['slug']}/agents", w.owner, {"name": "cluster"}, "agent.created"


def _agent_revoke(w: World) -> tuple[str, str, str, Any, str]:
    org, agent, _auth = _agent(w)
    return "POST", f"{org}/agents/{agent['id']}/revoke", w.owner, None, "agent.revoked"


def _job_create(w: World) -> tuple[str, str, str, Any, str]:
    org, agent, _auth = _agent(w)
    return "POST", f"{org}/jobs", w.owner, {"agent": agent["id"], "type": "discover"}, "job.created"


def _agent_public_key(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    _org, agent, auth = _agent(w)
    body = {"public_key": _b64(32)}
    return "PUT", f"/v1/agents/{agent['id']}/public-key", None, body, "agent.public_key_registered", auth


def _agent_heartbeat(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    _org, agent, auth = _agent(w)
    return "POST", f"/v1/agents/{agent['id']}/heartbeat", None, None, "", auth


def _job_claim(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    _org, agent, auth, _job = _agent_job(w)
    return "POST", f"/v1/agents/{agent['id']}/jobs/claim", None, None, "job.claimed", auth


def _job_complete(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    agent, auth, job = _claimed(w)
    path = f"/v1/agents/{agent['id']}/jobs/{job['id']}/complete"
    return "POST", path, None, {"status": "succeeded"}, "job.succeeded", auth


def _agent_dek(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    _org, agent, auth = _agent(w)
    return "POST", f"/v1/agents/{agent['id']}/dek", None, None, "agent.data_key_issued", auth


def _wrap_create(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    agent, auth, job = _claimed(w, "read")
    body = {"job": job["id"], "sealed": _b64(80)}
    return "POST", f"/v1/agents/{agent['id']}/wraps", None, body, "job.wrap_created", auth


def _discovery_report(w: World) -> tuple[str, str, None, Any, str, dict[str, str]]:
    _org, agent, auth = _agent(w)
    item = {"ref": "web/.env#DB_URL", "provider": "file", "cluster_name": "laptop", "fingerprint": "hmac:abcdef012345"}
    return "POST", f"/v1/agents/{agent['id']}/secrets/bulk", None, {"secrets": [item]}, "discovery.reported", auth


def _rotation_put(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"API_KEY": "one"})
    body = {"interval_days": 30, "rotator": {"type": "random"}}
    return "PUT", f"{staging}/secrets/API_KEY/rotation", w.owner, body, "secret.rotation_configured"


def _rotation_delete(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"API_KEY": "one"})
    body = {"interval_days": 30, "rotator": {"type": "random"}}
    w.call("PUT", f"{staging}/secrets/API_KEY/rotation", user=w.owner, body=body, want=200)
    return "DELETE", f"{staging}/secrets/API_KEY/rotation", w.owner, None, "secret.rotation_removed"


def _rotate_now(w: World) -> tuple[str, str, str, Any, str]:
    _, staging = _staging_with(w, {"API_KEY": "one"})
    body = {"interval_days": 30, "rotator": {"type": "random"}}
    w.call("PUT", f"{staging}/secrets/API_KEY/rotation", user=w.owner, body=body, want=200)
    return "POST", f"{staging}/secrets/API_KEY/rotate", w.owner, None, "secret.rotated"


RECIPES.update(
    {
        f"PUT {E}/secrets/{{key}}/rotation": _rotation_put,
        f"DELETE {E}/secrets/{{key}}/rotation": _rotation_delete,
        f"POST {E}/secrets/{{key}}/rotate": _rotate_now,
    }
)


RECIPES.update(
    {
        "POST /v1/orgs/{org}/agents": _agent_create,
        "POST /v1/orgs/{org}/agents/{id}/revoke": _agent_revoke,
        "POST /v1/orgs/{org}/jobs": _job_create,
        "PUT /v1/agents/{id}/public-key": _agent_public_key,
        "POST /v1/agents/{id}/heartbeat": _agent_heartbeat,
        "POST /v1/agents/{id}/jobs/claim": _job_claim,
        "POST /v1/agents/{id}/jobs/{job}/complete": _job_complete,
        "POST /v1/agents/{id}/dek": _agent_dek,
        "POST /v1/agents/{id}/wraps": _wrap_create,
        "POST /v1/agents/{id}/secrets/bulk": _discovery_report,
    }
)


def _shared_secret(w: World) -> str:
    """An org holding the shared secret SENTRY_DSN; its shared-secrets path."""
    path = f"/v1/orgs/{w.org()['slug']}/shared-secrets"
    w.call("POST", path, user=w.owner, body={"key": "SENTRY_DSN", "value": "https://k@sentry/1"}, want=201)
    return path


def _shared_create(w: World) -> tuple[str, str, str, Any, str]:
    path = f"/v1/orgs/{w.org()['slug']}/shared-secrets"
    return "POST", path, w.owner, {"key": "SENTRY_DSN", "value": "https://k@sentry/1"}, "shared_secret.created"


def _shared_put(w: World) -> tuple[str, str, str, Any, str]:
    return "PUT", f"{_shared_secret(w)}/SENTRY_DSN", w.owner, {"value": "https://k@sentry/2"}, "shared_secret.updated"


def _shared_delete(w: World) -> tuple[str, str, str, Any, str]:
    return "DELETE", f"{_shared_secret(w)}/SENTRY_DSN", w.owner, None, "shared_secret.deleted"


# --------------------------------------------------------------------------- integrations


_INTEGRATION_CONFIG = {
    "role_arn": "arn:aws:iam::111122223333:role/strongroom-sync",
    "external_id": "strongroom-audit",
    "region": "eu-west-1",
    "name": "app/staging",
}


def _integration_body(project: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "aws_secrets_manager",
        "project": project["slug"],
        "environment": "staging",
        "config": _INTEGRATION_CONFIG,
    }


def _integration(w: World) -> tuple[str, dict[str, Any]]:
    org = w.org()
    body = _integration_body(w.project(org))
    made = w.call("POST", f"/v1/orgs/{org['slug']}/integrations", user=w.owner, body=body, want=201)
    return f"/v1/orgs/{org['slug']}/integrations/{made['id']}", made


def _integration_create(w: World) -> tuple[str, str, str, Any, str]:
    org = w.org()
    body = _integration_body(w.project(org))
    return "POST", f"/v1/orgs/{org['slug']}/integrations", w.owner, body, "integration.created"


def _integration_delete(w: World) -> tuple[str, str, str, Any, str]:
    path, _made = _integration(w)
    return "DELETE", path, w.owner, None, "integration.deleted"


def _integration_sync(w: World) -> tuple[str, str, str, Any, str]:
    path, _made = _integration(w)
    return "POST", f"{path}/sync", w.owner, None, "integration.sync_requested"


RECIPES.update(
    {
        "POST /v1/orgs/{org}/shared-secrets": _shared_create,
        "PUT /v1/orgs/{org}/shared-secrets/{key}": _shared_put,
        "DELETE /v1/orgs/{org}/shared-secrets/{key}": _shared_delete,
        "POST /v1/orgs/{org}/integrations": _integration_create,
        "DELETE /v1/orgs/{org}/integrations/{id}": _integration_delete,
        "POST /v1/orgs/{org}/integrations/{id}/sync": _integration_sync,
    }
)


def test_every_mutating_route_has_a_recipe() -> None:
    missing = sorted(_route_keys() - set(RECIPES))
    stale = sorted(set(RECIPES) - _route_keys())
    assert not missing, f"mutating routes without an audit recipe: {missing}"
    assert not stale, f"recipes for routes that no longer exist: {stale}"


def _audit_items(transact_params: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for op in transact_params["TransactItems"]:
        put = op.get("Put")
        if put and put["Item"].get("entity", {}).get("S") == "audit_event":
            found.append(put["Item"])
    return found


@pytest.mark.parametrize("route_key", sorted(RECIPES))
def test_mutation_writes_exactly_one_audit_event_in_its_transaction(
    route_key: str, api: Callable[..., tuple[int, dict[str, str], Any]], recorder: Recorder, workload_issuer: Any
) -> None:
    # Given the state the route needs
    world = World(api, workload_issuer)
    method, path, user, body, action, *extra = RECIPES[route_key](world)
    recorder.take()

    # When the mutation is called once (a recipe's sixth part: the headers it needs, e.g. a session)
    raw = body if isinstance(body, bytes) else None  # a form's body (SAML's ACS), else JSON
    status, headers, payload = api(
        method, path, user=user, json=None if raw else body, body=raw, headers=extra[0] if extra else None
    )
    calls = recorder.take()

    # Then it succeeded with one transaction holding one audit event of the right action
    assert 200 <= status < 300, (status, payload)
    transactions = [params for name, params in calls if name == "TransactWriteItems"]
    writes = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
    if route_key in READ_ONLY_POSTS:
        assert [name for name, _ in calls if name in writes] == []
        return
    if route_key in MAIL_BOOKKEEPING:
        assert transactions == []
        assert {name for name, _ in calls if name in writes} == {"PutItem", "UpdateItem"}
        return
    if route_key in PRE_AUTH_BOOKKEEPING:
        assert {name for name, _ in calls if name in writes} == {"PutItem"}
        return
    if route_key in STATE_REFRESH:
        assert [name for name, _ in calls if name in writes] == ["UpdateItem"]
        return
    if route_key in FAN_OUT:
        assert len(transactions) == 3  # the project's three environments
        assert [[e["action"]["S"] for e in _audit_items(t)] for t in transactions] == [[action]] * 3
        assert [name for name, _ in calls if name in writes - {"TransactWriteItems"}] == []
        return
    assert len(transactions) == 1, [name for name, _ in calls]
    events = _audit_items(transactions[0])
    assert len(events) == 1
    assert events[0]["action"]["S"] == action
    assert events[0]["request_id"]["S"] == headers["x-request-id"]
    # and nothing was written outside that transaction
    single_writes = [name for name, _ in calls if name in {"PutItem", "UpdateItem", "DeleteItem"}]
    if route_key in ROUTES_WITH_BOOKKEEPING_UPDATES:
        assert set(single_writes) == {"UpdateItem"}
    elif route_key in ROUTES_WITH_A_LEASE:
        assert set(single_writes) == {"PutItem"}
        assert [name for name, _ in calls if name in writes][-1] == "TransactWriteItems"
    elif route_key in ROUTES_THAT_REWRAP:
        assert set(single_writes) == {"UpdateItem"}
        assert calls.index(next(c for c in calls if c[0] == "UpdateItem")) > calls.index(
            next(c for c in calls if c[0] == "TransactWriteItems")
        )
    else:
        assert single_writes == []
    # not even the purge of a deletion, which the purge worker does after the transaction
    if route_key in ROUTES_THAT_WRITE_AHEAD:
        batches = [i for i, (name, _) in enumerate(calls) if name == "BatchWriteItem"]
        published = calls.index(next(c for c in calls if c[0] == "TransactWriteItems"))
        assert batches
        assert batches[0] < published
        return
    assert [name for name, _ in calls if name == "BatchWriteItem"] == []


def test_failed_mutation_writes_no_audit_event(
    api: Callable[..., tuple[int, dict[str, str], Any]], recorder: Recorder, stack: LocalStack
) -> None:
    # Given an org whose slug is taken
    world = World(api)
    org = world.org()
    recorder.take()
    # When another org claims the same slug
    status, _headers, payload = api("POST", "/v1/orgs", user=world.member, json={"name": "X", "slug": org["slug"]})
    calls = recorder.take()
    # Then it is a 409 and the one attempted transaction (with its audit event) was cancelled whole
    assert status == 409, payload
    assert payload["error"]["code"] == "slug_taken"
    assert [name for name, _ in calls if name in {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}] == []
    transactions = [params for name, params in calls if name == "TransactWriteItems"]
    assert len(transactions) == 1
    assert len(_audit_items(transactions[0])) == 1  # it was attempted with its audit event…
    stored = aws.dynamodb().query(
        TableName=stack.resources.refs["Table"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{org['id']}"}},
    )["Items"]
    events = [i for i in stored if i["entity"]["S"] == "audit_event"]
    assert [i["action"]["S"] for i in events] == ["org.created"]  # …and nothing of it landed
