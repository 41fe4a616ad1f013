"""The app factory every API function uses: one resolver, one error envelope, one auth point,
idempotency, and the same decorator stack.

    app = build_app()

    @app.get("/v1/things")
    def list_things() -> ThingList: ...

    lambda_handler = make_handler(app)
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import secrets
import traceback
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths

from strongroom import errors, jsontext, shown_once, unmatched
from strongroom.auth import DEV_HEADER, authenticate
from strongroom.context import RequestContext, set_current
from strongroom.observability import logger, metrics

JSON = "application/json"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY_BYTES = 1024 * 1024
# Routes that authenticate nobody: the health check, and device login's start and poll (RFC 8628).
PUBLIC_ROUTES = frozenset({"GET /health", "POST /v1/auth/device/start", "POST /v1/auth/device/token"})

# Path parameters: IDs (`org_…`) and slugs are ASCII letters, digits, `_` and `-`.
REF_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# The path parameters naming a tenant's resources (ID or slug), shared by every function.
OrgRef = Annotated[str, Path(pattern=REF_PATTERN, description="Org ID (org_…) or slug")]
ProjectRef = Annotated[str, Path(pattern=REF_PATTERN, description="Project ID (prj_…) or slug")]
EnvRef = Annotated[str, Path(pattern=REF_PATTERN, description="Environment ID (env_…) or slug")]

# Pagination query parameters shared by every list route.
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1-500)")]
Cursor = Annotated[str | None, Query(max_length=2048, description="Opaque cursor from next_cursor")]


def error_body(exc: errors.AppError, request_id: str) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "details": exc.details, "request_id": request_id}}


def _request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def _error_response(exc: errors.AppError, request_id: str) -> Response[Any]:
    headers = {"X-Request-Id": request_id, **exc.headers}
    return Response(
        status_code=exc.status, content_type=JSON, body=json.dumps(error_body(exc, request_id)), headers=headers
    )


def _validation_details(raw_errors: Iterable[Mapping[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """Describe validation failures by field, never echoing the input (it may be a secret)."""
    fields: list[dict[str, str]] = []
    code, message = "validation_error", "the request is not valid"
    for err in raw_errors:
        loc = [str(p) for p in err.get("loc", ())]
        location = loc[0] if loc else "body"
        name = ".".join(loc[1:])
        kind = str(err.get("type", ""))
        if kind == "json_invalid":
            return (
                "invalid_json",
                "the request body is not valid JSON",
                {"fields": [{"field": "", "location": "body", "issue": "not valid JSON"}]},
            )
        if kind == "extra_forbidden":
            issue = "unknown field"
            message = "the request has unknown fields"
        elif kind == "missing":
            issue = "required"
        else:
            issue = str(err.get("msg", "invalid"))
        fields.append({"field": name, "location": location, "issue": issue})
    return code, message, {"fields": fields}


def build_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(errors.AppError)
    def _app_error(exc: errors.AppError) -> Response[Any]:
        if exc.status >= 500:
            logger.warning("request failed", extra={"error_code": exc.code, "status": exc.status})
        return _error_response(exc, _request_id(app))

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        code, message, details = _validation_details(exc.errors())
        return _error_response(errors.Invalid(message, details=details, code=code), _request_id(app))

    @app.not_found
    def _not_found(_exc: Exception) -> Response[Any]:
        event = app.current_event
        return _error_response(unmatched.error(event.http_method, event.path), _request_id(app))

    @app.exception_handler(Exception)
    def _unhandled(exc: Exception) -> Response[Any]:
        # The type and the innermost frame only: messages and tracebacks may carry data.
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
        logger.error("unhandled error", extra={"error_type": type(exc).__name__, "where": where})
        metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
        return _error_response(errors.Internal("an internal error occurred"), _request_id(app))

    app.use([_idempotency])
    return app


# --------------------------------------------------------------------------- entry point


def _header_map(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def _check_body(event: Mapping[str, Any], method: str) -> None:
    raw = _body_bytes(event)
    if raw is not None and method in MUTATING:
        _check_json_body(event, raw)


def _body_bytes(event: Mapping[str, Any]) -> bytes | None:
    """The body's bytes (base64 decoded), None without a body; 400 undecodable, 413 too large."""
    body = event.get("body")
    if body is None or body == "":
        return None
    raw: bytes
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise errors.Invalid("the request body could not be decoded", code="invalid_body") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    return raw


def _check_json_body(event: Mapping[str, Any], raw: bytes) -> None:
    """A mutation's body is JSON: 415 another Content-Type, 400 not UTF-8 or not JSON; the resolver
    then gets the canonical Content-Type and the body as text."""
    content_type = _header_map(event).get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != JSON:
        raise errors.UnsupportedMediaType(
            "request bodies are JSON: send Content-Type: application/json", details={"content_type": content_type[:100]}
        )
    # Hand the resolver the canonical type (it compares case-sensitively and without parameters).
    headers = event.get("headers") or {}
    for name in [k for k in headers if str(k).lower() == "content-type"]:
        headers[name] = JSON  # type: ignore[index]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.Invalid("the request body is not UTF-8", code="invalid_body") from None
    try:
        jsontext.loads(text)
    except jsontext.Refused as refused:
        code, message = _BODY_REFUSALS[refused.reason]
        raise errors.Invalid(
            message, code=code, details={"fields": [{"field": "", "location": "body", "issue": refused.issue}]}
        ) from None
    if event.get("isBase64Encoded"):
        # Hand the resolver text, as API Gateway does for JSON bodies.
        event["body"] = text  # type: ignore[index]
        event["isBase64Encoded"] = False  # type: ignore[index]


