"""Generate the one OpenAPI document of the API from the functions' resolvers.

    python scripts/openapi.py --write   # writes docs/openapi.json (and the layer's route_table.json)
    python scripts/openapi.py --check   # exits 1, with a summary of the differences, when either is
                                        # stale, or when template.yaml and the resolvers disagree

Every AWS::Serverless::Function of template.yaml with HttpApi events is imported (Handler
`x_api.app.lambda_handler` + CodeUri -> module `x_api.app`, with dummy configuration and the network
switched off: importing a function must not call AWS), and its Powertools resolver describes its own
routes. This merges them into one OpenAPI 3.1 document, fails on a path+method or a component schema
defined twice differently, replaces Powertools' 422 validation shape with Strongroom's error envelope
(and adds the envelope for every error an operation can produce), adds the security schemes and the
links that schemathesis' stateful phase follows, and checks that the routes of template.yaml and
the operations of the document are the same set (route-table drift), and that each HttpApi event's
logical id is its operation's (route function's) name in CamelCase (`list_tokens` -> `ListTokens`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import importlib
import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "strongroom"
LOCAL = ROOT / "local"
OUT = ROOT / "docs" / "openapi.json"
# The `$default` route's 404/405 needs the route table at run time; it is generated here too.
ROUTE_TABLE = LAYER / "strongroom" / "route_table.json"

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
# Every error the API returns is the envelope; which statuses an operation documents depends on
# what it is (see `_error_statuses`). `default` covers anything else (405 from `$default`, 413 on
# a GET with a body...), also in the envelope.
ERRORS = {
    "400": "The request is not valid (details.fields names each field)",
    "401": "Missing or invalid credentials",
    "403": "The caller's role or credential lacks the permission",
    "404": "Not found, or not visible to the caller",
    "409": "Conflict with the current state (e.g. slug taken, already a member)",
    "410": "Gone (e.g. the invitation has expired)",
    "412": "If-Match names a version that is not the current one",
    "413": "The request body (or the result) is too large",
    "415": "The request body is not application/json",
    "422": "Well-formed but unprocessable (e.g. an unknown parent, an Idempotency-Key reused with another body)",
    "429": "Rate limited or the data store is busy; see Retry-After",
    "500": "Internal error (a generic message; details are never returned)",
    "503": "A dependency (DynamoDB, KMS, the identity provider) is unavailable",
}
# Operations that answer without credentials (template.yaml has no authorizer; the layer's
# PUBLIC_ROUTES skip authentication for these).
# (tests/unit/test_openapi.py checks this equals strongroom.http.app.PUBLIC_ROUTES)
PUBLIC = {
    ("get", "/health"),
    ("post", "/v1/auth/device/start"),
    ("post", "/v1/auth/device/token"),
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/forgot-password"),
    ("post", "/v1/auth/reset-password"),
    ("post", "/v1/auth/identity/token"),
    ("get", "/v1/sso/by-domain"),
    ("get", "/v1/sso/oidc/authorize"),
    ("get", "/v1/sso/oidc/callback"),
    ("get", "/v1/sso/saml/metadata"),
    ("get", "/v1/sso/saml/authorize"),
    ("post", "/v1/sso/saml/acs"),
    # the web console's page and files (text/html, CSS, JavaScript, SVG)
    ("get", "/"),
    ("get", "/device"),
    ("get", "/verify-email"),
    ("get", "/reset-password"),
    ("get", "/console/{asset}"),
}
# Statuses beyond the ones every operation of its kind gets.
EXTRA_ERRORS: dict[tuple[str, str], set[str]] = {
    ("post", "/v1/invitations/{token}/accept"): {"410"},
    # public, but its credential is in the body: refused (401) or a rule it does not satisfy (403);
    # 422 when the identity names an issuer netguard now refuses (its configuration's fault)
    ("post", "/v1/auth/identity/token"): {"401", "403", "409", "422"},
    ("get", "/v1/sso/by-domain"): {"400", "404"},
    ("get", "/v1/sso/oidc/authorize"): {"400", "404", "422"},
    ("get", "/v1/sso/oidc/callback"): {"400", "401", "404", "409", "422"},
    ("get", "/v1/sso/saml/metadata"): {"400", "404"},
    ("get", "/v1/sso/saml/authorize"): {"400", "404"},
    # every refusal of a Response is 401; 409 an account single sign-on did not create; 415 not a form
    ("post", "/v1/sso/saml/acs"): {"400", "401", "409", "415"},
    ("get", "/console/{asset}"): {"400", "404"},
}
MUTATIONS = {"post", "put", "patch", "delete"}
NO_BODY = {"204", "302", "303", "304"}
POWERTOOLS_SCHEMAS = {"HTTPValidationError", "ValidationError", "ResponseValidationError"}
REQUEST_ID_HEADER = {
    "description": "The request's id (also `error.request_id` in an error)",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}

# Links for schemathesis' stateful phase: (method, path, status) -> {name: (target operationId,
# {target parameter: runtime expression})}. A target parameter that is not named is generated.
_ORG = {"org": "$response.body#/id"}
_PROJECT = {"org": "$request.path.org", "project": "$response.body#/id"}
_ENV_FROM_PROJECT = {
    "org": "$request.path.org",
    "project": "$response.body#/id",
    "env": "$response.body#/environments/0/id",
}
_ENV = {"org": "$request.path.org", "project": "$request.path.project", "env": "$response.body#/id"}
_SECRET = {
    "org": "$request.path.org",
    "project": "$request.path.project",
    "env": "$request.path.env",
    "key": "$response.body#/key",
}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("post", "/v1/orgs", "201"): {
        "GetOrg": ("get_org", _ORG),
        "PatchOrg": ("patch_org", _ORG),
        "DeleteOrg": ("delete_org", _ORG),
        "ListMembers": ("list_members", _ORG),
        "ListInvitations": ("list_invitations", _ORG),
        "CreateInvitation": ("create_invitation", _ORG),
        "ListProjects": ("list_projects", _ORG),
        "CreateProject": ("create_project", _ORG),
        "GetMyPermissions": ("get_my_permissions", {"org": "$response.body#/id"}),
    },
    ("post", "/v1/orgs/{org}/scim/tokens", "201"): {
        "RevokeScimToken": ("revoke_scim_token", {"org": "$request.path.org", "id": "$response.body#/id"}),
    },
    ("post", "/v1/orgs/{org}/invitations", "201"): {
        "RevokeInvitation": ("revoke_invitation", {"org": "$request.path.org", "id": "$response.body#/id"}),
        "AcceptInvitation": ("accept_invitation", {"token": "$response.body#/token"}),
    },
    ("get", "/v1/orgs/{org}/members", "200"): {
        "PatchMember": ("patch_member", {"org": "$request.path.org", "user": "$response.body#/data/0/user_id"}),
        "RemoveMember": ("delete_member", {"org": "$request.path.org", "user": "$response.body#/data/0/user_id"}),
    },
    ("post", "/v1/orgs/{org}/projects", "201"): {
        "GetProject": ("get_project", _PROJECT),
        "PatchProject": ("patch_project", _PROJECT),
        "DeleteProject": ("delete_project", _PROJECT),
        "ListEnvironments": ("list_environments", _PROJECT),
        "CreateEnvironment": ("create_environment", _PROJECT),
        "GetFirstEnvironment": ("get_environment", _ENV_FROM_PROJECT),
        "ListSecretsOfFirstEnvironment": ("list_secrets", _ENV_FROM_PROJECT),
        "PutSecretInFirstEnvironment": ("put_secret", _ENV_FROM_PROJECT),
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
        "GetEnvironment": ("get_environment", _ENV),
        "PatchEnvironment": ("patch_environment", _ENV),
        "DeleteEnvironment": ("delete_environment", _ENV),
        "ListSecrets": ("list_secrets", _ENV),
        "PutSecret": ("put_secret", _ENV),
    },
    ("put", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{key}", "200"): {
        "GetSecret": ("get_secret", _SECRET),
        "ListVersions": ("list_versions", _SECRET),
        "DeleteSecret": ("delete_secret", _SECRET),
        "ListSecrets": (
            "list_secrets",
            {"org": "$request.path.org", "project": "$request.path.project", "env": "$request.path.env"},
        ),
    },
}


# --------------------------------------------------------------------------- template.yaml


def _read_template(path: Path) -> dict[str, Any]:
    """template.yaml as data, read by the local stack's one CloudFormation-aware reader."""
    if str(LOCAL) not in sys.path:
        sys.path.insert(0, str(LOCAL))
    from strongroom_local.template import parse_template  # noqa: PLC0415

    return parse_template(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class ApiFunction:
    logical_id: str
    code_uri: Path
    module: str
    events: tuple[tuple[str, str, str], ...]  # (event logical id, method in lower case, path), `$default` excluded

    @property
    def routes(self) -> tuple[tuple[str, str], ...]:
        """(method in lower case, path) of each event."""
        return tuple((method, path) for _, method, path in self.events)


# Functions whose API documents itself and is not this document's: SCIM (RFC 7644's own discovery
# endpoints and schemas; docs/decisions.md). Their routes are in the route table all the same.
SELF_DOCUMENTED = frozenset({"ScimFunction"})


def api_functions(template_path: Path = TEMPLATE, *, self_documented: bool = False) -> list[ApiFunction]:
    """Every AWS::Serverless::Function with HttpApi events, in logical-id order (those of
    SELF_DOCUMENTED only with `self_documented`)."""
    template = _read_template(template_path)
    out = []
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if logical_id in SELF_DOCUMENTED and not self_documented:
            continue
        props = resource.get("Properties", {})
        events = {name: e for name, e in (props.get("Events") or {}).items() if e.get("Type") == "HttpApi"}
        if not events:
            continue
        module, _, attr = str(props["Handler"]).rpartition(".")
        if attr != "lambda_handler" or not module:
            raise SystemExit(f"{logical_id}: Handler {props['Handler']!r} is not <module>.lambda_handler")
        routes = tuple(
            (name, str(e["Properties"]["Method"]).lower(), str(e["Properties"]["Path"]))
            for name, e in events.items()
            if e["Properties"]["Path"] != "$default"
        )
        out.append(ApiFunction(logical_id, ROOT / props["CodeUri"], module, routes))
    return out


# --------------------------------------------------------------------------- per-function schemas

# What the layer's configuration needs to exist; dummy values (importing reads none of them, and
# nothing here may reach AWS: the network is off while the functions are imported and described).
DUMMY_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "openapi",
    "AWS_SECRET_ACCESS_KEY": "openapi",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "TABLE_NAME": "strongroom-openapi",
    "KMS_KEY_ID": "arn:aws:kms:us-east-1:000000000000:key/openapi",
    "CURSOR_SIGNING_KEY": "openapi-dummy-signing-key",
    "SESSION_SIGNING_KEY": "openapi-dummy-session-key",
    "AUTH_MODE": "dev",
    "STAGE": "openapi",
    "POWERTOOLS_SERVICE_NAME": "openapi",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Any attempt to open a connection (an AWS call at import time) fails loudly."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a function tried to use the network while being imported or described")

    saved = socket.socket.connect, socket.socket.connect_ex, socket.create_connection
    socket.socket.connect = socket.socket.connect_ex = refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection = saved  # type: ignore[method-assign]


