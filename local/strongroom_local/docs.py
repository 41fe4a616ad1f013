"""Local-only pages: the committed OpenAPI document and a Swagger UI that reads it.

Swagger UI's script and stylesheet are the copies Powertools ships, served from /docs/…, so the
page works offline.
"""

from __future__ import annotations

import html
from importlib.util import find_spec
from pathlib import Path

from strongroom_local.events import HttpResponse
from strongroom_local.template import ROOT

OPENAPI = ROOT / "docs" / "openapi.json"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
_ASSETS = {
    "/docs/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "text/javascript; charset=utf-8"),
    "/docs/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="/docs/swagger-ui.min.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.min.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{spec_url}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


def _swagger_assets_dir() -> Path | None:
    spec = find_spec("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_docs_path(method: str, path: str) -> bool:
    return method.upper() in {"GET", "HEAD"} and (path in {OPENAPI_PATH, DOCS_PATH, f"{DOCS_PATH}/"} or path in _ASSETS)


def serve(path: str, openapi: Path | None = None) -> HttpResponse | None:
    """The response for a local documentation path, or None when there is nothing to serve."""
    if path == OPENAPI_PATH:
        openapi = openapi or OPENAPI  # read at call time: the file may appear while the server runs
        if not openapi.is_file():
            return None
        return HttpResponse(200, [("Content-Type", "application/json")], openapi.read_bytes())
    if path in {DOCS_PATH, f"{DOCS_PATH}/"}:
        page = _PAGE.format(title=html.escape("Strongroom API (local)"), spec_url=OPENAPI_PATH)
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())
    if path in _ASSETS:
        name, content_type = _ASSETS[path]
        assets = _swagger_assets_dir()
        if assets is None or not (assets / name).is_file():
            return None
        return HttpResponse(
            200, [("Content-Type", content_type), ("Cache-Control", "max-age=3600")], (assets / name).read_bytes()
        )
    return None