# How a JSON body that jsontext refuses is answered (all 400).
_BODY_REFUSALS: dict[jsontext.Reason, tuple[str, str]] = {
    "invalid": ("invalid_json", "the request body is not valid JSON"),
    "too_deep": ("json_too_deep", f"the request body nests deeper than {jsontext.MAX_DEPTH} levels"),
    "lone_surrogate": ("invalid_body", "a string of the request body holds a lone surrogate (not Unicode text)"),
}


def _raw_error(exc: errors.AppError, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": JSON, "X-Request-Id": request_id, **exc.headers},
        "body": json.dumps(error_body(exc, request_id)),
        "isBase64Encoded": False,
    }


def _credential_digest(headers: Mapping[str, str]) -> str:
    """SHA-256 of the credential `authenticate` accepted (the dev identity header, else
    Authorization): the caller an Idempotency-Key belongs to. Never the credential itself."""
    dev_user = headers.get(DEV_HEADER)
    presented = f"dev {dev_user.strip()}" if dev_user is not None else headers.get("authorization", "").strip()
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()


def make_handler(app: APIGatewayHttpResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler: sets the request context, authenticates and admits the credential to
    the route (`access.admit`: its narrowing) before validation, so that an anonymous or narrowed
    caller learns nothing about a route's schema, then resolves."""

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
    )
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        rc = event.get("requestContext") or {}
        http = rc.get("http") or {}
        request_id = str(rc.get("requestId") or secrets.token_hex(8))
        rc.setdefault("requestId", request_id)
        headers = _header_map(event)
        ctx = RequestContext(
            request_id=request_id, ip=str(http.get("sourceIp", "")), user_agent=headers.get("user-agent", "")[:256]
        )
        set_current(ctx)
        if unmatched.is_default_route(event):
            return _raw_error(unmatched.error(str(http.get("method", "GET")), str(http.get("path", ""))), request_id)
        step = "body check"
        try:
            method = str(http.get("method", "GET")).upper()
            _check_body(event, method)
            route_key = str(event.get("routeKey") or "")
            if route_key not in PUBLIC_ROUTES:
                step = "authentication"
                ctx.principal = authenticate(headers, ctx.ip)
                ctx.credential = _credential_digest(headers)
                from strongroom.access import admit  # noqa: PLC0415 - with the data modules auth loaded

                admit(ctx.principal, method, route_key)
        except errors.AppError as exc:
            return _raw_error(exc, request_id)
        except Exception as exc:  # noqa: BLE001 - the envelope, never a trace
            logger.error("request entry failed unexpectedly", extra={"step": step, "error_type": type(exc).__name__})
            return _raw_error(errors.Internal("an internal error occurred"), request_id)
        response = app.resolve(event, context)
        response.setdefault("headers", {})["X-Request-Id"] = request_id
        return response

    return handler  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- idempotency


def _persistence() -> Any:
    from strongroom.data import idempotency  # noqa: PLC0415

    return idempotency.persistence()


def _idempotency(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """`Idempotency-Key` on an authenticated mutation: the first response is kept for
    IDEMPOTENCY_TTL_SECONDS, without the values its model marks shown-once, and replayed to a
    retry with the same key from the same credential; the same key with a different request is
    422. Requests no credential authenticated (device login) keep nothing: a key there would be
    shared by every anonymous caller."""
    from strongroom.context import current  # noqa: PLC0415

    event = app.current_event
    key = event.headers.get("idempotency-key") if event.headers else None
    credential = current().credential
    if event.http_method.upper() not in MUTATING or not key or not credential:
        return next_middleware(app)
    if len(key) > 255 or not key.isprintable():
        raise errors.Invalid(
            "Idempotency-Key must be 1-255 printable characters",
            details={"fields": [{"field": "Idempotency-Key", "location": "header", "issue": "invalid"}]},
        )
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function  # noqa: PLC0415
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from strongroom.config import settings  # noqa: PLC0415

    body = event.body or ""
    request = {
        "scope": f"{credential}|{event.http_method.upper()}|{event.path}|{key}",
        "body_sha256": hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=settings().idempotency_ttl_seconds,
        use_local_cache=False,
        hash_function="sha256",
    )
    config.register_lambda_context(app.lambda_context)
    declared = response_type(app.context["_route"].func)
    fresh: dict[str, Any] = {}

    @idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(), config=config, key_prefix="http"
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


# --------------------------------------------------------------------------- route helpers


def created(body: Any) -> Response[Any]:
    return Response(status_code=201, content_type=JSON, body=body)


def no_content() -> Response[str]:
    return Response(status_code=204, body="")
