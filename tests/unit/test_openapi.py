"""docs/openapi.json: fresh, the same route table as template.yaml, errors in the envelope, typed 2xx.

The freshness check runs `scripts/openapi.py --check` in a subprocess (it imports every function
with dummy configuration, which must not leak into this test session); the other tests read the
committed document.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "openapi.json"
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("strongroom_openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


openapi = _generator()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(DOC.read_text(encoding="utf-8"))


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def test_committed_document_is_what_the_code_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    assert doc["info"]["title"] == "Strongroom API"


def test_every_template_route_is_exactly_one_operation(doc: dict[str, Any]) -> None:
    functions = openapi.api_functions()
    template_routes = [route for fn in functions for route in fn.routes]
    assert len(template_routes) == len(set(template_routes))
    assert openapi.route_drift(doc, functions) == []
    assert len(_operations(doc)) == len(template_routes)


def test_route_drift_is_reported_both_ways(doc: dict[str, Any]) -> None:
    functions = openapi.api_functions()
    trimmed = json.loads(json.dumps(doc))
    del trimmed["paths"]["/v1/orgs"]["post"]
    trimmed["paths"]["/v1/not-in-template"] = {"get": {}}
    problems = openapi.route_drift(trimmed, functions)
    assert "in template.yaml, no operation: POST /v1/orgs" in problems
    assert "an operation, not in template.yaml: GET /v1/not-in-template" in problems


def test_every_event_is_named_for_its_route_function(doc: dict[str, Any]) -> None:
    assert openapi.event_names(doc, openapi.api_functions()) == []


def test_an_event_named_otherwise_is_reported_with_the_name_it_needs(doc: dict[str, Any]) -> None:
    functions = openapi.api_functions()
    orgs = next(fn for fn in functions if fn.logical_id == "OrgsFunction")
    renamed = tuple(("GetOrgs" if (m, p) == ("get", "/v1/orgs") else e, m, p) for e, m, p in orgs.events)
    functions = [dataclasses.replace(fn, events=renamed) if fn is orgs else fn for fn in functions]
    assert openapi.event_names(doc, functions) == [
        "template.yaml: event GetOrgs of OrgsFunction (GET /v1/orgs) is served by list_orgs: name it ListOrgs"
    ]


def test_camel_case_joins_the_words_of_a_function_name() -> None:
    assert openapi.camel_case("list_tokens") == "ListTokens"
    assert openapi.camel_case("health") == "Health"


def test_operation_ids_are_unique_and_short(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    assert all("_v1_" not in op_id for op_id in ids), "Powertools' path suffix should be stripped"


def _is_envelope(response: dict[str, Any]) -> bool:
    return response.get("content", {}).get("application/json", {}).get("schema") == ENVELOPE


def test_every_error_response_is_the_envelope(doc: dict[str, Any]) -> None:
    wrong = []
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if (method, path, status) == ("get", "/health", "503"):
                # /health answers 503 with its own body (which dependency failed), by design.
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
                continue
            if (status == "default" or status[0] in "45") and not _is_envelope(response):
                wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []


def test_every_operation_documents_the_errors_it_can_produce(doc: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(doc):
        expected = {"default", "500", "503"}
        if op.get("security") != []:
            expected |= {"400", "401", "403", "404", "429"}
        if method in {"post", "put", "patch", "delete"} and op.get("security") != []:
            expected |= {"409", "422"}
        if "requestBody" in op:
            expected |= {"413", "415"}
        if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in op.get("parameters", [])):
            expected.add("412")
        if expected - op["responses"].keys():
            missing.append(f"{method.upper()} {path}: {sorted(expected - op['responses'].keys())}")
    assert missing == []


def test_every_2xx_has_a_schema_and_204_has_no_body(doc: dict[str, Any]) -> None:
    problems = []
    for method, path, op in _operations(doc):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        redirects = [s for s in op["responses"] if s in {"302", "303"}]
        if not successes and not redirects:
            problems.append(f"{method.upper()} {path}: no 2xx (or redirect) response")
        for status, response in successes.items():
            if status == "204":
                if "content" in response:
                    problems.append(f"{method.upper()} {path} 204 declares a body")
                continue
            content = response.get("content", {})
            # JSON, or a declared other type (CSV export, the PEM public key) with its schema
            schemas = [c.get("schema") for c in content.values()] if "application/json" not in content else []
            schema = content.get("application/json", {}).get("schema") or (schemas and all(schemas))
            if not schema:
                problems.append(f"{method.upper()} {path} {status} has no JSON schema")
    assert problems == []


def test_every_response_documents_the_request_id_header(doc: dict[str, Any]) -> None:
    assert doc["components"]["headers"]["RequestId"]["required"] is True
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            assert response["headers"]["X-Request-Id"] == {"$ref": "#/components/headers/RequestId"}, (
                f"{method.upper()} {path} {status}"
            )


def test_security(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["devUser"] == {
        **schemes["devUser"],
        "type": "apiKey",
        "in": "header",
        "name": "X-Strongroom-Dev-User",
    }
    assert doc["security"] == [{"bearerAuth": []}, {"devUser": []}]
    public = sorted((m, p) for m, p, op in _operations(doc) if op.get("security") == [])
    assert public == [
        ("get", "/"),
        ("get", "/console/{asset}"),
        ("get", "/device"),
        ("get", "/health"),
        ("get", "/reset-password"),
        ("get", "/v1/sso/by-domain"),
        ("get", "/v1/sso/oidc/authorize"),
        ("get", "/v1/sso/oidc/callback"),
        ("get", "/v1/sso/saml/authorize"),
        ("get", "/v1/sso/saml/metadata"),
        ("get", "/verify-email"),
        ("post", "/v1/auth/device/start"),
        ("post", "/v1/auth/device/token"),
        ("post", "/v1/auth/forgot-password"),
        ("post", "/v1/auth/identity/token"),
        ("post", "/v1/auth/login"),
        ("post", "/v1/auth/register"),
        ("post", "/v1/auth/reset-password"),
        ("post", "/v1/auth/verify-email"),
        ("post", "/v1/sso/saml/acs"),
    ]


def test_links_name_existing_operations_and_parameters(doc: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in _operations(doc)}
    count = 0
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            for name, link in response.get("links", {}).items():
                count += 1
                target = by_id.get(link["operationId"])
                assert target is not None, f"{method.upper()} {path} {status} {name}"
                names = {p["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, f"{method.upper()} {path} {status} {name}"
                for expression in link["parameters"].values():
                    assert expression.startswith(("$response.body#/", "$request.path.")), expression
    assert count >= 10


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = set(openapi._refs(doc))
    assert refs
    assert [ref for ref in sorted(refs) if openapi._resolve(doc, ref) is None] == []


def test_no_powertools_validation_shapes(doc: dict[str, Any]) -> None:
    assert not {"HTTPValidationError", "ValidationError"} & doc["components"]["schemas"].keys()
    text = DOC.read_text(encoding="utf-8")
    assert "HTTPValidationError" not in text


def test_check_summarizes_what_changed() -> None:
    committed = DOC.read_text(encoding="utf-8")
    stale = json.loads(committed)
    stale["paths"]["/v1/orgs"]["get"]["summary"] = "old"
    del stale["components"]["schemas"]["Org"]
    lines = openapi.summarize(openapi.render(stale), committed)
    assert "  ~ operation GET /v1/orgs: summary" in lines
    assert "  + schema Org" in lines
    assert any(line.startswith("  first lines of the diff") for line in lines)


def test_the_document_marks_exactly_the_layers_public_routes_as_public(doc: dict[str, Any]) -> None:
    from strongroom.http.app import PUBLIC_ROUTES

    assert {f"{m.upper()} {p}" for m, p in openapi.PUBLIC} == set(PUBLIC_ROUTES)
    public = {
        f"{m.upper()} {p}" for p, item in doc["paths"].items() for m, op in item.items() if op.get("security") == []
    }
    assert public == set(PUBLIC_ROUTES)
