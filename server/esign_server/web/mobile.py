"""Serve the mobile confirmation app (``clients/mobile``) at ``/m/`` with strict security headers.

The app is plain HTML/CSS/JS with no inline script or style, so its Content-Security-Policy allows
only this origin: an injected ``<script>`` or a framing page gets nowhere near a confirmation.

>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> mount_mobile_app(app) is not None  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MOUNT_PATH = "/m"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "manifest-src 'self'; worker-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The page, the service worker and the translations change with each release: always revalidate
# them; icons may be cached for a day.
_REVALIDATE = (".html", ".js", ".json", ".webmanifest", ".css")


def default_mobile_dir() -> Path | None:
    """Where the app's files are: ``$ESIGN_MOBILE_DIR``, else the copy beside this module.

    ``mobile_app`` is a link to ``clients/mobile`` in the source tree, and a folder of the same files
    in the wheel, so an installed server serves the app without the checkout.
    """
    configured = os.environ.get("ESIGN_MOBILE_DIR")
    if configured:
        return Path(configured)
    candidate = (Path(__file__).parent / "mobile_app").resolve()
    return candidate if (candidate / "index.html").is_file() else None


class MobileAppFiles(StaticFiles):
    """Static files with the app's security and caching headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file (``index.html`` for the folder) with security headers added."""
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        if path in ("", ".") or path.endswith(_REVALIDATE):
            response.headers["Cache-Control"] = "no-cache"
        else:
            response.headers.setdefault("Cache-Control", "public, max-age=86400")
        if path.endswith(".webmanifest"):
            response.headers["Content-Type"] = "application/manifest+json"
        if path.endswith("sw.js"):
            response.headers["Service-Worker-Allowed"] = f"{MOUNT_PATH}/"
        return response


def mount_mobile_app(app: FastAPI, directory: Path | None = None) -> Path | None:
    """Mount the app at ``/m/`` (and redirect ``/m`` there); returns the folder, None when absent."""
    directory = directory or default_mobile_dir()
    if directory is None or not (directory / "index.html").is_file():
        return None

    @app.get(MOUNT_PATH, include_in_schema=False)
    def _mobile_root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/", status_code=308)

    app.mount(MOUNT_PATH, MobileAppFiles(directory=directory, html=True), name="mobile")
    return directory
