"""A GitHub Actions secrets server for the sync tests, held to GitHub's published REST API
description (npm `@octokit/openapi`, installed by `make peers` into tests/peers/github).

Every request is matched against the description's paths and methods; its path parameters and
JSON body are validated against the operation's schemas (jsonschema), and each answer it gives
against the operation's response schema. Anything that does not conform is recorded in
`violations` (and answered 404 or 422, as GitHub would). It generates the repository's X25519 key
pair, serves the public key, and opens each `encrypted_value` with the sealed box (PyNaCl), so
`secrets` holds what a workflow would read. `down = True` answers 503 to everything (the
destination down).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from nacl.public import PrivateKey, SealedBox

DESCRIPTION = (
    Path(__file__).resolve().parent / "peers" / "github" / "node_modules" / "@octokit" / "openapi" / "generated"
) / "api.github.com.json"


class Description:
    """GitHub's OpenAPI description, its operations found by method and concrete path."""

    def __init__(self, path: Path = DESCRIPTION) -> None:
        if not path.exists():
            raise RuntimeError(f"{path} is missing: run `make peers` (npm ci in tests/peers/github)")
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for template in self.doc["paths"]:
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            self._routes.append((re.compile(regex), template))

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """node with its local $refs replaced (the few schemas these operations use are not recursive)."""
        if depth > 40:
            return node
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = self.doc
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
                return self.resolve(target, depth + 1)
            return {k: self.resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, depth + 1) for v in node]
        return node

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """(path template, operation, path parameters), or None when the description has no such route."""
        # Literal segments win over parameters (…/secrets/public-key over …/secrets/{secret_name}).
        matches = [(t, m) for regex, t in self._routes if (m := regex.match(path))]
        matches.sort(key=lambda tm: tm[0].count("{"))
        for template, match in matches:
            op = self.doc["paths"][template].get(method.lower())
            if op is None:
                continue
            names = re.findall(r"\{([^}]+)\}", template)
            return template, self.resolve(op), dict(zip(names, match.groups(), strict=True))
        return None


@dataclass
class GithubServer:
    description: Description
    token: str = "ghp_test_token_of_the_sync"
    repository: str = "acme/web"
    down: bool = False
    down_hits: int = 0  # requests answered 503 while down
    private_key: PrivateKey = field(default_factory=PrivateKey.generate)
    key_id: str = "3380204578043523366"
    secrets: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path template)
    violations: list[str] = field(default_factory=list)
    seen_authorization: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GithubServer:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = peer.handle(self.command, self.path, dict(self.headers.items()), raw)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ----------------------------------------------------------------- the API

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def _answer(self, op: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
        """The answer, checked against the operation's response schema for that status."""
        described = op.get("responses", {}).get(str(status))
        if described is None:
            self._violation(f"{op.get('operationId')}: answered {status}, which it does not describe")
        else:
            schema = (described.get("content") or {}).get("application/json", {}).get("schema")
            if schema is not None and body is not None:
                try:
                    jsonschema.validate(body, schema)
                except jsonschema.ValidationError as exc:
                    self._violation(f"{op.get('operationId')}: our own {status} answer: {exc.message}")
        return status, body

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if self.down:
            with self._lock:
                self.down_hits += 1
            return 503, {"message": "Service Unavailable"}
        found = self.description.operation(method, path.split("?", 1)[0])
        if found is None:
            self._violation(f"{method} {path}: no such operation in GitHub's description")
            return 404, {"message": "Not Found"}
        template, op, params = found
        with self._lock:
            self.requests.append((method, template))
            self.seen_authorization.append(headers.get("Authorization", ""))
        self._check_parameters(op, params)
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        if "application/vnd.github+json" not in headers.get("Accept", ""):
            self._violation(f"{op['operationId']}: Accept is not application/vnd.github+json")
        ok, body = self._check_body(op, raw)
        if not ok:
            return 422, {"message": "Invalid request"}
        if f"{params.get('owner')}/{params.get('repo')}" != self.repository:
            return 404, {"message": "Not Found"}
        return self._route(op, params, body)

    def _check_parameters(self, op: dict[str, Any], params: dict[str, str]) -> None:
        for p in op.get("parameters", []):
            if p.get("in") == "path":
                try:
                    jsonschema.validate(params.get(p["name"]), p.get("schema", {}))
                except jsonschema.ValidationError as exc:
                    self._violation(f"{op['operationId']}: path parameter {p['name']}: {exc.message}")

    def _check_body(self, op: dict[str, Any], raw: bytes) -> tuple[bool, Any]:
        request_body = op.get("requestBody")
        if request_body is None:
            if raw:
                self._violation(f"{op['operationId']}: a body where the operation takes none")
            return True, None
        try:
            body = json.loads(raw or b"null")
            jsonschema.validate(body, request_body["content"]["application/json"]["schema"])
        except (ValueError, jsonschema.ValidationError) as exc:
            self._violation(f"{op['operationId']}: request body: {getattr(exc, 'message', exc)}")
            return False, None
        return True, body

    def _route(self, op: dict[str, Any], params: dict[str, str], body: Any) -> tuple[int, Any]:
        operation = op["operationId"]
        if operation == "actions/get-repo-public-key":
            key = base64.b64encode(bytes(self.private_key.public_key)).decode()
            return self._answer(op, 200, {"key_id": self.key_id, "key": key})
        name = params.get("secret_name", "").upper()
        if operation == "actions/create-or-update-repo-secret":
            if body["key_id"] != self.key_id:
                return 422, {"message": "Bad key_id"}
            try:
                value = SealedBox(self.private_key).decrypt(base64.b64decode(body["encrypted_value"])).decode()
            except Exception:  # noqa: BLE001 - not sealed to our key
                self._violation(f"{operation}: encrypted_value does not open with the repository's key")
                return 422, {"message": "Bad encrypted_value"}
            with self._lock:
                existed = name in self.secrets
                self.secrets[name] = value
            return self._answer(op, 204, None) if existed else self._answer(op, 201, {})
        if operation == "actions/delete-repo-secret":
            with self._lock:
                self.secrets.pop(name, None)
            return self._answer(op, 204, None)
        self._violation(f"{operation}: not expected of the sync")
        return 404, {"message": "Not Found"}
