"""Request-body checks before a route runs: base64 bodies decoded, more than 1 MiB is 413; a
mutation's body is JSON (415 another Content-Type, 400 not UTF-8, not JSON, too deep or holding a
lone surrogate: jsontext's limits)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from strongroom import errors
from strongroom.context import MUTATING
from strongroom.http import jsontext
from strongroom.http.envelope import JSON

MAX_BODY_BYTES = 1024 * 1024

# How a JSON body that jsontext refuses is answered (all 400).
_BODY_REFUSALS: dict[jsontext.Reason, tuple[str, str]] = {
    "invalid": ("invalid_json", "the request body is not valid JSON"),
    "too_deep": ("json_too_deep", f"the request body nests deeper than {jsontext.MAX_DEPTH} levels"),
    "lone_surrogate": ("invalid_body", "a string of the request body holds a lone surrogate (not Unicode text)"),
}


def header_map(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


FORM = "application/x-www-form-urlencoded"


def check_body(
    event: Mapping[str, Any],
    method: str,
    media_types: frozenset[str] = frozenset({JSON}),
    form_routes: frozenset[str] = frozenset(),
) -> None:
    """`media_types`: the JSON media types a body may be sent as (application/json; SCIM's
    application/scim+json too on /scim/v2); `form_routes`: the route keys whose body is an HTML
    form instead (SAML's HTTP-POST binding)."""
    raw = _body_bytes(event)
    if raw is not None and str(event.get("routeKey") or "") in form_routes:
        _check_form_body(event, raw)
    elif raw is not None and method in MUTATING:
        _check_json_body(event, raw, media_types)


def _check_form_body(event: Mapping[str, Any], raw: bytes) -> None:
    """A form's body: 415 another Content-Type, 400 not UTF-8; the resolver gets it as text."""
    content_type = header_map(event).get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        raise errors.UnsupportedMediaType(
            f"this request's body is a form: send Content-Type: {FORM}", details={"content_type": content_type[:100]}
        )
    headers = event.get("headers") or {}
    for name in [k for k in headers if str(k).lower() == "content-type"]:
        headers[name] = FORM  # type: ignore[index]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.Invalid("the request body is not UTF-8", code="invalid_body") from None
    event["body"] = text  # type: ignore[index]
    event["isBase64Encoded"] = False  # type: ignore[index]


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


def _check_json_body(event: Mapping[str, Any], raw: bytes, media_types: frozenset[str]) -> None:
    """A mutation's body is JSON: 415 another Content-Type, 400 not UTF-8 or not JSON; the resolver
    then gets the canonical Content-Type and the body as text."""
    content_type = header_map(event).get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type not in media_types:
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
