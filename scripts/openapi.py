"""Generate the one OpenAPI document of the API from the functions' resolvers.

    python scripts/openapi.py --write   # writes docs/openapi.json
    python scripts/openapi.py --check   # fails if docs/openapi.json is stale, or if template.yaml
                                        # and the resolvers disagree on the route table

Each function's Powertools resolver describes its own routes; this merges them, replaces
Powertools' 422 validation shape with Strongroom's error envelope on every operation, adds the
security schemes and a few links for stateful fuzzing.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "openapi.json"
sys.path[:0] = [str(ROOT / "layers" / "strongroom"), str(ROOT / "local")]

from strongroom_local.template import functions, load_template, routes  # noqa: E402

ERROR_STATUSES = {
    "400": "The request is not valid (details.fields names each field)",
    "401": "Missing or invalid credentials",
    "403": "The caller's role lacks the permission",
    "404": "Not found, or not visible to the caller",
    "409": "Conflict with the current state",
    "413": "The request body is too large",
    "422": "Well-formed but unprocessable (e.g. Idempotency-Key reused with another body)",
    "429": "Rate limited or the data store is busy; see Retry-After",
    "500": "Internal error (generic message; details are never returned)",
    "503": "A dependency (DynamoDB, KMS) is unavailable",
}
PUBLIC = {("get", "/health")}
POWERTOOLS_SCHEMAS = {"HTTPValidationError", "ValidationError", "ResponseValidationError"}
# (method, path, status) -> {link name: (operationId target, {param: runtime expression})}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("post", "/v1/orgs", "201"): {
        "GetOrg": ("get_org", {"org": "$response.body#/id"}),
        "PatchOrg": ("patch_org", {"org": "$response.body#/id"}),
        "ListProjects": ("list_projects", {"org": "$response.body#/id"}),
        "CreateProject": ("create_project", {"org": "$response.body#/id"}),
        "CreateInvitation": ("create_invitation", {"org": "$response.body#/id"}),
        "ListMembers": ("list_members", {"org": "$response.body#/id"}),
    },
    ("post", "/v1/orgs/{org}/projects", "201"): {
        "GetProject": ("get_project", {"org": "$request.path.org", "project": "$response.body#/id"}),
        "ListEnvironments": ("list_environments", {"org": "$request.path.org", "project": "$response.body#/id"}),
        "CreateEnvironment": ("create_environment", {"org": "$request.path.org", "project": "$response.body#/id"}),
    },
    ("post", "/v1/orgs/{org}/invitations", "201"): {
        "RevokeInvitation": ("revoke_invitation", {"org": "$request.path.org", "id": "$response.body#/id"}),
    },
    ("get", "/v1/orgs/{org}/members", "200"): {
        "PatchMember": ("patch_member", {"org": "$request.path.org", "user": "$response.body#/data/0/user_id"}),
        "RemoveMember": ("delete_member", {"org": "$request.path.org", "user": "$response.body#/data/0/user_id"}),
    },
    ("get", "/v1/orgs/{org}/projects/{project}/environments", "200"): {
        "PatchEnvironment": (
            "patch_environment",
            {"org": "$request.path.org", "project": "$request.path.project", "env": "$response.body#/data/0/id"},
        ),
        "DeleteEnvironment": (
            "delete_environment",
            {"org": "$request.path.org", "project": "$request.path.project", "env": "$response.body#/data/0/id"},
        ),
    },
    ("post", "/v1/orgs/{org}/projects/{project}/environments", "201"): {
        "GetEnvironment": (
            "get_environment",
            {"org": "$request.path.org", "project": "$request.path.project", "env": "$response.body#/id"},
        ),
    },
}


def _dummy_environment() -> None:
    """Importing a function must not need AWS; config is read per invocation, not at import."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


def function_schemas() -> dict[str, dict[str, Any]]:
    _dummy_environment()
    out: dict[str, dict[str, Any]] = {}
    for logical, fn in sorted(functions(load_template()).items()):
        sys.path.insert(0, str(fn.code_uri))
        module = importlib.import_module(fn.handler.rsplit(".", 1)[0])
        schema = module.app.get_openapi_schema()
        out[logical] = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
    return out


def _error_schemas() -> dict[str, Any]:
    from strongroom.models import ErrorEnvelope  # noqa: PLC0415

    schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"ErrorEnvelope": schema, **defs}


def _operation_id(method: str, path: str, op: dict[str, Any]) -> str:
    """Powertools names operations `<function>_<path>_<method>`; keep the function's name."""
    suffix = re.sub(r"\W", "_", path) + "_" + method
    op_id = str(op["operationId"])
    return op_id.removesuffix(suffix) if op_id.endswith(suffix) else op_id


