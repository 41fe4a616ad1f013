"""The web console: one page, its script and styles, served by the API itself (same origin, no CDN).

`GET /` and the paths that mail and device login link to (`/device`, `/verify-email`,
`/reset-password`) answer the same page (index.html), which reads its path and renders the view;
in-app navigation is by `#/` fragments. `GET /console/<asset>` answers the files of `static/`
(the console's own ES module and CSS, and Pico CSS vendored from npm by scripts/vendor_console.py).
Every answer of this function, errors included, carries the same security headers (`HEADERS`):
a strict Content-Security-Policy (scripts, styles and requests from this origin only, no inline
script, no framing) and X-Frame-Options: DENY. It touches no AWS service.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from strongroom.errors import NotFound
from strongroom.http.app import build_app, make_handler

STATIC = Path(__file__).resolve().with_name("static")
PAGE = "index.html"
HTML = "text/html; charset=utf-8"
# The files /console/<asset> serves, with their media types; nothing else is served.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "pico.min.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Pico draws its checkboxes and select arrows as data: SVG images, hence img-src data:.
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
Asset = Annotated[str, PathParam(description="A file of the console", pattern=r"^[a-z0-9][a-z0-9.-]{0,63}$")]


def _content(media_types: set[str], description: str) -> dict[int, OpenAPIResponse]:
    """The OpenAPI answer of a console route: a text body of these media types."""
    content = {t.split(";", maxsplit=1)[0]: {"schema": {"type": "string"}} for t in sorted(media_types)}
    return {200: {"description": description, "content": content}}  # type: ignore[typeddict-item]


PAGE_RESPONSES = _content({HTML}, "The console's page")


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _page() -> Response[str]:
    return Response(status_code=200, content_type=HTML, body=_read(PAGE))


app = build_app()


@app.get("/", responses=PAGE_RESPONSES)
def console_home() -> Response[str]:
    """The console (sign-in, then orgs → projects → environments); no credentials needed to load it."""
    return _page()


@app.get("/device", responses=PAGE_RESPONSES)
def console_device() -> Response[str]:
    """The console's device login page (`verification_uri`): the code shown, Approve or Deny."""
    return _page()


@app.get("/verify-email", responses=PAGE_RESPONSES)
def console_verify_email() -> Response[str]:
    """The console's page a verification mail links to (`?token=`)."""
    return _page()


@app.get("/reset-password", responses=PAGE_RESPONSES)
def console_reset_password() -> Response[str]:
    """The console's page a password-reset mail links to (`?token=`)."""
    return _page()


@app.get(
    "/console/<asset>", responses=_content(set(ASSETS.values()), "A file of the console (script, style sheet, icon)")
)
def console_asset(asset: Asset) -> Response[str]:
    """The console's script, styles and icon."""
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise NotFound("no such file")
    return Response(status_code=200, content_type=media_type, body=_read(asset))


_handler = make_handler(app)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Every response of the console, errors too, with the security headers."""
    response = _handler(event, context)
    response.setdefault("headers", {}).update(HEADERS)
    return response
