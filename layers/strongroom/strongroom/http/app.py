"""The app factory every API function uses: one resolver, one error envelope (envelope.py), one
auth point, the body checks (body.py), idempotency (idempotency.py), and the same decorator stack;
the parameters and answers routes share are in params.py.

    app = build_app()

    @app.get("/v1/things")
    def list_things() -> ThingList: ...

    lambda_handler = make_handler(app)
"""

from __future__ import annotations

import secrets
import traceback
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from strongroom import errors
from strongroom.context import MUTATING, RequestContext, set_current
from strongroom.domain import ratelimit
from strongroom.http import idempotency, unmatched
from strongroom.http.body import check_body, header_map
from strongroom.http.envelope import JSON, error_response, raw_error, validation_details
from strongroom.observability import log_metrics, logger, metrics
from strongroom.security.access import ORG_ROUTES
from strongroom.security.auth import authenticate

# Routes that authenticate nobody: the health check, device login's start and poll (RFC 8628),
# password registration and login, the routes a mailed token authorizes (account_mail), single
# sign-on's domain lookup, SAML metadata and sign-in (domain/sso.py: the state and its cookie
# authorize; domain/sso_saml.py: the signed Response), a machine identity's token exchange (its
# credential is the proof: domain/identities.py), the web console's page and files (static; what
# it then calls authenticates as any client does), the probes (/metrics checks METRICS_TOKEN or a
# platform admin itself) and Stripe's webhook (its signature is the proof: functions/billing).
PUBLIC_ROUTES = frozenset(
    {
        "GET /health",
        "POST /v1/auth/device/start",
        "POST /v1/auth/device/token",
        "POST /v1/auth/register",
        "POST /v1/auth/login",
        "POST /v1/auth/verify-email",
        "POST /v1/auth/forgot-password",
        "POST /v1/auth/reset-password",
        "POST /v1/auth/identity/token",
        "GET /v1/sso/by-domain",
        "GET /v1/sso/oidc/authorize",
        "GET /v1/sso/oidc/callback",
        "GET /v1/sso/saml/metadata",
        "GET /v1/sso/saml/authorize",
        "POST /v1/sso/saml/acs",
        "GET /",
        "GET /device",
        "GET /verify-email",
        "GET /reset-password",
        "GET /console/{asset}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "POST /v1/billing/webhook",
    }
)
# Not rate limited (domain/ratelimit.py): the probes (a liveness probe depends on nothing; /metrics
# is scraped), and Stripe's webhook (its few source IPs would share the anonymous limit).
UNLIMITED_ROUTES = frozenset({"GET /health", "GET /healthz", "GET /readyz", "GET /metrics", "POST /v1/billing/webhook"})


def _request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


# How an error is answered: by the resolver (a Response), and before it runs (a raw proxy answer).
ErrorResponse = Callable[[errors.AppError, str], Response[Any]]
RawError = Callable[[errors.AppError, str], dict[str, Any]]


def build_app(*, render: ErrorResponse = error_response) -> APIGatewayHttpResolver:
    """`render`: the error shape (the envelope; SCIM's own for functions/scim)."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(errors.AppError)
    def _app_error(exc: errors.AppError) -> Response[Any]:
        if exc.status >= 500:
            logger.warning("request failed", extra={"error_code": exc.code, "status": exc.status})
        return render(exc, _request_id(app))

    @app.exception_handler(errors.Held)
    def _held(exc: errors.Held) -> Response[Any]:
        return Response(status_code=exc.status, content_type=JSON, body=exc.body.model_dump_json())

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        code, message, details = validation_details(exc.errors())
        return render(errors.Invalid(message, details=details, code=code), _request_id(app))

    @app.not_found
    def _not_found(_exc: Exception) -> Response[Any]:
        event = app.current_event
        return render(unmatched.error(event.http_method, event.path), _request_id(app))

    @app.exception_handler(Exception)
    def _unhandled(exc: Exception) -> Response[Any]:
        # The type and the innermost frame only: messages and tracebacks may carry data.
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
        logger.error("unhandled error", extra={"error_type": type(exc).__name__, "where": where})
        metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
        return render(errors.Internal("an internal error occurred"), _request_id(app))

    app.use([idempotency.middleware])
    return app


# --------------------------------------------------------------------------- entry point

_REFS = ("org", "project", "env")


def _route_refs(ctx: RequestContext, event: dict[str, Any], method: str, route_key: str) -> None:
    """What an org route names, for the read-ahead of its caller's reads (data/readahead.py)."""
    ctx.mutating = method in MUTATING
    if route_key.partition(" ")[2].startswith(ORG_ROUTES):
        params = event.get("pathParameters") or {}
        ctx.refs = {name: str(params[name]) for name in _REFS if params.get(name)}


