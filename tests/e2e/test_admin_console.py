"""The admin console in a real browser: Debian's headless Chromium at 1280x800, driven by Playwright,
against a real uvicorn on SQLite and PostgreSQL.

An officer signs in with a password and a code from ``oathtool``, finds a person by name typed without
diacritics, revokes the person's credential with the keyboard, and ``openssl ocsp`` asks the server's
OCSP responder over HTTP, which answers revoked. Labels and no horizontal scroll are checked on each page.

Set ``ESIGN_UPDATE_SCREENSHOTS=1`` to refresh the screenshots in ``docs/images``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from esign_server.admin_console import accounts
from esign_server.app import create_app
from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.services import credentials, identity, orgids, users
from esign_server.services.pki import ensure_service_pki
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from tests.e2e.test_mobile_app import CONTRAST_SCRIPT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREEN: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 768, "height": 1024}
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "mật khẩu của cán bộ 2026"
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')].filter((el) =>
    !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
).map((el) => el.id || el.outerHTML.slice(0, 60))"""


@dataclass
class Console:
    """A running server with an officer and a person holding a credential."""

    base_url: str
    ctx: ServerContext
    totp_secret: str
    user_id: str
    credential_id: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def service_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service CA for the servers of this module."""
    directory = tmp_path_factory.mktemp("console-pki") / "pki"
    ensure_service_pki(directory, "esign-dev", "http://127.0.0.1:1")
    return directory


@pytest.fixture
def console(database_url: str, service_pki_dir: Path, tmp_path: Path) -> Iterator[Console]:
    """A real uvicorn on a fresh database (SQLite and PostgreSQL) with an officer and a person."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        dev_mode=True,
        database_url=database_url,
        var_dir=tmp_path,
        pki_dir=service_pki_dir,
        public_url=base_url,
        log_json=False,
        log_level="WARNING",
    )
    migrate(database_url)
    ctx = ServerContext(settings)
    officer = accounts.create_account(
        ctx,
        username="an.nv",
        full_name="Nguyễn Văn An",
        password=PASSWORD,
        roles=["credential_officer", "identity_officer", "auditor", "registry_officer"],
        actor="cli",
    )
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh", actor="test")
    user = users.create_user(
        ctx, full_name="Trần Thị Đào", cccd="079190000123", organization="Sở Tư pháp tỉnh Bình Dương", actor="test"
    )
    identity.record_verification(
        ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", "079190000123"), actor="test"
    )
    cred = credentials.issue_credential(ctx, user_id=user.id, label="Chữ ký công vụ", actor="test")
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx=ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Console(base_url, ctx, officer.totp_secret_b32, user.id, cred.id)
    finally:
        server.should_exit = True
        thread.join(10)
        ctx.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    driver: Playwright
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def oathtool_now(secret_b32: str) -> str:
    """The current TOTP code, from oathtool (a tool we did not write)."""
    return subprocess.check_output(["oathtool", "--totp", "-b", secret_b32], text=True).strip()


