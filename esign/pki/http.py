"""A small HTTP service for a dev PKI: OCSP, CRLs, CA certificates and RFC 3161 time-stamps.

For the library's own tests and for users without the server; the server has its own endpoints.
Binds to 127.0.0.1 only. It answers at the paths the PKI's certificates name: a PKI created with
``base_url="http://127.0.0.1:8751/pki"`` is served at ``/pki/ocsp``, ``/pki/crl``, ``/pki/tsa`` … (the
layout of the server's ``/pki/...``), one created with a bare ``http://127.0.0.1:PORT`` at ``/ocsp`` ….
"""

from __future__ import annotations

import base64
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives import serialization

from esign.pki.dev import DevPKI
from esign.pki.revocation import make_crl

log = logging.getLogger("esign.pki.http")
MAX_REQUEST = 64 * 1024


class PKIServer(ThreadingHTTPServer):
    """The HTTP server; ``url`` is its base URL."""

    daemon_threads = True
    pki: DevPKI
    prefix: str = ""
    """Path the PKI's URLs start with (``/pki``), or empty."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: PKIServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _local(self, path: str) -> str:
        # The path below the PKI's prefix; anything outside it matches no route.
        prefix = self.server.prefix
        if not prefix:
            return path
        return path[len(prefix) :] if path.startswith(prefix + "/") else ""

    def do_GET(self) -> None:
        pki = self.server.pki
        path = self._local(self.path.split("?", 1)[0])
        der = serialization.Encoding.DER
        if path == "/crl":
            self._send(200, pki.crl(), "application/pkix-crl")
        elif path == "/root-crl":
            self._send(200, pki.root_crl(), "application/pkix-crl")
        elif path == "/ca.cer":
            self._send(200, pki.issuing_ca.certificate.public_bytes(der), "application/pkix-cert")
        elif path == "/ca.pem":
            self._send(200, pki.chain_pem_path.read_bytes(), "application/x-pem-file")
        elif path.startswith("/ocsp/"):
            try:
                request = base64.b64decode(unquote(path[len("/ocsp/") :]), validate=False)
            except ValueError:
                request = b""
            self._send(200, pki.ocsp.respond(request), "application/ocsp-response")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_REQUEST:
            self._send(413 if length > MAX_REQUEST else 400, b"bad request size", "text/plain")
            return
        body = self.rfile.read(length)
        path = self._local(self.path)
        if path == "/ocsp":
            self._send(200, self.server.pki.ocsp.respond(body), "application/ocsp-response")
        elif path == "/tsa":
            self._send(200, self.server.pki.tsa.respond(body), "application/timestamp-reply")
        else:
            self._send(404, b"not found", "text/plain")


def url_port(base_url: str) -> int:
    """The TCP port of a PKI's base URL (80 or 443 when it names none)."""
    parts = urlsplit(base_url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def serve_pki(pki: DevPKI, port: int = 0, host: str = "127.0.0.1") -> tuple[PKIServer, threading.Thread]:
    """Start the service in a daemon thread; ``port=0`` picks a free port. Stop with ``server.shutdown()``.

    Routes sit under the path of ``pki.base_url`` (see the module note). ``OSError`` when the port
    is taken.
    """
    server = PKIServer((host, port), _Handler)
    server.pki = pki
    server.prefix = urlsplit(pki.base_url).path.rstrip("/")
    thread = threading.Thread(target=server.serve_forever, name="esign-pki-http", daemon=True)
    thread.start()
    return server, thread


__all__ = ["PKIServer", "make_crl", "serve_pki", "url_port"]
