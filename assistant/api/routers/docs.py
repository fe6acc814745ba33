"""The API documentation page (/docs): Swagger UI served from files in the package, no CDN (its CSP allows 'self')."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from ...errors import NotFoundError

router = APIRouter(include_in_schema=False)
STATIC = FilePath(__file__).resolve().parents[1] / "static"
ASSETS = {  # name -> media type; swagger-ui-dist 5.35.0 from npm (Apache-2.0: LICENSE-swagger-ui, NOTICE-swagger-ui)
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-init.js": "text/javascript; charset=utf-8",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tariff Classification Assistant - API documentation</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/docs/static/{name}")
def asset(name: Annotated[str, Path(max_length=64)]) -> FileResponse:
    if name not in ASSETS:
        raise NotFoundError(f"no documentation asset {name[:64]!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})


@router.get("/redoc")
def redoc() -> RedirectResponse:
    """ReDoc is not shipped (one documentation page, one vendored bundle): readers go to /docs."""
    return RedirectResponse("/docs", status_code=308)
