"""SCIM 2.0 over HTTP: the real peer (`scim2 test` of scim2-cli) passes every check it runs against
the local stack; a provisioned user is a member, a deactivated or deleted one is not (and its own
credentials no longer reach the org); another org's token sees none of it; a revoked token is 401;
a SCIM token is useless on /v1 and other credentials on /scim/v2; no token in audit or responses."""

from __future__ import annotations

import json
import os
import re
import secrets as pysecrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import Api, unique_email

pytestmark = pytest.mark.http

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _scim2() -> str:
    found = shutil.which("scim2", path=str(Path(sys.executable).parent)) or shutil.which("scim2")
    assert found, "scim2-cli (requirements-dev.txt) is not installed"
    return found


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"scim-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Scim", "slug": slug})[0] == 201
    status, _, created = api("POST", f"/v1/orgs/{slug}/scim/tokens", user=owner, json={"name": "okta"})
    assert status == 201, created
    return {"owner": owner, "slug": slug, "path": f"/v1/orgs/{slug}", "token": created["token"], "id": created["id"]}


def scim(api: Api, method: str, path: str, token: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    status, headers, raw = api(
        method,
        f"/scim/v2{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM},
        body=json.dumps(body).encode() if body is not None else None,
    )
    if isinstance(raw, str) and raw:
        raw = json.loads(raw)
    return status, headers, raw


def new_user(email: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": True}], **extra}


def test_scim2_cli_passes_every_check_it_runs(local_stack: str, org: dict[str, Any]) -> None:
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {org['token']}"}
    run = subprocess.run(
        [_scim2(), "--url", f"{local_stack}/scim/v2", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if re.match(r"^[A-Z_]+ ", line)]
    assert lines, run.stdout + run.stderr
    bad = [line for line in lines if not line.startswith("SUCCESS ")]
    print(run.stdout)
    assert bad == [], run.stdout
    assert run.returncode == 0, run.stdout + run.stderr
