"""The Python SDK (sdk/, `strongroom_sdk`) against the local server: a service token reads its
environment, the second read is one 304; a revoked token is a typed error; a machine identity
signs in with its JWT file and is renewed when its token dies; a background refresh sees a change."""

from __future__ import annotations

import secrets as pysecrets
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Issuer

from strongroom_sdk import Client, Identity, Unauthorized
from support import Api, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def org(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("sdk"), f"sdk-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "SDK", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    staging = f"/v1/orgs/{slug}/projects/web/environments/staging"
    assert (
        api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"DB_URL": "postgres://sdk", "A": "1"}})[0] == 200
    )
    return {"owner": owner, "path": f"/v1/orgs/{slug}", "staging": staging}


def test_a_token_reads_values_then_one_304_and_a_revoked_token_is_a_typed_error(
    api: Api, local_stack: str, org: dict[str, Any]
) -> None:
    body = {"name": "sdk", "project": "web", "environment": "staging", "permissions": ["read"]}
    status, _, token = api("POST", f"{org['path']}/tokens", user=org["owner"], json=body)
    assert status == 201, token
    client = Client(local_stack, token=token["token"])
    assert client.secrets() == {"DB_URL": "postgres://sdk", "A": "1"}
    assert client.get("DB_URL") == "postgres://sdk"  # the second read: answered by a 304
    assert (client.requests, client.not_modified) == (2, 1)
    assert api("DELETE", f"{org['path']}/tokens/{token['id']}", user=org["owner"])[0] == 204
    with pytest.raises(Unauthorized) as refused:
        client.secrets()
    assert refused.value.status == 401


def test_a_machine_identity_signs_in_and_is_renewed(
    api: Api, local_stack: str, org: dict[str, Any], workload_issuer: Issuer, tmp_path: Path
) -> None:
    rules = {"issuer": workload_issuer.base, "audience": "sdk", "claims": {"sub": "repo:acme/web:*"}}
    body = {"name": "pod", "type": "oidc", "project": "web", "environment": "staging", "rules": rules}
    status, _, identity = api("POST", f"{org['path']}/identities", user=org["owner"], json=body)
    assert status == 201, identity
    token_file = tmp_path / "token"
    token_file.write_text(workload_issuer.workload("sdk"))
    with Client(local_stack, identity=Identity(identity["id"], jwt_file=token_file), refresh_interval=0.2) as client:
        assert client.get("A") == "1"
        # the identity is replaced (its tokens die) and the platform rewrites the file: renewed
        assert api("PUT", f"{org['path']}/identities/{identity['id']}", user=org["owner"], json=body)[0] == 200
        token_file.write_text(workload_issuer.workload("sdk"))
        assert api("PUT", f"{org['staging']}/secrets/A", user=org["owner"], json={"value": "2"})[0] == 200
        deadline = time.monotonic() + 10
        while client.get("A") != "2" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("A") == "2", client.last_error
    # a JWT given once cannot be proved twice: a second client with it is refused, typed
    jwt = workload_issuer.workload("sdk")
    assert Client(local_stack, identity=Identity(identity["id"], jwt=jwt)).get("A") == "2"
    with pytest.raises(Unauthorized):
        Client(local_stack, identity=Identity(identity["id"], jwt=jwt)).secrets()