def _refused_counted(exc: errors.AppError, step: str, route_key: str, ctx: RequestContext) -> errors.AppError:
    """A request refused before its rate limit was counted (its body, its credential) counts
    against its source IP, and its answer carries the headers (or is that IP's 429)."""
    if step == "rate limit" or route_key in UNLIMITED_ROUTES:
        return exc
    try:
        counted = ratelimit.admit(None, ctx)
    except errors.Throttled as throttled:
        return throttled
    except errors.AppError:
        return exc  # the store failed too: the first refusal stands
    if counted is not None:
        exc.headers = {**counted.headers(), **exc.headers}
    return exc


def make_handler(
    app: APIGatewayHttpResolver,
    *,
    raw: RawError = raw_error,
    media_types: frozenset[str] = frozenset({JSON}),
    form_routes: frozenset[str] = frozenset(),
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler: sets the request context, authenticates and admits the credential to
    the route (`access.admit`: its narrowing) before validation, so that an anonymous or narrowed
    caller learns nothing about a route's schema, then resolves. `raw`: the error shape before the
    resolver runs; `media_types`: the Content-Types a body may have (JSON; SCIM's too for SCIM);
    `form_routes`: route keys whose body is a form (check_body)."""

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
    )
    @log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        rc = event.get("requestContext") or {}
        http = rc.get("http") or {}
        request_id = str(rc.get("requestId") or secrets.token_hex(8))
        rc.setdefault("requestId", request_id)
        headers = header_map(event)
        ctx = RequestContext(
            request_id=request_id, ip=str(http.get("sourceIp", "")), user_agent=headers.get("user-agent", "")[:256]
        )
        set_current(ctx)
        if unmatched.is_default_route(event):
            return raw(unmatched.error(str(http.get("method", "GET")), str(http.get("path", ""))), request_id)
        step = "body check"
        counted: ratelimit.Verdict | None = None
        route_key = str(event.get("routeKey") or "")
        try:
            method = str(http.get("method", "GET")).upper()
            check_body(event, method, media_types, form_routes)
            if route_key not in PUBLIC_ROUTES:
                step = "authentication"
                _route_refs(ctx, event, method, route_key)
                cookies = [str(c) for c in event.get("cookies") or []]
                ctx.principal = authenticate(headers, ctx.ip, cookies=cookies, method=method)
                ctx.credential = idempotency.credential_digest(headers, cookies)
                from strongroom.security.access import admit  # noqa: PLC0415 - with the data modules auth loaded

                admit(ctx.principal, method, route_key)
            if route_key not in UNLIMITED_ROUTES:
                step = "rate limit"
                counted = ratelimit.admit(ctx.principal, ctx)
        except errors.AppError as exc:
            return raw(_refused_counted(exc, step, route_key, ctx), request_id)
        except Exception as exc:  # noqa: BLE001 - the envelope, never a trace
            logger.error("request entry failed unexpectedly", extra={"step": step, "error_type": type(exc).__name__})
            return raw(errors.Internal("an internal error occurred"), request_id)
        response = app.resolve(event, context)
        headers = response.setdefault("headers", {})
        headers["X-Request-Id"] = request_id
        if counted is not None:
            headers.update(counted.headers())
        return response

    return handler  # type: ignore[no-any-return]
