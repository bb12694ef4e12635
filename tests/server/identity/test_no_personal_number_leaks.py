"""A scan of everything the service writes down or reports: structured logs, the audit table, validation
reports and the phone's view must never carry a whole personal number from the test data, unless an
admin asked for it (``reveal=true``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.logs import JsonFormatter, configure_logging
from sqlalchemy import text

from tests.esign.pdf.samples import make_pdf

from ..conftest import Integrator, authorise_over_http
from .conftest import CCCD, CMND, NEW_CCCD, PERSONAL_NUMBERS, create_user, issue, pair_phone, sign_documents, verify


@pytest.fixture
def structured_logs() -> Iterator[io.StringIO]:
    """The service's JSON log lines (the formatter its handler uses), at INFO so access lines show too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("esign_server")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def leaks(where: str, content: str) -> list[str]:
    """``where: number`` for each whole personal number of the test data in ``content``."""
    return [f"{where}: {number}" for number in PERSONAL_NUMBERS if number in content]


async def test_logs_audit_and_reports_never_carry_a_whole_personal_number(
    http: httpx.AsyncClient,
    admin: Integrator,
    integrator: Integrator,
    ctx: ServerContext,
    structured_logs: io.StringIO,
) -> None:
    shown: dict[str, str] = {}
    user_id = await create_user(http, admin)
    duplicate = await http.post("/api/admin/users", json={"full_name": "X", "cccd": CCCD}, headers=admin.headers)
    assert duplicate.status_code == 409
    shown["duplicate user"] = duplicate.text
    wrong = await verify(http, admin, user_id, method="in_person", document={"kind": "CCCD", "number": NEW_CCCD})
    assert wrong.status_code == 400
    shown["refused verification"] = wrong.text
    old_card = await verify(http, admin, user_id, method="in_person", document={"kind": "CMND", "number": CMND})
    shown["verification"] = old_card.text
    shown["verification list"] = (
        await http.get(f"/api/admin/users/{user_id}/identity-verifications", headers=admin.headers)
    ).text
    cred = (await issue(http, admin, user_id)).json()
    await authorise_over_http(http, admin, user_id, integrator)
    phone = await pair_phone(http, admin, user_id)
    [pdf] = await sign_documents(
        http, integrator, cred["id"], phone, [{"name": "don.pdf", "format": "pdf", "content": make_pdf()}]
    )
    pdf_headers = {**integrator.headers, "Content-Type": "application/pdf"}
    report = await http.post("/api/verify", content=pdf, headers=pdf_headers)
    assert report.json()["indication"] == "TOTAL-PASSED"
    shown["validation report"] = report.text
    phone_view = await http.get(
        "/api/mobile/sessions", params={"state": "history"}, headers={"Authorization": f"Bearer {phone[1]}"}
    )
    shown["phone view"] = phone_view.text
    # The user types personal numbers into a free-text reason; it is kept for the relying system,
    # but the audit log gets it masked.
    pending = await http.post(
        "/api/sessions",
        json={"credential_id": cred["id"], "items": [{"name": "x", "digest": "A" * 43 + "="}]},
        headers=integrator.headers,
    )
    await http.post(
        f"/api/mobile/sessions/{pending.json()['id']}/reject",
        json={"reason": f"CCCD của tôi là {CCCD}, CMND cũ {CMND}"},
        headers={"Authorization": f"Bearer {phone[1]}"},
    )
    # What a database driver's error would carry into a traceback.
    log = logging.getLogger("esign_server.errors")
    log.error("insert failed; parameters: ('%s', '%s')", CCCD, CMND)
    try:
        raise RuntimeError(f'duplicate key value violates unique constraint "users_cccd_key" ({NEW_CCCD})')
    except RuntimeError:
        log.exception("unexpected error on POST /api/admin/users")
    log.warning("context", extra={"user_cccd": CCCD})

    logs = structured_logs.getvalue()
    assert '"logger": "esign_server.access"' in logs and "0792******34" in logs  # the scan sees real lines
    with ctx.db.read() as session:
        rows = session.execute(text("SELECT * FROM audit_events")).all()
    audit_rows = [json.dumps(list(r), default=str, ensure_ascii=False) for r in rows]
    assert any("0792******34" in row for row in audit_rows)  # masked, not absent: the events are there

    found = leaks("logs", logs) + leaks("audit table", "\n".join(audit_rows))
    for where, content in shown.items():
        found += leaks(where, content)
    assert found == [], f"whole personal numbers leaked: {found}"

    # The scan would see them: an admin's explicit reveal, and the user's own export, carry them whole.
    revealed = await http.post("/api/verify", params={"reveal": "true"}, content=pdf, headers=admin.headers)
    assert leaks("revealed report", revealed.text) == [f"revealed report: {CCCD}"]
    export = await http.get(f"/api/admin/users/{user_id}/export", headers=admin.headers)
    assert f"export: {CCCD}" in leaks("export", export.text)


def test_the_service_log_handler_masks_plain_text_too() -> None:
    configure_logging(json_lines=False, level="INFO")
    try:
        [handler] = logging.getLogger("esign_server").handlers
        line = handler.format(logging.LogRecord("esign_server.test", 30, __file__, 1, "x %s", (CCCD,), None))
    finally:
        configure_logging(json_lines=True, level="WARNING")
    assert CCCD not in line and "x 0792******34" in line