def _checked(page: Page, shots: Path, name: str) -> None:
    """Every control labelled, text at 4.5:1 contrast or more, nothing wider than the screen; a screenshot."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_SCRIPT) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
    page.screenshot(path=str(shots / f"admin-{name}.png"))


def _ocsp(console: Console, tmp_path: Path) -> str:
    """``openssl ocsp`` against the running server's /pki/ocsp over HTTP."""
    cred = credentials.get_credential(console.ctx, console.credential_id)
    certificate = credentials.certificate_of(cred)
    assert certificate is not None
    chain = httpx.get(f"{console.base_url}/pki/ca").text
    issuer, leaf, both = tmp_path / "issuer.pem", tmp_path / "leaf.pem", tmp_path / "chain.pem"
    issuer.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    leaf.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    both.write_text(issuer.read_text() + httpx.get(f"{console.base_url}/pki/root.pem").text)
    return subprocess.run(
        ["openssl", "ocsp", "-issuer", issuer, "-cert", leaf, "-url", f"{console.base_url}/pki/ocsp", "-CAfile", both],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _sign_in(page: Page, console: Console) -> None:
    page.goto(f"{console.base_url}/admin/")
    page.get_by_label("Tên đăng nhập").fill("an.nv")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_label("Mã xác thực").fill(oathtool_now(console.totp_secret))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tìm người dùng")).to_be_visible()


def test_an_officer_signs_in_with_totp_finds_a_person_and_revokes_a_credential(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    assert "leaf.pem: good" in _ocsp(console, tmp_path)
    context = browser.new_context(viewport=SCREEN, locale="vi-VN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    shots = tmp_path / "shots"
    shots.mkdir()

    page.goto(f"{console.base_url}/admin/")
    expect(page.get_by_role("heading", name="Đăng nhập quản trị")).to_be_visible()
    _checked(page, shots, "login")
    page.get_by_label("Tên đăng nhập").fill("an.nv")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_label("Mã xác thực").fill(oathtool_now(console.totp_secret))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tìm người dùng")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "esign_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.get_by_role("searchbox").fill("tran thi dao")  # no diacritics typed
    page.keyboard.press("Enter")
    person = page.get_by_role("link", name="Trần Thị Đào")
    expect(person).to_be_visible()
    expect(page.get_by_text("0791******23")).to_be_visible()
    _checked(page, shots, "people")
    person.click()
    expect(page.get_by_role("heading", name="Trần Thị Đào")).to_be_visible()
    _checked(page, shots, "person")

    page.once("dialog", lambda dialog: dialog.accept())  # "Are you sure?" before a revocation
    revoke = page.get_by_role("button", name="Thu hồi", exact=True)
    revoke.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Đã thu hồi chứng thư.")
    expect(page.locator(f'[data-credential="{console.credential_id}"] [data-field=status]')).to_have_text("Đã thu hồi")
    assert credentials.get_credential(console.ctx, console.credential_id).status == "revoked"
    assert "leaf.pem: revoked" in _ocsp(console, tmp_path)

    page.get_by_role("link", name="Nhật ký kiểm toán").click()
    page.get_by_label("Hành động").fill("credential.revoke")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(1)
    expect(page.locator("table.audit tbody tr td").nth(2)).to_have_text("admin:an.nv")
    page.get_by_role("button", name="Kiểm tra chuỗi băm").click()
    expect(page.locator("[data-chain=ok]")).to_be_visible()
    _checked(page, shots, "audit")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    # A tablet held upright: every page still fits its width.
    page.set_viewport_size(TABLET)
    for path in ("/admin/people?q=tran", f"/admin/people/{console.user_id}", "/admin/audit", "/admin/systems"):
        page.goto(f"{console.base_url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"], path
    context.close()
    if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, DOCS_IMAGES / shot.name)


def test_bulk_onboarding_with_errors_then_success_and_closing_a_code(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=SCREEN, locale="vi-VN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    shots = tmp_path / "shots"
    shots.mkdir()
    _sign_in(page, console)

    header = "ho_ten,cccd,chuc_vu,ma_dinh_danh,email,dien_thoai\n"
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(header + "Nguyễn Văn Một,001190000201,Chuyên viên,H49.22,,\nTrần Hai,12345,,H49.99,,\n")
    good.write_text(header + "Nguyễn Văn Một,001190000201,Chuyên viên,H49.22,,\nTrần Thị Hai,001190000202,,H49.22,,\n")
    page.get_by_role("link", name="Nhập danh sách").click()
    page.get_by_label("Tệp CSV").set_input_files(str(bad))
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator("[data-bad-line]")).to_have_count(1)
    expect(page.locator('[data-bad-line="3"]')).to_contain_text("not in the registry")
    _checked(page, shots, "import")
    page.get_by_label("Tệp CSV").set_input_files(str(good))
    page.get_by_role("button", name="Xem trước").click()
    page.get_by_role("button", name="Nhập (2)").click()
    expect(page.locator("[data-imported]")).to_have_attribute("data-imported", "2")
    page.get_by_role("link", name="Trần Thị Hai").click()
    expect(page.get_by_text("Sở Tư pháp tỉnh Quảng Ninh")).to_be_visible()

    page.get_by_role("link", name="Mã định danh cơ quan").click()
    page.get_by_role("searchbox").fill("tu phap quang ninh")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="H49.22").click()
    _checked(page, shots, "org")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Lý do đóng mã").fill("sáp nhập")
    page.get_by_role("button", name="Đóng mã").click()
    expect(page.get_by_role("status")).to_have_text("Đã đóng mã.")
    expect(page.locator("[data-field=status]")).to_have_text("Đã đóng")
    assert orgids.get_code(console.ctx, "H49.22").status == "closed"
    context.close()
    if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, DOCS_IMAGES / shot.name)
