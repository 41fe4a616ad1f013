"""`Idempotency-Key` on an authenticated mutation (a resolver middleware): the first response is
kept for IDEMPOTENCY_TTL_SECONDS, without the values its model marks shown-once, and replayed to
a retry with the same key from the same credential; the same key with a different request is 422.
Requests no credential authenticated (device login) keep nothing: a key there would be shared by
every anonymous caller."""

from __future__ import annotations

import functools
import hashlib
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from strongroom import errors
from strongroom.context import MUTATING
from strongroom.http import shown_once
from strongroom.http.envelope import JSON
from strongroom.security.auth import DEV_HEADER

MAX_KEY_CHARS = 255


def credential_digest(headers: Mapping[str, str], cookies: Sequence[str] = ()) -> str:
    """SHA-256 of the credential `authenticate` accepted (the dev identity header, else
    Authorization, else X-Agent-Secret, else the session cookie): the caller an Idempotency-Key
    belongs to. Never the credential itself."""
    from strongroom.security.sessions import cookie_value  # noqa: PLC0415

    dev_user = headers.get(DEV_HEADER)
    if dev_user is not None:
        presented = f"dev {dev_user.strip()}"
    elif "authorization" in headers:
        presented = headers.get("authorization", "").strip()
    elif "x-agent-secret" in headers:  # an agent's other header (security/auth.py)
        presented = f"agent {headers['x-agent-secret'].strip()}"
    else:
        presented = f"cookie {cookie_value(list(cookies)) or ''}"
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()


def _persistence() -> Any:
    from strongroom.data import idempotency  # noqa: PLC0415

    return idempotency.persistence()


def middleware(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """The resolver middleware: passes through what is not an authenticated mutation with a key."""
    from strongroom.context import current  # noqa: PLC0415

    event = app.current_event
    key = event.headers.get("idempotency-key") if event.headers else None
    credential = current().credential
    if event.http_method.upper() not in MUTATING or not key or not credential:
        return next_middleware(app)
    if len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise errors.Invalid(
            f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable characters",
            details={"fields": [{"field": "Idempotency-Key", "location": "header", "issue": "invalid"}]},
        )
    body = event.body or ""
    request = {
        "scope": f"{credential}|{event.http_method.upper()}|{event.path}|{key}",
        "body_sha256": hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    return _once(app, next_middleware, request)


def _config(app: APIGatewayHttpResolver) -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415

    from strongroom.config import settings  # noqa: PLC0415

    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=settings().idempotency_ttl_seconds,
        use_local_cache=False,
        hash_function="sha256",
    )
    config.register_lambda_context(app.lambda_context)
    return config


def _once(
    app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]], request: dict[str, str]
) -> Response[Any]:
    """Run the route the first time (its response kept, redacted) or replay what was kept."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    declared = response_type(app.context["_route"].func)
    fresh: dict[str, Any] = {}

    @idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(), config=_config(app), key_prefix="http"
    )
    def run(request: dict[str, Any]) -> dict[str, Any]:
        response = next_middleware(app)
        text = response.body if isinstance(response.body, str) else json.dumps(response.body, default=str)
        fresh["response"] = Response(
            status_code=response.status_code, content_type=JSON, body=text, headers=dict(response.headers or {})
        )
        return {"status_code": response.status_code, "body": _redact(text, declared)}

    try:
        stored = run(request=request)
    except IdempotencyValidationError:
        raise errors.Unprocessable(
            "this Idempotency-Key was used with a different request", code="idempotency_key_reused"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise errors.Conflict(
            "a request with this Idempotency-Key is still in progress",
            code="idempotency_in_progress",
            headers={"Retry-After": "1"},
        ) from None
    if "response" in fresh:
        return fresh["response"]  # type: ignore[no-any-return]
    return Response(
        status_code=int(stored["status_code"]),
        content_type=JSON,
        body=stored["body"],
        headers={"Idempotent-Replayed": "true"},
    )


@functools.cache
def response_type(route: Callable[..., Any]) -> Any:
    """What a route declares it answers (`Response[X]` unwrapped to X): the type whose shown-once
    marks say what a stored copy of its response must leave out."""
    declared = typing.get_type_hints(route, include_extras=True).get("return")
    if typing.get_origin(declared) is Response:
        (declared,) = typing.get_args(declared)
    return declared


def _redact(text: str, declared: Any) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(shown_once.redact(data, declared))
