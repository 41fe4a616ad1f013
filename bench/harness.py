"""What the CLI and SDK benches share: the repository's code on sys.path, an org with one
environment of secrets made on the embedded local stack, and a count of the server's work (KMS
calls, AES-GCM decryptions, DynamoDB requests) while a block runs. The stack runs in the bench's
own process, so each is counted directly at its client."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "tests", ROOT / "sdk" / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

CLI = str(Path(sys.executable).parent / "strongroom")
Call = Callable[..., Any]


def cli_env(url: str, token: str, home: str, **extra: str) -> dict[str, str]:
    """The environment a bench runs the CLI in: a fresh HOME, the service token, no keyring, and a
    checkout's own code (PYTHONPATH) when the shared virtualenv's install is another's."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "XDG_CONFIG_HOME": f"{home}/config",
        "XDG_CACHE_HOME": f"{home}/cache",
        "STRONGROOM_API_URL": url,
        "STRONGROOM_TOKEN": token,
        "STRONGROOM_NO_KEYRING": "1",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        **extra,
    }


def new_environment(url: str, values: dict[str, str] | None = None) -> tuple[str, Call]:
    """(the org's slug, call(method, path, body) as its owner) of a new org whose project `web`'s
    staging holds `values` (default: 20 random secrets and DB_URL)."""
    from support import http_call  # the tests' one-request helper

    owner, slug = "bench@example.com", f"bench-{secrets.token_hex(3)}"

    def call(method: str, path: str, body: Any = None) -> Any:
        status, _, payload = http_call(url, method, path, user=owner, json_body=body)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {payload}")
        return payload

    call("POST", "/v1/orgs", {"name": "Bench", "slug": slug})
    call("POST", f"/v1/orgs/{slug}/projects", {"name": "Web"})
    if values is None:
        values = {f"KEY_{i:02d}": secrets.token_urlsafe(40) for i in range(20)} | {"DB_URL": "postgres://db/app"}
    call("PATCH", f"/v1/orgs/{slug}/projects/web/environments/staging/secrets", {"set": values})
    return slug, call


def read_token(slug: str, call: Call) -> str:
    """A read-only service token of the org's web/staging."""
    token = call("POST", f"/v1/orgs/{slug}/tokens", {"name": "bench", "project": "web", "environment": "staging"})
    return str(token["token"])


@contextmanager
def server_work() -> Iterator[dict[str, int]]:
    """{kms_calls, decrypts, dynamodb_requests} made by the in-process stack while the block runs."""
    from strongroom import aws
    from strongroom.security import crypto

    work = {"kms_calls": 0, "decrypts": 0, "dynamodb_requests": 0}
    real_decrypt = crypto.decrypt

    def counting_decrypt(*a: Any, **k: Any) -> bytes:
        work["decrypts"] += 1
        return real_decrypt(*a, **k)

    def count(name: str) -> Callable[..., None]:
        def counter(**_: Any) -> None:
            work[name] += 1

        return counter

    kms, dynamodb = count("kms_calls"), count("dynamodb_requests")
    crypto.decrypt = counting_decrypt  # type: ignore[assignment]
    aws.kms().meta.events.register("provide-client-params.kms.*", kms)
    aws.dynamodb().meta.events.register("before-call.dynamodb.*", dynamodb)
    try:
        yield work
    finally:
        aws.kms().meta.events.unregister("provide-client-params.kms.*", kms)
        aws.dynamodb().meta.events.unregister("before-call.dynamodb.*", dynamodb)
        crypto.decrypt = real_decrypt  # type: ignore[assignment]
