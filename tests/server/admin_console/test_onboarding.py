"""Bulk onboarding in the console: a CSV previewed with row-level problems, then registered in one
transaction (everyone or nobody)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
from esign_server.context import ServerContext
from esign_server.models import User
from esign_server.services import devices, orgids, users
from sqlmodel import func, select

from .conftest import make_officer, page_csrf, sign_in

HEADER = "ho_ten,cccd,chuc_vu,ma_dinh_danh,email,dien_thoai\n"


def pdf_pages(path: Path) -> list[str]:
    """The text of each page, by poppler's pdfinfo and pdftotext (tools we did not write)."""
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Pages:\s+(\d+)", info)
    assert found
    return [
        subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        for n in range(1, int(found.group(1)) + 1)
    ]


def count_users(ctx: ServerContext) -> int:
    with ctx.db.read() as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


async def test_a_file_with_errors_is_previewed_line_by_line_then_a_good_one_is_imported_at_once(
    ctx: ServerContext, http: httpx.AsyncClient
) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh", actor="test")
    orgids.issue_code(ctx, code="H49.23", name="Sở cũ", actor="test")
    orgids.close_code(ctx, code="H49.23", reason="sáp nhập", actor="test")
    users.create_user(ctx, full_name="Đã Có", cccd="001190000111", actor="test")
    officer = make_officer(ctx, "xac.minh", "identity_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/people-import")
    bad = (
        HEADER
        + "Nguyễn Văn Một,001190000201,Chuyên viên,H49.22,mot@example.vn,0912345678\n"
        + "Trần Hai,12345,Chuyên viên,H49.22,,\n"  # a CCCD is 12 digits
        + "Lê Ba,001190000203,,H49.99,,\n"  # not in the registry
        + "Phạm Bốn,001190000204,,H49.23,,\n"  # closed
        + "Đặng Năm,001190000201,,H49.22,,\n"  # the same CCCD as line 2
        + "Võ Sáu,001190000111,,H49.22,,\n"  # already registered
    )
    preview = await http.post(
        "/admin/people-import", data={"csrf": token, "step": "preview"}, files={"file": ("ds.csv", bad.encode())}
    )
    assert preview.status_code == 400
    for line in (3, 4, 5, 6, 7):
        assert f'data-bad-line="{line}"' in preview.text
    assert 'data-bad-line="2"' not in preview.text
    assert "is closed" in preview.text and "not in the registry" in preview.text and "line 2" in preview.text
    forced = await http.post("/admin/people-import", data={"csrf": token, "step": "import", "text": bad})
    assert forced.status_code == 400  # the import checks again: nothing is written
    assert count_users(ctx) == 1

    good = HEADER + "Nguyễn Văn Một,001190000201,Chuyên viên,H49.22,mot@example.vn,0912345678\n"
    good += "Trần Thị Hai,001190000202,Phó phòng,000.00.22.H49,,\n"
    checked = await http.post(
        "/admin/people-import", data={"csrf": token, "step": "preview"}, files={"file": ("ds.csv", good.encode())}
    )
    assert checked.status_code == 200 and 'name="step" value="import"' in checked.text
    done = await http.post("/admin/people-import", data={"csrf": token, "step": "import", "text": good})
    assert done.status_code == 200 and 'data-imported="2"' in done.text
    assert count_users(ctx) == 3
    with ctx.db.read() as session:
        one = session.exec(select(User).where(User.cccd == "001190000201")).one()
    assert one.organization == "Sở Tư pháp tỉnh Quảng Ninh"  # named by the registry
    again = await http.post("/admin/people-import", data={"csrf": token, "step": "import", "text": good})
    assert again.status_code == 400 and count_users(ctx) == 3


async def test_only_identity_officers_onboard_and_bad_files_get_one_line(
    ctx: ServerContext, http: httpx.AsyncClient
) -> None:
    auditor = make_officer(ctx, "kiem.toan", "auditor")
    assert (await sign_in(http, auditor)).status_code == 303
    token = await page_csrf(http, "/admin/audit")
    refused = await http.post("/admin/people-import", data={"csrf": token, "text": HEADER})
    assert refused.status_code == 403
    http.cookies.clear()
    officer = make_officer(ctx, "xac.minh", "identity_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/people-import")
    for content in (b"\xff\xfe\x00garbage", b"name,number\nA,1\n", HEADER.encode()):
        answer = await http.post(
            "/admin/people-import", data={"csrf": token, "step": "preview"}, files={"file": ("x.csv", content)}
        )
        assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert count_users(ctx) == 0


async def test_pairing_letters_give_each_new_person_a_page_with_a_fresh_pairing_link(
    ctx: ServerContext, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh", actor="test")
    officer = make_officer(ctx, "xac.minh", "identity_officer", "credential_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/people-import")
    good = HEADER + "Nguyễn Văn Một,001190000201,,H49.22,,\nTrần Thị Hai,001190000202,,H49.22,,\n"
    done = await http.post("/admin/people-import", data={"csrf": token, "step": "import", "text": good})
    ids = re.findall(r'name="user_id" value="([^"]+)"', done.text)
    assert len(ids) == 2
    pdf = await http.post("/admin/people-import/letters", data={"csrf": token, "user_id": ids})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    path = tmp_path / "letters.pdf"
    path.write_bytes(pdf.content)
    pages = pdf_pages(path)
    assert len(pages) == 2
    assert "Nguyễn Văn Một" in pages[0] and "0011******01" in pages[0] and "001190000201" not in pages[0]
    assert "Trần Thị Hai" in pages[1]
    for user_id, page in zip(ids, pages, strict=True):
        (device,) = devices.list_devices(ctx, user_id=user_id)
        assert device.status == "pending"
        assert "/m/#pair=" in page.replace("\n", "")
    auditor = make_officer(ctx, "kiem.toan", "auditor")
    http.cookies.clear()
    assert (await sign_in(http, auditor)).status_code == 303
    token = await page_csrf(http, "/admin/audit")
    refused = await http.post("/admin/people-import/letters", data={"csrf": token, "user_id": ids})
    assert refused.status_code == 403
