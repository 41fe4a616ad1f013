"""The External Secrets Operator recipe of docs/kubernetes.md, checked against the local stack:
the SecretStore's URL and headers filled as ESO fills them (Go-template fields such as
`{{ .remoteRef.key }}` and `{{ .auth.token }}`), the request sent with a service token, and the
answer's `$.value` taken with a JSONPath, for every key the ExternalSecret names."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from support import Api, http_call

pytestmark = pytest.mark.http
RECIPE = Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md"
FIELD = re.compile(r"\{\{\s*(?:print\s+)?((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}")


def documents() -> list[dict[str, Any]]:
    (block,) = re.findall(r"```yaml\n(.*?)```", RECIPE.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [d for d in yaml.safe_load_all(block) if d]


def go_template(text: str, data: dict[str, Any]) -> str:
    """What ESO's template execution makes of the plain field references the recipe uses; any
    other action is refused, so that the recipe cannot rely on what this stand-in does not do."""
    if "{{" in FIELD.sub("", text):
        raise AssertionError(f"a template action this stand-in does not model: {text!r}")

    def field(match: re.Match[str]) -> str:
        value: Any = data
        for part in match.group(1).split(".")[1:]:
            value = value[part]
        return str(value)

    return FIELD.sub(field, text)


def json_path(document: Any, path: str) -> Any:
    """A JSONPath of dotted names from the root (`$.value`), as the recipe uses."""
    assert re.fullmatch(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+", path), path
    for part in path.split(".")[1:]:
        document = document[part]
    return document


def test_the_eso_webhook_recipe_reads_each_key_with_a_service_token(api: Api, local_stack: str) -> None:
    store, external = documents()
    assert (store["kind"], external["kind"]) == ("SecretStore", "ExternalSecret")
    assert external["spec"]["secretStoreRef"]["name"] == store["metadata"]["name"]
    webhook = store["spec"]["provider"]["webhook"]
    keys = [d["remoteRef"]["key"] for d in external["spec"]["data"]]

    owner, org = f"eso-{secrets.token_hex(3)}@example.com", f"eso-{secrets.token_hex(3)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Eso", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "Web"})[0] == 201
    values = {key: f"value of {key} {secrets.token_hex(4)}" for key in keys}
    status, _, _ = api("PATCH", f"/v1/orgs/{org}/projects/web/environments/production/secrets", user=owner,
                       json={"set": values})  # fmt: skip
    assert status == 200
    body = {"name": "k8s", "project": "web", "environment": "production", "permissions": ["read"]}
    status, _, token = api("POST", f"/v1/orgs/{org}/tokens", user=owner, json=body)
    assert status == 201, token
    # The Secret `auth` names (strongroom-token), as ESO reads it: its data by key.
    (auth,) = webhook["secrets"]
    assert auth["secretRef"]["name"] == "strongroom-token"
    secret_data = {auth["name"]: {"token": token["token"]}}

    def fetch(key: str) -> tuple[int, Any]:
        data = {"remoteRef": {"key": key}, **secret_data}
        url = urlsplit(go_template(webhook["url"], data))
        headers = {name: go_template(value, data) for name, value in webhook["headers"].items()}
        assert webhook.get("method", "GET") == "GET"
        answer_status, _, answer = http_call(local_stack, "GET", url.path, headers=headers)
        return answer_status, answer

    for key in keys:
        status, answer = fetch(key)
        assert status == 200, answer
        assert json_path(answer, webhook["result"]["jsonPath"]) == values[key]
    status, answer = fetch("NOT_THERE")
    assert status == 404
    assert token["token"] not in json.dumps(answer)