def merge(per_function: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from strongroom.health import VERSION  # noqa: PLC0415

    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for logical, doc in per_function.items():
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if method in paths.get(path, {}):
                    raise SystemExit(f"{method.upper()} {path} is defined twice ({logical})")
                paths.setdefault(path, {})[method] = _shape_operation(method, path, op)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in POWERTOOLS_SCHEMAS:
                continue
            if name in schemas and schemas[name] != schema:
                raise SystemExit(f"schema {name} differs between functions ({logical})")
            schemas[name] = schema
    schemas.update(_error_schemas())
    _add_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Strongroom API",
            "version": VERSION,
            "description": "Multi-tenant secrets manager. Errors are always the envelope "
            "{error: {code, message, details, request_id}}. Lists page with limit/cursor.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "OIDC JWT, or a Strongroom token (sr_pat_…, sr_svc_…)",
                },
                "devUser": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Strongroom-Dev-User",
                    "description": "Only when the stack runs with AUTH_MODE=dev",
                },
            },
        },
        "security": [{"bearerAuth": []}, {"devUser": []}],
    }


def _not_nullable(param: dict[str, Any]) -> None:
    """A header or query parameter is absent or a string: HTTP has no null. Drop the `null`
    branch Pydantic emits for `X | None` (clients would otherwise send the text 'null')."""
    schema = param.get("schema", {})
    branches = schema.get("anyOf")
    if branches and any(b.get("type") == "null" for b in branches):
        kept = [b for b in branches if b.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        param["schema"] = {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _shape_operation(method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    op = copy.deepcopy(op)
    op["operationId"] = _operation_id(method, path, op)
    for param in op.get("parameters", []):
        _not_nullable(param)
    responses: dict[str, Any] = {}
    for status, response in op.get("responses", {}).items():
        if status == "422" and "HTTPValidationError" in json.dumps(response):
            continue
        responses[status] = {"description": response.get("description", "No content")} if status == "204" else response
    envelope = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
    public = (method, path) in PUBLIC
    for status, description in ERROR_STATUSES.items():
        if public and status not in {"500", "503"}:
            continue
        if status == "413" and method not in {"post", "put", "patch"}:
            continue
        responses.setdefault(status, {"description": description, **envelope})
    responses.setdefault("default", {"description": "Any other error, in the envelope", **envelope})
    op["responses"] = dict(sorted(responses.items()))
    if public:
        op["security"] = []
    return op


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            raise SystemExit(f"link source {method.upper()} {path} {status} does not exist")
        response["links"] = {
            name: {"operationId": target, "parameters": params} for name, (target, params) in sorted(links.items())
        }


ROUTE_TABLE = ROOT / "layers" / "strongroom" / "strongroom" / "route_table.json"


def route_table() -> str:
    """The routes of template.yaml, for the `$default` fallback (405 needs to know them)."""
    keys = sorted(r.key for r in routes(load_template()) if r.path != "$default")
    return json.dumps({"generated_from": "template.yaml", "routes": keys}, indent=2) + "\n"


def route_drift(doc: dict[str, Any]) -> list[str]:
    """Routes in template.yaml vs operations in the document, both ways."""
    template_routes = {f"{r.method.lower()} {r.path}" for r in routes(load_template()) if r.path != "$default"}
    documented = {f"{m} {p}" for p, item in doc["paths"].items() for m in item}
    return [f"in template.yaml, not served: {r}" for r in sorted(template_routes - documented)] + [
        f"served, not in template.yaml: {r}" for r in sorted(documented - template_routes)
    ]


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    doc = merge(function_schemas())
    drift = route_drift(doc)
    if drift:
        print("route table drift:\n  " + "\n  ".join(drift), file=sys.stderr)
        return 1
    text = render(doc)
    table = route_table()
    if args.write:
        OUT.write_text(text, encoding="utf-8")
        ROUTE_TABLE.write_text(table, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)} ({len(doc['paths'])} paths) and {ROUTE_TABLE.relative_to(ROOT)}")
        return 0
    if (ROUTE_TABLE.read_text(encoding="utf-8") if ROUTE_TABLE.exists() else "") != table:
        print(f"{ROUTE_TABLE.relative_to(ROOT)} is stale; run `make openapi`", file=sys.stderr)
        return 1
    current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if current != text:
        diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1)
        print("docs/openapi.json is stale; run `make openapi`:\n" + "\n".join(list(diff)[:60]), file=sys.stderr)
        return 1
    print("docs/openapi.json is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
