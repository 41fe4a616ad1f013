"""The probes: GET /health (DynamoDB and KMS; 503 when either fails), GET /healthz (liveness, no
dependency), GET /readyz (DynamoDB, KMS, the webhook queues; 503 naming what failed) and GET
/metrics (Prometheus text exposition; a platform admin, or the stack's METRICS_TOKEN)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from health_api import exposition
from strongroom.context import current
from strongroom.domain import health, probes
from strongroom.http.app import build_app, make_handler
from strongroom.http.body import header_map
from strongroom.http.envelope import JSON
from strongroom.models import Health, Liveness, Readiness
from strongroom.security import platform_admin
from strongroom.security.auth import authenticate

app = build_app()


@app.get(
    "/health", responses={200: {"description": "All dependencies answer"}, 503: {"description": "A dependency failed"}}
)
def get_health() -> Response[Health]:
    result = health.check()
    return Response(status_code=200 if result.status == "ok" else 503, content_type=JSON, body=result)


@app.get("/healthz", responses={200: {"description": "The function runs (no dependency is asked)"}})
def get_healthz() -> Liveness:
    return Liveness(status="alive")


@app.get(
    "/readyz",
    responses={200: {"description": "Every dependency answers"}, 503: {"description": "`failing` names what failed"}},
)
def get_readyz() -> Response[Readiness]:
    result = probes.readiness()
    return Response(status_code=200 if result.status == "ready" else 503, content_type=JSON, body=result)


@app.get(
    "/metrics",
    responses={
        200: {
            "description": "Prometheus text exposition of the store's gauges",
            "content": {exposition.MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
    },
)
def get_metrics() -> Response[str]:
    """401 without METRICS_TOKEN or a signed-in user; 403 for a user who is not a platform admin."""
    event = app.current_event.raw_event
    headers = header_map(event)
    bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not (bearer and probes.metrics_token_ok(bearer)):
        ctx = current()
        cookies = [str(c) for c in event.get("cookies") or []]
        who = authenticate(headers, ctx.ip, cookies=cookies, method="GET")
        platform_admin.admitted(who)
    return Response(status_code=200, content_type=exposition.CONTENT_TYPE, body=exposition.render(probes.gauges()))


lambda_handler = make_handler(app)
