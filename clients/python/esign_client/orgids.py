"""The organization identifier registry of an esign server over HTTP (``/api/orgids``).

Lookups need only the server's URL; changes (issue, amend, close, import) need an admin client's
credentials (client-credentials grant, scope ``admin``)::

    from esign_client.orgids import OrgIdClient
    with OrgIdClient(URL, client_id=ADMIN_ID, client_secret=ADMIN_SECRET) as registry:
        code = registry.issue("Phường Bến Nghé", parent="H29.45")["code"]
        registry.close(code, reason="sáp nhập", successor="H29.46")
"""

from __future__ import annotations

from typing import Any

import httpx

from esign_client._base import Auth
from esign_client.errors import ApiError


class OrgIdClient:
    """Blocking client of the registry; every refusal is an :class:`~esign_client.errors.ApiError`
    (an import's bad rows are in ``ApiError.body["errors"]``, each with its ``line``)."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._auth = (
            Auth(client_id, client_secret, access_token, scope="admin")
            if access_token or (client_id and client_secret)
            else None
        )

    def _admin_headers(self) -> dict[str, str]:
        if self._auth is None:
            raise ApiError(401, "unauthorized", "this change needs an admin client (client_id and client_secret)")
        if not self._auth.access_token:
            path, form = self._auth.token_request()
            self._auth.take(self._http.post(path, data=form))
        return self._auth.headers()

    def _send(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **(self._admin_headers() if admin else {})}
        response = self._http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def get(self, code: str) -> dict[str, Any]:
        """A code and the organization it names."""
        return dict(self._json("GET", f"/api/orgids/{code}"))

    def history(self, code: str) -> list[dict[str, Any]]:
        """A code's events, oldest first."""
        return list(self._json("GET", f"/api/orgids/{code}/history")["events"])

    def search(
        self,
        *,
        name: str | None = None,
        prefix: str | None = None,
        level: int | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Codes by name (diacritics optional), prefix, level, status: ``{"items": [...], "total": n}``."""
        params = {k: v for k, v in {"name": name, "prefix": prefix, "level": level, "status": status}.items() if v}
        return dict(self._json("GET", "/api/orgids", params={**params, "limit": limit}))

    def children(self, code: str) -> list[dict[str, Any]]:
        """The codes one level below ``code``."""
        return list(self._json("GET", f"/api/orgids/{code}/children"))

    def status(self, code: str) -> dict[str, Any]:
        """Whether the registry knows ``code`` as active (``{"active": bool, ...}``)."""
        return dict(self._json("GET", f"/api/orgids/{code}/status"))

    def export(self, fmt: str = "csv") -> bytes:
        """The whole registry as CSV or JSON (the form :meth:`import_codes` takes)."""
        return self._send("GET", "/api/orgids/export", params={"format": fmt}).content

    def issue(
        self,
        name: str,
        *,
        parent: str | None = None,
        group: str | None = None,
        code: str | None = None,
        address: str = "",
        details: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Issue a code to a new organization (the next free one under ``parent``, or ``code``)."""
        body = {"name": name, "parent": parent, "group": group, "code": code, "address": address, "details": details}
        return dict(self._json("POST", "/api/orgids", json=body, admin=True))

    def amend(
        self, code: str, *, name: str | None = None, address: str | None = None, details: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Change an active code's name, address or details (``details`` replaces them all)."""
        body = {k: v for k, v in {"name": name, "address": address, "details": details}.items() if v is not None}
        return dict(self._json("PATCH", f"/api/orgids/{code}", json=body, admin=True))

    def close(self, code: str, *, reason: str, successor: str | None = None) -> dict[str, Any]:
        """Close a code for good (never issued again); the answer warns of live certificates naming it."""
        body = {"reason": reason, "successor": successor}
        return dict(self._json("POST", f"/api/orgids/{code}/close", json=body, admin=True))

    def import_codes(self, data: bytes, *, fmt: str = "csv") -> dict[str, Any]:
        """Import codes from CSV or JSON: every row or none (``{"created": n, "unchanged": m}``)."""
        content_type = "text/csv" if fmt == "csv" else "application/json"
        return dict(
            self._json(
                "POST",
                "/api/orgids/import",
                params={"format": fmt},
                content=data,
                headers={"Content-Type": content_type},
                admin=True,
            )
        )

    def close_connection(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> OrgIdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()
