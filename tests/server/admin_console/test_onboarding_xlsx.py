"""Bulk onboarding from an XLSX workbook (built here by openpyxl), and the position (chức vụ) stored."""

from __future__ import annotations

import io
import zipfile

import httpx
from esign_server.context import ServerContext
from esign_server.models import User
from esign_server.services import orgids, users
from openpyxl import Workbook
from sqlmodel import func, select

from .conftest import make_officer, page_csrf, sign_in

HEADER = ["ho_ten", "cccd", "chuc_vu", "ma_dinh_danh", "email", "dien_thoai"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[list[object]], *, header: list[str] = HEADER) -> bytes:
    """An XLSX file: a header row, then ``rows`` (None leaves a cell empty)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count_users(ctx: ServerContext) -> int:
    with ctx.db.read() as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


async def signed_in_officer(ctx: ServerContext, http: httpx.AsyncClient) -> str:
    officer = make_officer(ctx, "xac.minh", "identity_officer")
    assert (await sign_in(http, officer)).status_code == 303
    return await page_csrf(http, "/admin/people-import")


async def preview(http: httpx.AsyncClient, token: str, name: str, content: bytes) -> httpx.Response:
    return await http.post(
        "/admin/people-import", data={"csrf": token, "step": "preview"}, files={"file": (name, content, XLSX)}
    )


def sent_text(html: str) -> str:
    """The CSV text the preview page sends back with its import button."""
    import html as entities
    import re

    found = re.search(r'name="text" value="([^"]*)"', html)
    assert found, "no import button"
    return entities.unescape(found.group(1))


async def test_a_workbook_is_previewed_with_row_errors_then_imported_with_positions(
    ctx: ServerContext, http: httpx.AsyncClient
) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh", actor="test")
    token = await signed_in_officer(ctx, http)
    bad = workbook(
        [
            ["Nguyễn Văn Một", "001190000201", "Chuyên viên", "H49.22", "mot@example.vn", "0912345678"],
            ["Trần Hai", "12345", "Chuyên viên", "H49.22", None, None],  # a CCCD is 12 digits
            [None, None, None, None, None, None],  # a blank row: skipped, line numbers still those of the sheet
            ["Lê Ba", "001190000203", None, "H49.99", None, None],  # not in the registry
        ]
    )
    answer = await preview(http, token, "ds.xlsx", bad)
    assert answer.status_code == 400
    assert 'data-bad-line="3"' in answer.text and 'data-bad-line="5"' in answer.text
    assert 'data-bad-line="2"' not in answer.text and "not in the registry" in answer.text
    assert count_users(ctx) == 0

    good = workbook(
        [
            ["Nguyễn Văn Một", "001190000201", "Chuyên viên", "H49.22", "mot@example.vn", "0912345678"],
            ["Trần Thị Hai", "001190000202", "Phó phòng", "000.00.22.H49", None, None],
        ]
    )
    checked = await preview(http, token, "ds.xlsx", good)
    assert checked.status_code == 200 and "Phó phòng" in checked.text
    done = await http.post(
        "/admin/people-import", data={"csrf": token, "step": "import", "text": sent_text(checked.text)}
    )
    assert done.status_code == 200 and 'data-imported="2"' in done.text
    with ctx.db.read() as session:
        one = session.exec(select(User).where(User.cccd == "001190000201")).one()
        two = session.exec(select(User).where(User.cccd == "001190000202")).one()
    assert (one.position, one.organization, one.phone) == ("Chuyên viên", "Sở Tư pháp tỉnh Quảng Ninh", "0912345678")
    assert two.position == "Phó phòng"
    page = await http.get(f"/admin/people/{one.id}")
    assert page.status_code == 200 and '<dd data-field="position">Chuyên viên</dd>' in page.text


async def test_bad_workbooks_get_a_clear_400_never_a_500(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    token = await signed_in_officer(ctx, http)
    # A zip bomb in a workbook's clothing: one part that unpacks far past the limit.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (80 * 1024 * 1024))
    truncated = workbook([["A", "001190000201", None, "H49.22", None, None]])[:600]
    cases = {
        "bomb.xlsx": (bomb.getvalue(), "unpacks to more than"),
        "cut.xlsx": (truncated, "not a readable XLSX workbook"),
        "notes.xlsx": (b"ho_ten,cccd\n", "not an XLSX workbook"),
        "old.xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "old .xls"),
        "zip.xlsx": (_plain_zip(), "not a readable XLSX workbook"),
        # A CCCD typed as a number has lost its leading zeros: refused, not stored wrong.
        "numbers.xlsx": (workbook([["Một", 1190000201, None, "H49.22", None, None]]), "leading zeros"),
    }
    for name, (content, message) in cases.items():
        answer = await preview(http, token, name, content)
        assert answer.status_code == 400, (name, answer.status_code)
        assert 'role="alert"' in answer.text and message in answer.text, name
    assert count_users(ctx) == 0


def _plain_zip() -> bytes:
    """A zip file that is no workbook."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


async def test_one_person_made_in_the_console_keeps_a_position(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    officer = make_officer(ctx, "xac.minh", "identity_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/people")
    made = await http.post(
        "/admin/people",
        data={"csrf": token, "full_name": "Phạm Thị Tư", "cccd": "001190000301", "position": "Trưởng phòng"},
    )
    assert made.status_code == 303
    user = users.get_user(ctx, made.headers["location"].split("/")[-1].split("?")[0])
    assert user.position == "Trưởng phòng"
    page = await http.get(made.headers["location"])
    assert '<dd data-field="position">Trưởng phòng</dd>' in page.text
