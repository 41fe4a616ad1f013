"""GET /health: no auth; checks DynamoDB and KMS; 503 when either fails."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from strongroom.domain import health
from strongroom.http.app import build_app, make_handler
from strongroom.http.envelope import JSON
from strongroom.models import Health

app = build_app()


@app.get(
    "/health", responses={200: {"description": "All dependencies answer"}, 503: {"description": "A dependency failed"}}
)
def get_health() -> Response[Health]:
    result = health.check()
    return Response(status_code=200 if result.status == "ok" else 503, content_type=JSON, body=result)


lambda_handler = make_handler(app)
