"""The API's interactive documentation (Swagger UI at ``/docs``) with its assets served by the server.

FastAPI's default ``/docs`` page loads Swagger UI's script and stylesheet from a CDN, so on a closed
government network it is blank. This page is FastAPI's own (``get_swagger_ui_html``, the documented
way to self-host the docs' assets), pointed at the copy of Swagger UI that the ``swagger-ui-bundle-v2``
package ships (``swagger_ui_bundle.swagger_ui_path``), served at ``/docs/assets/``. Nothing leaves
the server's origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def swagger_ui_dir() -> Path:
    """The folder of Swagger UI's files in the installed ``swagger-ui-bundle-v2`` package."""
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def mount_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` (the app must be created with ``docs_url=None``) from local assets."""
    assets = swagger_ui_dir()
    title = f"{app.title} - Swagger UI"
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_PATH}/oauth2-redirect"

    @app.get(DOCS_PATH, include_in_schema=False)
    def _swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @app.get(redirect_url, include_in_schema=False)
    def _swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="swagger-ui")
