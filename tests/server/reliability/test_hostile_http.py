"""Hostile input at the HTTP layer: generated requests from our own OpenAPI document, oversized
bodies, malformed JSON, and slow clients against a real uvicorn.

``tests/server/test_fuzz_no_500.py`` already sends generated requests to the session, mobile,
admin and PKI routes and asserts no 5xx; here every route (CSC and organization codes included)
is exercised and each answer must also fit the response schema the document declares.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.runner import PROTOCOL, REQUEST_READ_TIMEOUT_SECONDS, DeadlineHttpProtocol, protocol_with_read_timeout
from esign_server.schemas.orgids import ImportRejectedBody
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ..conftest import Integrator, Person, register_client

DEADLINE = 3.0
"""The request deadline of the slow-client tests (``esign server run`` uses 20 s)."""
EXAMPLES_PER_OPERATION = 4
"""Bounded: about 60 operations x 4 examples, a few seconds per database (bench-style longer runs: raise it)."""


def test_generated_requests_get_no_5xx_and_answers_fit_the_schema(ctx: ServerContext, person: Person) -> None:
    caller = register_client(ctx, ["sessions", "admin", "csc"], name="schemathesis")
    app = create_app(ctx=ctx)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesis: .example() outside @given is meant for exploration
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # an Err here is a broken document: let it raise
            if operation.path.endswith("/events"):
                continue  # the SSE stream never ends by design (tested in test_admin_and_enrollment)
            operations += 1
            strategy = operation.as_strategy()
            for _ in range(EXAMPLES_PER_OPERATION):
                case = strategy.example()
                headers = {"Authorization": f"Bearer {caller.token}"}
                try:
                    response = case.call(headers=headers)
                    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
                except (Exception, BaseExceptionGroup) as exc:  # a failed check, or the app raising
                    failures.append(f"{operation.method.upper()} {operation.path}: {_first_lines(exc)}")
    assert operations > 40
    assert failures == [], "\n".join(failures[:20])


def _first_lines(exc: BaseException) -> str:
    text = str(exc) if not isinstance(exc, BaseExceptionGroup) else " | ".join(str(e) for e in exc.exceptions)
    return " ".join(text.split())[:400]


async def test_refused_import_answers_in_its_declared_schema(http: httpx.AsyncClient, admin: Integrator) -> None:
    # Regression (found by schemathesis): an empty file was refused without the ``errors`` list the
    # 400 schema required. Checked against the document the server publishes.
    document = (await http.get("/openapi.json")).json()
    declared = document["paths"]["/api/orgids/import"]["post"]["responses"]["400"]
    ref = declared["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    for body in (b"", b"\xff\xfe"):
        r = await http.post("/api/orgids/import", content=body, headers={**admin.headers, "Content-Type": "text/csv"})
        assert r.status_code == 400, r.text
        ImportRejectedBody.model_validate(r.json(), strict=True)
        required = document["components"]["schemas"][ref].get("required", [])
        assert set(required) <= set(r.json()), (required, r.json())


async def test_oversized_body_is_refused_with_413_before_parsing(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator
) -> None:
    limit = ctx.settings.max_body_bytes
    declared = await http.post(
        "/api/sessions",
        content=b"{" + b" " * (limit + 1) + b"}",
        headers={**integrator.headers, "Content-Type": "application/json"},
    )
    assert declared.status_code == 413 and declared.json()["error"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = await http.post(
        "/api/sessions", content=chunks(), headers={**integrator.headers, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "payload_too_large", streamed.text
    bogus = await http.post("/api/sessions", content=b"{}", headers={**integrator.headers, "Content-Length": "x1"})
    assert bogus.status_code == 400


async def test_nul_characters_never_cause_a_server_error(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, integrator: Integrator
) -> None:
    # Regression (found by the schemathesis test on PostgreSQL): text with a NUL character reached
    # PostgreSQL, which refuses it (DataError), and the client got 500. Now 400 there; SQLite
    # stores such text, so there the request may succeed; neither answers 5xx.
    csc = register_client(ctx, ["csc"], name="NUL")
    postgres = not ctx.db.is_sqlite
    for method, path, body, headers in (
        ("POST", "/api/admin/clients", {"name": "a\x00b", "scopes": ["sessions"]}, admin.headers),
        ("POST", "/csc/v2/credentials/info", {"credentialID": "x\x00y"}, csc.headers),
        ("POST", "/csc/v2/credentials/getChallenge", {"credentialID": "\x00"}, csc.headers),
        ("GET", "/api/sessions/a%00b", None, integrator.headers),
        ("GET", "/api/orgids?name=H%00", None, {}),
    ):
        r = await http.request(method, path, json=body, headers=headers)
        assert r.status_code < 500, (path, r.status_code, r.text[:200])
        if postgres or r.status_code >= 400:
            assert 400 <= r.status_code < 500 and r.json()["error"], (path, r.status_code, r.text[:200])


async def test_malformed_json_is_refused_with_a_json_4xx(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    bodies = [b"{", b"[]", b'{"credential_id": ', b"\xff\xfe{}", b'{"items": "x"}', b"null", b'"' + b"[" * 5000]
    # Nested past the parser's recursion limit (a RecursionError used to answer 500, even unauthenticated).
    bodies += [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"[" * 100_000 + b"]" * 100_000]
    for path, headers in (
        ("/api/sessions", integrator.headers),
        ("/api/mobile/sessions/x/confirm", {"Authorization": f"Bearer {person.device_token}"}),
        ("/csc/v2/signatures/signHash", integrator.headers),
        ("/oauth2/token", {}),
        ("/csc/v2/oauth2/token", {}),
        ("/api/mobile/pair", {}),
        ("/api/mobile/pair/start", {}),
    ):
        for body in bodies:
            response = await http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
            assert 400 <= response.status_code < 500, (path, body[:20], response.status_code, response.text[:200])
            assert "error" in response.json()


@pytest.fixture
def deadline_server(ctx: ServerContext) -> Iterator[tuple[str, int]]:
    """The app under a real uvicorn with the server's request deadline, shortened to ``DEADLINE``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(ctx=ctx), log_level="warning", http=protocol_with_read_timeout(DEADLINE))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield "127.0.0.1", int(sock.getsockname()[1])
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing ``sock``, or None if it is still open after ``seconds``."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def _still_open(sock: socket.socket) -> bool:
    """True when the server has neither answered nor closed ``sock`` (nothing to read, no EOF)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def test_server_run_uses_the_request_deadline() -> None:
    assert PROTOCOL == f"{DeadlineHttpProtocol.__module__}:{DeadlineHttpProtocol.__name__}"
    assert DeadlineHttpProtocol.read_timeout == REQUEST_READ_TIMEOUT_SECONDS


def test_slow_clients_time_out_and_others_are_served_meanwhile(
    deadline_server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: uvicorn has no deadline for a request to arrive; half-sent requests and silent
    # connections stayed open for good (measured: still open after 36 s) until the worker ran
    # out of file descriptors. Now: 408 and closed after the deadline.
    host, port = deadline_server
    slow = [socket.create_connection((host, port)) for _ in range(30)]
    try:
        for n, sock in enumerate(slow):
            if n % 3 == 0:
                sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never end
            elif n % 6 == 1:  # a body that never arrives: 100 bytes promised, 1 sent
                sock.sendall(
                    b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n\r\ng"
                )
            elif n % 3 == 1:  # the same with a JSON body, on a route that needs no login
                sock.sendall(
                    b"POST /api/mobile/pair HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                    b"Content-Type: application/json\r\n\r\n{"
                )
            # else: connected, silent
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
            for _ in range(5):
                assert client.get("/health").status_code == 200
        # Served while the slow connections are still held (not after they were dropped): none of
        # them has been answered or closed yet.
        assert all(_still_open(sock) for sock in slow)
        for n, sock in enumerate(slow):
            answer = _closed_within(sock, DEADLINE + 5)
            assert answer is not None, "a slow connection is still open after the deadline"
            assert answer.startswith(b"HTTP/1.1 408 ") or (n % 3 == 2 and answer == b""), answer[:100]
    finally:
        for sock in slow:
            sock.close()
    # The bodies cut off by the deadline are logged as client disconnects, not as server failures.
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], failures


def test_a_request_that_arrives_in_time_is_served_on_a_deadline_server(deadline_server: tuple[str, int]) -> None:
    host, port = deadline_server
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        time.sleep(1.0)  # slow, but within the deadline
        sock.sendall(b"\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        time.sleep(DEADLINE + 0.5)  # idle keep-alive after a response is uvicorn's timeout (30 s), not ours
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