@contextlib.contextmanager
def _dummy_environment() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(DUMMY_ENVIRONMENT)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def function_schemas(functions: list[ApiFunction]) -> dict[str, dict[str, Any]]:
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    out: dict[str, dict[str, Any]] = {}
    with _dummy_environment(), _offline():
        for fn in functions:
            if str(fn.code_uri) not in sys.path:
                sys.path.insert(0, str(fn.code_uri))
            app = importlib.import_module(fn.module).app
            out[fn.logical_id] = json.loads(app.get_openapi_json_schema())
    return out


def _error_schemas() -> dict[str, Any]:
    from strongroom.models import ErrorEnvelope  # noqa: PLC0415

    schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"ErrorEnvelope": schema, **defs}


# --------------------------------------------------------------------------- merge


def _operation_id(method: str, path: str, op: dict[str, Any]) -> str:
    """Powertools names operations `<python function>_<path>_<method>`; keep the function's name."""
    suffix = "_" + re.sub(r"\W", "_", path.removeprefix("/")) + "_" + method
    op_id = str(op["operationId"])
    return op_id.removesuffix(suffix) if op_id.endswith(suffix) else op_id


def _not_nullable(param: dict[str, Any]) -> None:
    """A query or header parameter is absent or a string: HTTP has no null. Drop the `null` branch
    Pydantic emits for `X | None` (clients would otherwise send the text 'null')."""
    schema = param.get("schema", {})
    branches = schema.get("anyOf")
    if branches and any(b.get("type") == "null" for b in branches):
        kept = [b for b in branches if b.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        param["schema"] = {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _error_statuses(method: str, path: str, op: dict[str, Any]) -> set[str]:
    if (method, path) in PUBLIC:
        body = {"400", "413", "415", "429"} if "requestBody" in op else set()
        return {"500", "503"} | body | EXTRA_ERRORS.get((method, path), set())
    statuses = {"400", "401", "403", "404", "429", "500", "503"}
    if method in MUTATIONS:
        statuses |= {"409", "422"}  # state conflicts; Idempotency-Key reused with another request
    if "requestBody" in op:
        statuses |= {"413", "415"}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in op.get("parameters", [])):
        statuses.add("412")
    return statuses | EXTRA_ERRORS.get((method, path), set())


def _shape_operation(method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    op = copy.deepcopy(op)
    op["operationId"] = _operation_id(method, path, op)
    for param in op.get("parameters", []):
        if param.get("in") in {"query", "header"}:
            _not_nullable(param)
    envelope = {"content": {"application/json": {"schema": {"$ref": ENVELOPE_REF}}}}
    responses: dict[str, Any] = {}
    for status, response in op.get("responses", {}).items():
        if status == "422" and "HTTPValidationError" in json.dumps(response):
            continue  # Powertools' shape; validation errors are the envelope, with 400
        # 204 and 304 have no body (RFC 9110) whatever the route's return annotation says.
        responses[status] = (
            {"description": response.get("description", "No content")} if status in NO_BODY else response
        )
    for status in sorted(_error_statuses(method, path, op)):
        responses.setdefault(status, {"description": ERRORS[status], **envelope})
    responses.setdefault("default", {"description": "Any other error, in the envelope", **envelope})
    for response in responses.values():
        response["headers"] = {
            **response.get("headers", {}),
            "X-Request-Id": {"$ref": "#/components/headers/RequestId"},
        }
    op["responses"] = dict(sorted(responses.items()))
    if (method, path) in PUBLIC:
        op["security"] = []
    return op


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    targets = {op["operationId"]: op for item in paths.values() for op in item.values()}
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            raise SystemExit(f"link source {method.upper()} {path} {status} does not exist")
        for name, (target, params) in links.items():
            known = {p["name"] for p in targets.get(target, {}).get("parameters", [])}
            if target not in targets or not set(params) <= known:
                raise SystemExit(f"link {name} of {method.upper()} {path}: {target} has no parameters {sorted(params)}")
        response["links"] = {
            name: {"operationId": target, "parameters": params} for name, (target, params) in sorted(links.items())
        }


def _duplicate_operation_ids(paths: dict[str, dict[str, Any]]) -> list[str]:
    seen: set[str] = set()
    errors = []
    for path, item in paths.items():
        for method, op in item.items():
            if op["operationId"] in seen:
                errors.append(f"operationId {op['operationId']} of {method.upper()} {path} is not unique")
            seen.add(op["operationId"])
    return errors


def _collect(
    per_function: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, str], list[str]]:
    """Every function's operations (shaped) and schemas in one place: (paths, schemas, the function
    of each schema, what is defined twice differently)."""
    paths: dict[str, dict[str, Any]] = {}
    owner: dict[tuple[str, str], str] = {}
    schemas: dict[str, Any] = {}
    schema_owner: dict[str, str] = {}
    errors = []
    for logical, doc in sorted(per_function.items()):
        for method, path, op in ((m, p, op) for p, item in doc.get("paths", {}).items() for m, op in item.items()):
            if (method, path) in owner:
                errors.append(f"{method.upper()} {path} is defined by {owner[method, path]} and {logical}")
                continue
            owner[method, path] = logical
            paths.setdefault(path, {})[method] = _shape_operation(method, path, op)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema and name not in POWERTOOLS_SCHEMAS:
                errors.append(f"schema {name} differs between {schema_owner[name]} and {logical}")
                continue
            schemas[name], schema_owner[name] = schema, logical
    return paths, schemas, schema_owner, errors


def merge(per_function: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from strongroom.domain.health import VERSION  # noqa: PLC0415

    paths, schemas, schema_owner, errors = _collect(per_function)
    for name in POWERTOOLS_SCHEMAS:
        schemas.pop(name, None)
    for name, schema in _error_schemas().items():
        if name in schemas and schemas[name] != schema:
            errors.append(f"schema {name} of {schema_owner[name]} is not the layer's error envelope")
        schemas[name] = schema
    errors += _duplicate_operation_ids(paths)
    if errors:
        raise SystemExit("cannot merge the functions' OpenAPI documents:\n  " + "\n  ".join(errors))
    _add_links(paths)
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "Strongroom API",
            "version": VERSION,
            "description": "Multi-tenant secrets manager. Errors are always the envelope "
            "{error: {code, message, details, request_id}}. Lists page with limit/cursor.",
        },
        "paths": paths,
        "components": {
            "headers": {"RequestId": REQUEST_ID_HEADER},
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An OIDC JWT of the configured issuer, or a Strongroom token (sr_pat_…, sr_svc_…)",
                },
                "devUser": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Strongroom-Dev-User",
                    "description": "An email address; only when the stack runs with AUTH_MODE=dev (local)",
                },
            },
        },
        "security": [{"bearerAuth": []}, {"devUser": []}],
    }
    dangling = sorted({ref for ref in _refs(doc) if _resolve(doc, ref) is None})
    if dangling:
        raise SystemExit("the merged document has references to nothing: " + ", ".join(dangling))
    return doc


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return node


