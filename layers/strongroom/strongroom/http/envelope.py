"""The one error envelope: `{"error": {code, message, details, request_id}}`, as a resolver
response, as a raw Lambda proxy answer (before the resolver runs), and the validation failures
described by field without echoing the input (it may be a secret)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from strongroom import errors

JSON = "application/json"


def error_body(exc: errors.AppError, request_id: str) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "details": exc.details, "request_id": request_id}}


def error_response(exc: errors.AppError, request_id: str) -> Response[Any]:
    headers = {"X-Request-Id": request_id, **exc.headers}
    return Response(
        status_code=exc.status, content_type=JSON, body=json.dumps(error_body(exc, request_id)), headers=headers
    )


def raw_error(exc: errors.AppError, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": JSON, "X-Request-Id": request_id, **exc.headers},
        "body": json.dumps(error_body(exc, request_id)),
        "isBase64Encoded": False,
    }


def validation_details(raw_errors: Iterable[Mapping[str, Any]]) -> tuple[str, str, dict[str, Any]]:
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
