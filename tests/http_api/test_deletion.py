"""Deleting an org or a project removes everything under it: no orphans, one audit event."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from strongroom_local import LocalStack
from support import Api, scan_all

pytestmark = pytest.mark.http


def _mentioning(stack: LocalStack, *needles: str) -> list[dict[str, Any]]:
    """Items that mention any of the ids, other than the audit trail and its chain head (kept by design)."""
    out = []
    for item in scan_all(stack):
        if item.get("entity", {}).get("S") in {"audit_event", "audit_head"}:
            continue
        text = json.dumps(item, default=str)
        if any(n in text for n in needles):
            out.append(item)
    return out


def _populated_org(api: Api, owner: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    slug = f"del-{secrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": "Doomed", "slug": slug})
    assert status == 201
    status, _, project = api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})
    assert status == 201
    status, _, _env = api(
        "POST",
        f"/v1/orgs/{slug}/projects/web/environments",
        user=owner,
        json={"name": "Preview", "parent": "development"},
    )
    assert status == 201
    member = f"member-{secrets.token_hex(4)}@example.com"
    status, _, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": member, "role": "admin"})
    assert status == 201
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=member)[0] == 200
    status, _, pending = api(
        "POST", f"/v1/orgs/{slug}/invitations", user=owner, json={"email": "later@example.com", "role": "viewer"}
    )
    assert status == 201
    # secrets (data keys, snapshots, versions), a template and a service token under it too
    base = f"/v1/orgs/{slug}/projects/web"
    assert api("PUT", f"{base}/environments/staging/secrets/A", user=owner, json={"value": "a"})[0] == 200
    assert api("POST", f"{base}/template", user=owner, json={"key": "A"})[0] == 201
    token = {"name": "ci", "project": "web", "environment": "staging"}
    assert api("POST", f"/v1/orgs/{slug}/tokens", user=owner, json=token)[0] == 201
    return org, project, pending["token"]


def test_deleting_an_org_leaves_no_orphans(api: Api, stack: LocalStack) -> None:
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    org, project, pending_token = _populated_org(api, owner)
    env_ids = [e["id"] for e in project["environments"]]
    assert _mentioning(stack, org["id"])  # the org exists with its children

    status, _, _ = api("DELETE", f"/v1/orgs/{org['slug']}", user=owner)

    assert status == 204
    assert _mentioning(stack, org["id"], project["id"], *env_ids) == []
    assert api("GET", f"/v1/orgs/{org['id']}", user=owner)[0] == 404
    assert org["id"] not in json.dumps(api("GET", "/v1/orgs", user=owner)[2])
    # the invitation that was still pending can no longer be accepted
    assert api("POST", f"/v1/invitations/{pending_token}/accept", user="later@example.com")[0] == 404
    # and the slug is free again
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Reborn", "slug": org["slug"]})[0] == 201


def test_deleting_a_project_leaves_no_orphans_and_keeps_the_org(api: Api, stack: LocalStack) -> None:
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    org, project, _ = _populated_org(api, owner)
    env_ids = [e["id"] for e in project["environments"]]

    status, _, _ = api("DELETE", f"/v1/orgs/{org['slug']}/projects/{project['id']}", user=owner)

    assert status == 204
    assert _mentioning(stack, project["id"], *env_ids) == []
    assert api("GET", f"/v1/orgs/{org['slug']}", user=owner)[0] == 200
    assert api("GET", f"/v1/orgs/{org['slug']}/projects", user=owner)[2]["data"] == []