def route_drift(doc: dict[str, Any], functions: list[ApiFunction]) -> list[str]:
    """Routes of template.yaml vs operations of the document, both ways, and each route once."""
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for fn in functions:
        for route in fn.routes:
            if route in seen:
                problems.append(
                    f"template.yaml routes {route[0].upper()} {route[1]} twice ({seen[route]}, {fn.logical_id})"
                )
            seen[route] = fn.logical_id
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    problems += [f"in template.yaml, no operation: {m.upper()} {p}" for m, p in sorted(set(seen) - documented)]
    problems += [f"an operation, not in template.yaml: {m.upper()} {p}" for m, p in sorted(documented - set(seen))]
    return problems


def camel_case(name: str) -> str:
    """list_tokens -> ListTokens"""
    return "".join(word.capitalize() for word in name.split("_"))


def event_names(doc: dict[str, Any], functions: list[ApiFunction]) -> list[str]:
    """Each HttpApi event's logical id is the name of the route function serving its method and path
    (the operationId), in CamelCase: `list_tokens` -> `ListTokens`."""
    problems = []
    for fn in functions:
        for event, method, path in fn.events:
            op = doc["paths"].get(path, {}).get(method)
            if op is None:
                continue  # route_drift names it
            expected = camel_case(str(op["operationId"]))
            if event != expected:
                problems.append(
                    f"template.yaml: event {event} of {fn.logical_id} ({method.upper()} {path}) is served by "
                    f"{op['operationId']}: name it {expected}"
                )
    return problems


def route_table(functions: list[ApiFunction]) -> str:
    keys = sorted(f"{m.upper()} {p}" for fn in functions for m, p in fn.routes)
    return json.dumps({"generated_from": "template.yaml", "routes": keys}, indent=2) + "\n"


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> tuple[str, str, list[str]]:
    """(document, route table, drift problems: routes and event names), from the code and template.yaml."""
    functions = api_functions()
    doc = merge(function_schemas(functions))
    every = api_functions(self_documented=True)
    return render(doc), route_table(every), route_drift(doc, functions) + event_names(doc, functions)


# --------------------------------------------------------------------------- --check


def _compare(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            lines.append(f"  + {kind} {name}")
        elif name not in new:
            lines.append(f"  - {kind} {name}")
        elif old[name] != new[name]:
            parts = ""
            if isinstance(old[name], dict) and isinstance(new[name], dict):
                keys = sorted(k for k in old[name].keys() | new[name].keys() if old[name].get(k) != new[name].get(k))
                parts = ": " + ", ".join(keys)
            lines.append(f"  ~ {kind} {name}{parts}")
    return lines


def _operations(doc: dict[str, Any]) -> dict[str, Any]:
    return {f"{m.upper()} {p}": op for p, item in doc.get("paths", {}).items() for m, op in item.items()}


def summarize(committed: str, generated: str) -> list[str]:
    """What differs, by operation, schema and top-level part, then the first lines of the diff."""
    try:
        old, new = json.loads(committed), json.loads(generated)
    except ValueError:
        old, new = {}, json.loads(generated)
    old_components, new_components = old.get("components", {}), new.get("components", {})
    lines = _compare("operation", _operations(old), _operations(new))
    lines += _compare("schema", old_components.get("schemas", {}), new_components.get("schemas", {}))
    lines += _compare(
        "components",
        {k: v for k, v in old_components.items() if k != "schemas"},
        {k: v for k, v in new_components.items() if k != "schemas"},
    )
    lines += _compare(
        "document", {k: v for k, v in old.items() if k != "paths"}, {k: v for k, v in new.items() if k != "paths"}
    )
    diff = list(
        difflib.unified_diff(committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm="", n=1)
    )
    if diff:
        lines.append(f"  first lines of the diff ({len(diff)} lines in all):")
        lines += ["    " + line for line in diff[:40]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write docs/openapi.json and the route table")
    mode.add_argument("--check", action="store_true", help="fail if either is stale or the routes drifted")
    args = parser.parse_args(argv)
    text, table, drift = generate()
    if drift:
        print("template.yaml and the resolvers disagree:\n  " + "\n  ".join(drift), file=sys.stderr)
        return 1
    if args.write:
        OUT.write_text(text, encoding="utf-8")
        ROUTE_TABLE.write_text(table, encoding="utf-8")
        ops = sum(len(item) for item in json.loads(text)["paths"].values())
        print(f"wrote {OUT.relative_to(ROOT)} ({ops} operations) and {ROUTE_TABLE.relative_to(ROOT)}")
        return 0
    status = 0
    if (ROUTE_TABLE.read_text(encoding="utf-8") if ROUTE_TABLE.exists() else "") != table:
        print(f"{ROUTE_TABLE.relative_to(ROOT)} is stale; run `make openapi`", file=sys.stderr)
        status = 1
    committed = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if committed != text:
        print(
            f"{OUT.relative_to(ROOT)} is stale; run `make openapi`. Differences (committed -> generated):",
            file=sys.stderr,
        )
        print("\n".join(summarize(committed, text)), file=sys.stderr)
        status = 1
    if status == 0:
        print(f"{OUT.relative_to(ROOT)} and {ROUTE_TABLE.relative_to(ROOT)} are up to date")
    return status


if __name__ == "__main__":
    sys.exit(main())
