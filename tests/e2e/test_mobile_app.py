"""The mobile confirmation app in a real browser: Debian's headless Chromium in a 360x740 phone
viewport, driven by Playwright, against a real uvicorn serving the app and the API.

A relying system asks over HTTP (OAuth2 token, ``POST /api/sessions``); the phone pairs by opening
the enrollment link, proves it with a code from ``oathtool``, confirms or rejects; the relying
system fetches the signature and ``cryptography`` verifies it against the credential's certificate.

Set ``ESIGN_UPDATE_SCREENSHOTS=1`` to refresh the user guide's screenshots in ``docs/images``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from esign_server.app import create_app
from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.services import clients, credentials, devices, grants, identity, marks, users
from esign_server.services.pki import ensure_service_pki
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, expect, sync_playwright

from esign.identity import SignerIdentity, organization_subject, person_subject

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 360, "height": 740}
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
LETTER = Path(__file__).resolve().parents[2] / "samples" / "cong-van.pdf"
SIGNATURE_PNG = Path(__file__).resolve().parents[2] / "samples" / "decree30" / "chu-ky.png"
PERIOD = 30


# ------------------------------------------------------------------------------- OTP codes


def oathtool_code(secret_b32: str, step: int) -> str:
    """The TOTP code of ``step`` from oathtool (a tool we did not write)."""
    return subprocess.check_output(
        ["oathtool", "--totp", "-b", "-N", f"@{step * PERIOD + 1}", secret_b32], text=True
    ).strip()


def current_step(margin: float = 3.0) -> int:
    """The current time step, after waiting out the last ``margin`` seconds of a step."""
    now = time.time()
    if PERIOD - now % PERIOD < margin:
        time.sleep(PERIOD - now % PERIOD + 0.2)
        now = time.time()
    return int(now // PERIOD)


def pairing_code(secret_b32: str) -> str:
    """The first code, proving the pairing: this step's (valid for the next 30 s or more)."""
    return oathtool_code(secret_b32, current_step(margin=0.5))


def confirming_code(secret_b32: str) -> str:
    """A code the server accepts after :func:`pairing_code`: the next step's (±1 step of skew is allowed,
    and a step is accepted once), so no test waits half a minute for a fresh code."""
    return oathtool_code(secret_b32, current_step(margin=0.5) + 1)


def wrong_code(secret_b32: str) -> str:
    """A code that matches none of the steps the server would accept now."""
    step = current_step()
    window = {oathtool_code(secret_b32, s) for s in (step - 1, step, step + 1)}
    candidate = int(oathtool_code(secret_b32, step))
    while f"{candidate:06d}" in window:
        candidate = (candidate + 1) % 1_000_000
    return f"{candidate:06d}"


# ------------------------------------------------------------------------------- the server


@dataclass
class Phone:
    """A user with a credential and a pending phone enrollment."""

    user_id: str
    full_name: str
    cccd: str
    credential_id: str
    pairing_url: str
    secret: str


@dataclass
class RunningServer:
    """A real uvicorn serving the app, with one relying system registered."""

    base_url: str
    ctx: ServerContext
    client_id: str
    client_secret: str
    http: httpx.Client = field(init=False)
    _token: str | None = None
    _cccd_seq: int = 100

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def new_phone(self, full_name: str = "Nguyễn Văn An", *, admin_api: bool = False) -> Phone:
        """A fresh user with a P-256 credential and an enrollment waiting for the phone."""
        self._cccd_seq += 1
        cccd = f"001203012{self._cccd_seq:03d}"
        user = users.create_user(
            self.ctx, full_name=full_name, cccd=cccd, email=f"u{self._cccd_seq}@example.vn", actor="test"
        )
        identity.record_verification(
            self.ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", cccd), actor="test"
        )
        cred = credentials.issue_credential(self.ctx, user_id=user.id, label="Chữ ký cá nhân", actor="test")
        grants.grant(self.ctx, client_id=self.client_id, user_id=user.id, actor="test")  # the user authorises it
        if not admin_api:
            enrollment = devices.start_enrollment(self.ctx, user_id=user.id, actor="test")
            return Phone(user.id, full_name, cccd, cred.id, enrollment.pairing_url, enrollment.secret_b32)
        answer = self.http.post(
            f"/api/admin/users/{user.id}/enrollments", json={"device_name": "phone"}, headers=self._admin()
        )
        assert answer.status_code == 201, answer.text
        shown = answer.json()
        assert shown["pairing_url"].startswith(f"{self.base_url}/m/#pair=")
        assert base64.b64decode(shown["pairing_qr_png"]).startswith(b"\x89PNG")
        return Phone(user.id, full_name, cccd, cred.id, shown["pairing_url"], shown["secret"])

    def _token_for(self, client_id: str, secret: str) -> str:
        answer = self.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._token_for(self.client_id, self.client_secret)
        return {"Authorization": f"Bearer {self._token}"}

    def _admin(self) -> dict[str, str]:
        admin = clients.create_client(self.ctx, name="admin console", scopes=["admin"], actor="test")
        return {"Authorization": f"Bearer {self._token_for(admin.client.id, admin.client_secret)}"}

    def ask(self, phone: Phone, names: list[str], *, ttl: int | None = None, description: str | None = None) -> Any:
        """The relying system asks for signatures on SHA-256 digests of ``names``."""
        items = [{"name": n, "digest": base64.b64encode(hashlib.sha256(n.encode()).digest()).decode()} for n in names]
        body: dict[str, Any] = {"credential_id": phone.credential_id, "items": items}
        if ttl is not None:
            body["ttl_seconds"] = ttl
        if description is not None:
            body["description"] = description
        answer = self.http.post("/api/sessions", json=body, headers=self._auth())
        assert answer.status_code == 201, answer.text
        return answer.json()

    def ask_document(self, phone: Phone, pdf: Path, preset: str) -> Any:
        """The relying system asks for a Decree 30 signature (``preset``) on a whole PDF."""
        document = {"name": pdf.name, "format": "pdf", "content": base64.b64encode(pdf.read_bytes()).decode()}
        body = {"credential_id": phone.credential_id, "documents": [{**document, "options": {"preset": preset}}]}
        answer = self.http.post("/api/sessions", json=body, headers=self._auth())
        assert answer.status_code == 201, answer.text
        return answer.json()

    def session(self, session_id: str, wait: float = 0) -> Any:
        """The relying system reads its session (long-polling up to ``wait`` seconds)."""
        answer = self.http.get(f"/api/sessions/{session_id}", params={"wait": wait}, headers=self._auth())
        answer.raise_for_status()
        return answer.json()

    def cancel(self, session_id: str) -> None:
        """The relying system withdraws its request."""
        self.http.post(f"/api/sessions/{session_id}/cancel", headers=self._auth()).raise_for_status()

    def certificate(self, credential_id: str) -> x509.Certificate:
        """The credential's certificate, as the relying system fetches it."""
        answer = self.http.get(f"/api/credentials/{credential_id}", headers=self._auth())
        answer.raise_for_status()
        return x509.load_pem_x509_certificate(answer.json()["certificate_pem"].encode())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def service_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service CA for every server of this module (making one takes about a second)."""
    directory = tmp_path_factory.mktemp("mobile-pki") / "pki"
    ensure_service_pki(directory, "esign-dev", "http://127.0.0.1:1")
    return directory


def _serve(database_url: str, pki_dir: Path, var_dir: Path, host: str = "127.0.0.1") -> Iterator[RunningServer]:
    """A server at ``http://{host}:{port}`` (``localhost`` for passkeys: an IP address is no WebAuthn rp id)."""
    port = _free_port()
    base_url = f"http://{host}:{port}"
    settings = Settings(
        dev_mode=True,
        database_url=database_url,
        var_dir=var_dir,
        pki_dir=pki_dir,
        public_url=base_url,
        log_json=False,
        log_level="WARNING",
    )
    migrate(database_url)
    ctx = ServerContext(settings)
    client = clients.create_client(ctx, name="Cổng Dịch vụ công Quốc gia", scopes=["sessions"], actor="test")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx=ctx),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    running = RunningServer(base_url, ctx, client.client.id, client.client_secret)
    try:
        yield running
    finally:
        running.http.close()
        server.should_exit = True
        thread.join(10)
        ctx.close()


@pytest.fixture
def server(database_url: str, service_pki_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    """A server on a fresh database: SQLite and PostgreSQL."""
    yield from _serve(database_url, service_pki_dir, tmp_path)


@pytest.fixture(scope="module")
def sqlite_server(service_pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server on SQLite shared by the tests that need no fresh database (each uses its own user)."""
    var = tmp_path_factory.mktemp("mobile-var")
    yield from _serve(f"sqlite:///{var / 'esign.db'}", service_pki_dir, var)


# ------------------------------------------------------------------------------- the browser


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


def _phone_context(
    browser: Browser, scale: float = 1, service_workers: Literal["allow", "block"] = "allow"
) -> BrowserContext:
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=scale,
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
        service_workers=service_workers,
    )
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh phone: empty storage, 360x740."""
    context = _phone_context(browser)
    page = context.new_page()
    errors: list[str] = []
    urls: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: urls.append(request.url))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the app: {errors}"
    # The device token travels in headers only: never in a URL that logs and proxies keep.
    assert not [u for u in urls if "token" in u.lower()]


def pair(page: Page, phone: Phone, *, code: str | None = None, app_codes: bool = False, pin: str | None = None) -> None:
    """Open the enrollment link and prove it with a first code (oathtool's, one step back); with
    ``app_codes`` and ``pin``, the app makes the codes and the PIN unlocks them."""
    page.goto(phone.pairing_url)
    expect(page.locator("#pair-form")).to_be_visible()
    expect(page.locator("#pair-for")).to_contain_text(phone.full_name)
    page.locator("#src-app" if app_codes else "#src-other").check()
    if pin is not None:
        page.locator("#pair-pin").fill(pin)
    page.locator("#pair-code").fill(code or pairing_code(phone.secret))
    page.locator("#pair-submit").click()
    expect(page.locator("#view-pending")).to_be_visible()


def open_request(page: Page, session_id: str) -> None:
    """Tap the request's card once it has arrived."""
    page.locator(f'[data-open="{session_id}"]').click()
    expect(page.locator("#view-request")).to_be_visible()


def verify_signatures(server: RunningServer, phone: Phone, session: Any, names: list[str]) -> None:
    """Every signature verifies against the credential's certificate over the item's digest."""
    public_key = server.certificate(phone.credential_id).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert len(session["signatures"]) == len(names)
    for name, signature in zip(names, session["signatures"], strict=True):
        digest = hashlib.sha256(name.encode()).digest()
        public_key.verify(base64.b64decode(signature), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


# ------------------------------------------------------------------------------- the tests


def test_pair_confirm_with_oathtool_code_and_relying_system_gets_a_verifying_signature(
    server: RunningServer, page: Page
) -> None:
    phone = server.new_phone(admin_api=True)
    pair(page, phone)
    expect(page.locator("#pending-empty")).to_be_visible()

    names = ["Hợp đồng lao động.pdf", "Phụ lục 01.pdf"]
    asked = server.ask(phone, names, description="Ký hợp đồng lao động")
    # Arrives live, no reload, under its relying system's heading.
    group = page.locator(f'li[data-group="{server.client_id}"]')
    expect(group.locator(".group-name")).to_have_text("Cổng Dịch vụ công Quốc gia")
    card = group.locator(f'li[data-session="{asked["id"]}"]')
    expect(card).to_contain_text(asked["confirmation_code"])
    open_request(page, asked["id"])

    expect(page.locator("#req-code")).to_have_text(asked["confirmation_code"])
    # No hex "fingerprint" that compares with nothing: the confirmation code is the check (item 17).
    expect(page.locator("#req-fp")).to_have_count(0)
    expect(page.locator("#view-request")).not_to_contain_text("vân tay")
    expect(page.locator("#req-created")).to_have_text(re.compile(r"^\d\d/\d\d/\d{4} \d\d:\d\d$"))
    expect(page.locator("#req-cert")).to_contain_text(re.compile(r"(hết hạn|hiệu lực|đến).*\d\d/\d\d/\d{4}"))
    expect(page.locator("#req-docs li")).to_have_text(names)
    masked = f"CCCD {phone.cccd[:4]}******{phone.cccd[-2:]}"
    expect(page.locator("#req-signer")).to_have_text(f"{phone.full_name} · {masked}")
    assert phone.cccd not in page.content()
    expect(page.locator("#req-cert")).to_contain_text("esign Dev Issuing CA")
    expect(page.locator("#req-left")).to_have_text(re.compile(r"^[45]:\d\d$"))

    page.locator("#otp").fill(confirming_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#view-result")).to_be_visible()
    expect(page.locator("#result-title")).to_have_text("Đã ký thành công")
    expect(page.locator("#result-title")).to_be_focused()

    done = server.session(asked["id"], wait=5)
    assert done["status"] == "signed"
    verify_signatures(server, phone, done, names)

    page.locator("#view-result [data-back]").click()
    expect(page.locator("#pending-empty")).to_be_visible()
    page.locator('.tab[data-view="history"]').click()
    entry = page.locator(f'#history-list li[data-session="{asked["id"]}"]')
    expect(entry.locator(".badge")).to_have_text("Đã ký")


def test_reject_with_a_reason_reaches_the_relying_system(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Trần Thị Bình")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Quyết định 123.pdf"])
    open_request(page, asked["id"])
    page.locator("#reject-reason").select_option("code_mismatch")
    page.locator("#reject-btn").click()
    expect(page.locator("#result-title")).to_have_text("Đã từ chối")
    expect(page.locator("#result-text")).to_contain_text("Không có gì được ký")
    done = sqlite_server.session(asked["id"])
    assert done["status"] == "rejected"
    assert done["reason"] == "Mã đối chiếu không khớp"
    assert done["signatures"] is None


def test_expired_request_says_so_and_cannot_be_confirmed(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Lê Văn Cường")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Tờ khai thuế.xml"], ttl=10)
    open_request(page, asked["id"])
    expect(page.locator("#result-title")).to_have_text("Yêu cầu đã hết hạn", timeout=15_000)
    expect(page.locator("#result-text")).to_contain_text("Không có gì được ký")
    assert sqlite_server.session(asked["id"], wait=5)["status"] == "expired"
    expect(page.locator(f'[data-open="{asked["id"]}"]')).to_have_count(0)


def test_a_request_withdrawn_by_its_system_says_so(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Cao Văn Phúc")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Báo giá.pdf"])
    open_request(page, asked["id"])
    sqlite_server.cancel(asked["id"])
    expect(page.locator("#result-title")).to_have_text("Yêu cầu đã được rút lại")
    expect(page.locator("#result-text")).to_contain_text("Không có gì được ký")
    expect(page.locator("#result-detail")).to_contain_text("Đã rút lại")  # not "Đã từ chối"
    expect(page.locator("#result-detail")).not_to_contain_text("từ chối")
    page.locator('.tab[data-view="history"]').click()
    card = page.locator(f'#history-list li[data-session="{asked["id"]}"]')
    expect(card).to_contain_text("Lý do: hệ thống yêu cầu đã rút lại")
    expect(card.locator(".badge")).to_have_text("Đã rút lại")


def test_history_lists_a_batch_name_by_name_and_reads_reasons_in_the_chosen_language(
    sqlite_server: RunningServer, page: Page
) -> None:
    phone = sqlite_server.new_phone("Vũ Thị Hạnh")
    pair(page, phone)
    names = [f"Quyết định bổ nhiệm {n:02d}.pdf" for n in range(1, 13)]
    asked = sqlite_server.ask(phone, names)
    open_request(page, asked["id"])
    page.locator("#reject-reason").select_option("not_me")
    page.locator("#reject-btn").click()
    expect(page.locator("#result-title")).to_have_text("Đã từ chối")
    page.locator('.tab[data-view="history"]').click()
    card = page.locator(f'#history-list li[data-session="{asked["id"]}"]')
    expect(card.locator("ul li")).to_have_text(names)  # twelve names, one per line
    page.locator("#lang").select_option("en")
    expect(card).to_contain_text("Reason: I did not ask for this")  # picked in Vietnamese, read in English
    expect(card.locator(".badge")).to_have_text("Rejected")


def test_the_device_keeps_the_name_the_administrator_gave_it(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Đỗ Minh Quân", admin_api=True)  # enrolled as "phone" by the admin
    pair(page, phone)
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#set-device")).to_have_text("phone")
    (device,) = devices.list_devices(sqlite_server.ctx, user_id=phone.user_id)
    assert device.name == "phone"


def test_the_expired_icon_is_a_glyph_debian_fonts_have(sqlite_server: RunningServer, page: Page) -> None:
    # "⏱" has no glyph in Debian's fonts (a box in Chromium); "◔" is in DejaVu Sans.
    app_js = sqlite_server.http.get("/m/app.js").text
    assert "⏱" not in app_js and 'expired: "◔"' in app_js
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    from fontTools.ttLib import TTFont

    assert ord("◔") in TTFont(dejavu).getBestCmap()


def test_five_wrong_codes_fail_the_request_and_lock_the_device(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Phạm Thị Dung")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Hoá đơn 0001.xml"])
    open_request(page, asked["id"])
    for left in (4, 3, 2, 1):
        page.locator("#otp").fill(wrong_code(phone.secret))
        page.locator("#confirm-btn").click()
        expect(page.locator("#otp-hint")).to_have_text(
            f"Mã không đúng hoặc đã hết hạn. Chưa có gì được ký. Còn tối đa {left} lần thử."
        )
        expect(page.locator("#otp")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#otp")).to_be_focused()
    page.locator("#otp").fill(wrong_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#result-title")).to_have_text("Không ký được")
    expect(page.locator("#result-text")).to_contain_text("Nhập sai mã quá nhiều lần")
    assert sqlite_server.session(asked["id"])["status"] == "failed"

    # Even the right code is not looked at while the device is locked.
    second = sqlite_server.ask(phone, ["Hoá đơn 0002.xml"])
    page.locator("#view-result [data-back]").click()
    open_request(page, second["id"])
    page.locator("#otp").fill(confirming_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#otp-hint")).to_contain_text("Thiết bị đang bị khoá")
    assert sqlite_server.session(second["id"])["status"] == "pending"


def test_lost_connection_gives_a_plain_message_and_the_request_is_signed_once(
    sqlite_server: RunningServer, page: Page
) -> None:
    phone = sqlite_server.new_phone("Hoàng Văn Em")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Biên bản.pdf"])
    open_request(page, asked["id"])
    page.context.set_offline(True)
    page.locator("#otp").fill(confirming_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#otp-hint")).to_contain_text("Mất kết nối tới máy chủ")
    expect(page.locator("#conn")).to_have_text("Mất kết nối")
    assert sqlite_server.session(asked["id"])["status"] == "pending"
    page.context.set_offline(False)
    expect(page.locator("#otp-hint")).to_contain_text("Đã kết nối lại", timeout=8_000)
    page.locator("#otp").fill(confirming_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#result-title")).to_have_text("Đã ký thành công")
    assert sqlite_server.session(asked["id"])["status"] == "signed"


def test_a_request_confirmed_on_another_screen_is_not_signed_twice(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Ngô Thị Khánh")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Hợp đồng thuê nhà.pdf"])
    # A second tab of the same app, deaf to live updates, keeps the request open while the first signs.
    stale = page.context.new_page()
    stale.route("**/api/mobile/events*", lambda route: route.abort())
    stale.goto(page.url)
    open_request(stale, asked["id"])
    stale.route(lambda url: "state=pending" in url, lambda route: route.abort())  # and now deaf to polls too
    open_request(page, asked["id"])
    page.locator("#otp").fill(confirming_code(phone.secret))
    page.locator("#confirm-btn").click()
    expect(page.locator("#result-title")).to_have_text("Đã ký thành công")
    stale.locator("#otp").fill(confirming_code(phone.secret))
    stale.locator("#confirm-btn").click()
    expect(stale.locator("#result-text")).to_have_text(
        "Yêu cầu này đã được xử lý trước đó (Đã ký). Không có gì được ký lần hai."
    )
    done = sqlite_server.session(asked["id"])
    assert done["status"] == "signed" and len(done["signatures"]) == 1


def test_keyboard_alone_pairs_and_confirms(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Bùi Văn Long")
    page.goto(phone.pairing_url)
    expect(page.locator("#pair-form")).to_be_visible()
    expect(page.locator("#pair-title")).to_be_focused()
    page.keyboard.press("Tab")  # focus follows reading order: the heading, the choice of codes, ...
    expect(page.locator("#src-app")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#src-other")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator("#authenticator-link")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#device-name")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#pair-code")).to_be_focused()
    page.keyboard.type(pairing_code(phone.secret))
    page.keyboard.press("Enter")
    expect(page.locator("#pending-title")).to_be_focused()

    asked = sqlite_server.ask(phone, ["Đơn xin nghỉ phép.pdf"])
    expect(page.locator(f'[data-open="{asked["id"]}"]')).to_be_visible()
    page.locator(f'[data-open="{asked["id"]}"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#req-title")).to_be_focused()
    page.locator("#otp").focus()
    page.keyboard.type(confirming_code(phone.secret))
    page.keyboard.press("Enter")
    expect(page.locator("#result-title")).to_be_focused()
    expect(page.locator("#announce")).to_contain_text("Đã ký thành công")


def test_installed_app_opens_offline_and_says_so(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Đỗ Thị Mai")
    pair(page, phone)
    assert page.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")
    page.reload()
    expect(page.locator("#pending-title")).to_be_visible()
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("#pending-title")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Mất kết nối")
    page.context.set_offline(False)
    expect(page.locator("#conn")).to_be_hidden(timeout=10_000)


def test_a_revoked_device_is_told_to_pair_again(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Trịnh Văn Nam")
    pair(page, phone)
    asked = sqlite_server.ask(phone, ["Hồ sơ vay.pdf"])
    open_request(page, asked["id"])
    (device,) = devices.list_devices(sqlite_server.ctx, user_id=phone.user_id)
    devices.revoke_device(sqlite_server.ctx, device_id=device.id, actor="test")
    # The server ends a revoked device's event stream at once: the app says so without a tap.
    expect(page.locator("#pair-result")).to_have_text(
        "Thiết bị này không còn được ghép nối (đã bị thu hồi). Hãy ghép nối lại bằng mã QR mới."
    )
    expect(page.locator("#tabs")).to_be_hidden()
    assert sqlite_server.session(asked["id"])["status"] == "pending"
    page.reload()
    expect(page.locator("#pair-link")).to_be_visible()  # nothing of the old pairing is kept


def test_polling_takes_over_when_server_sent_events_are_blocked(sqlite_server: RunningServer, browser: Browser) -> None:
    # Routes do not see requests a service worker handles: this phone runs without one.
    page = _phone_context(browser, service_workers="block").new_page()
    page.route("**/api/mobile/events*", lambda route: route.abort())
    phone = sqlite_server.new_phone("Vũ Thị Giang")
    pair(page, phone)
    expect(page.locator("#conn")).to_have_text("Cập nhật định kỳ")
    asked = sqlite_server.ask(phone, ["Công văn 45.pdf"])
    expect(page.locator(f'[data-open="{asked["id"]}"]')).to_be_visible()
    page.context.close()


def test_codes_made_by_the_app_match_oathtool_and_confirm(sqlite_server: RunningServer, page: Page) -> None:
    phone = sqlite_server.new_phone("Đặng Văn Hùng")
    # Paired with the previous step's code, so the code the app makes now is a fresh one.
    pair(page, phone, code=oathtool_code(phone.secret, current_step(margin=5) - 1), app_codes=True, pin="2580")
    # Web Crypto HOTP over the stored non-extractable key, against oathtool at fixed steps.
    for step in (0, 1, 56_666_666):
        made = page.evaluate(
            """async ([secret, step]) => {
                const totp = await import('./totp.js');
                const key = await totp.importSecret(totp.base32Decode(secret));
                return totp.hotp(key, step);
            }""",
            [phone.secret, step],
        )
        assert made == oathtool_code(phone.secret, step)
    asked = sqlite_server.ask(phone, ["Giấy uỷ quyền.pdf"])
    open_request(page, asked["id"])
    page.locator("#otp-fill").click()
    # The app's codes open only with the PIN, checked by the server (not merely an unlocked phone).
    expect(page.locator("#unlock-dialog")).to_be_visible()
    page.locator("#unlock-pin").fill("2580")
    page.locator("#unlock-submit").click()
    expect(page.locator("#unlock-dialog")).to_be_hidden()
    expect(page.locator("#otp")).to_have_value(re.compile(r"^\d{6}$"))
    step = current_step(margin=0)
    assert page.locator("#otp").input_value() in {oathtool_code(phone.secret, s) for s in (step - 1, step)}
    page.locator("#confirm-btn").click()
    expect(page.locator("#result-title")).to_have_text("Đã ký thành công")
    assert sqlite_server.session(asked["id"])["status"] == "signed"


def test_pairing_in_the_recommended_mode_by_tapping_fill_in_code(sqlite_server: RunningServer, page: Page) -> None:
    # The phone guide's steps, literally: the app makes the codes, the user taps "Điền mã", then "Ghép nối".
    # The button used to do nothing here: it read the code generator that exists only after pairing.
    phone = sqlite_server.new_phone("Hoàng Thị Mai")
    step = current_step(margin=3)
    page.goto(phone.pairing_url)
    expect(page.locator("#pair-form")).to_be_visible()
    expect(page.locator("#src-app")).to_be_checked()  # recommended: this app makes the codes
    page.get_by_role("button", name="Điền mã").click()
    expect(page.locator("#pair-code")).to_have_value(re.compile(r"^\d{6}$"))
    assert page.locator("#pair-code").input_value() in {oathtool_code(phone.secret, s) for s in (step, step + 1)}
    page.locator("#pair-submit").click()
    expect(page.locator("#view-pending")).to_be_visible()
    asked = sqlite_server.ask(phone, ["Công văn 125-STP.pdf"])  # the device is active: requests reach it
    session_id = asked["id"]
    expect(page.locator(f'[data-open="{session_id}"]')).to_be_visible()


def test_the_app_masks_signer_identifiers_as_the_library_does(sqlite_server: RunningServer, page: Page) -> None:
    subjects = [
        person_subject("Nguyễn Văn An", "001203012389", extra_ids=["MST:0100109106", "HC:C1234567"]),
        person_subject("Lê Thị Hoa", "079301000123", extra_ids=["MST:0100109106-001"], email="hoa@example.vn"),
        organization_subject("Công ty ABC, chi nhánh 1", "0100109106-001"),
    ]
    page.goto(f"{sqlite_server.base_url}/m/")
    for name in subjects:
        identity = SignerIdentity.from_name(name)
        shown = page.evaluate("async (dn) => (await import('./signer.js')).signerOf(dn)", name.rfc4514_string())
        assert shown["name"] == identity.name
        assert shown["ids"] == [i["uid"].replace(":", " ", 1) for i in identity.to_dict()["identifiers"]]


def test_a_decree30_document_shows_where_the_signature_goes_and_a_hash_request_shows_nothing(
    sqlite_server: RunningServer, page: Page
) -> None:
    phone = sqlite_server.new_phone("Nguyễn Văn An")
    marks.put_mark(sqlite_server.ctx, phone.user_id, SIGNATURE_PNG.read_bytes(), actor="test")
    pair(page, phone)
    letter = sqlite_server.ask_document(phone, LETTER, "decree30.person")
    hashes_only = sqlite_server.ask(phone, ["Tờ khai 05-KK.xml"])

    open_request(page, letter["id"])
    figure = page.locator("#req-previews figure")
    expect(figure).to_have_count(1)
    image = figure.locator("img")
    expect(image).to_have_attribute("loading", "lazy")
    expect(image).to_have_attribute("alt", re.compile(r"^Xem trước vùng ký trên cong-van\.pdf"))
    image.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#req-previews img').naturalWidth > 0")
    # The server's rendering of the signature area, decoded by the browser: wider than tall, and shown
    # scaled to the screen (no sideways scrolling at 360 px).
    natural = image.evaluate("(img) => [img.naturalWidth, img.naturalHeight, img.getBoundingClientRect().right]")
    assert natural[0] > natural[1] > 0 and natural[2] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # ... and what it shows is the person's blue signature, as the library drew it, with the signature
    # block's text around it (the position line and the printed name: where it goes).
    blue, dark = image.evaluate(PIXELS_SCRIPT)
    assert blue > 200 and dark > 100, (blue, dark)
    if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":  # the user guide's picture of it
        figure.screenshot(path=str(DOCS_IMAGES / "mobile-vi-preview.png"))
    page.locator("#lang").select_option("en")
    expect(image).to_have_attribute("alt", re.compile(r"^Preview of the signature area of cong-van\.pdf"))
    expect(page.locator("#req-previews-title")).to_have_text("Where the signature goes")
    page.locator("#lang").select_option("vi")

    page.locator("#view-request [data-back]").first.click()
    open_request(page, hashes_only["id"])
    expect(page.locator("#req-previews")).to_be_hidden()
    expect(page.locator("#req-previews img")).to_have_count(0)
    expect(page.locator("#req-previews-title")).to_be_hidden()


PIXELS_SCRIPT = """(img) => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0);
  const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let blue = 0, dark = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 2] > 120 && data[i] < 100 && data[i + 2] - data[i] > 60) blue++;
    else if (data[i] < 80 && data[i + 1] < 80 && data[i + 2] < 80 && data[i + 3] > 200) dark++;
  }
  return [blue, dark];
}"""


def test_pending_requests_are_grouped_by_relying_system_and_one_can_be_withdrawn(
    sqlite_server: RunningServer, page: Page
) -> None:
    """Requests from two relying systems show under two headings with their counts; the device screen
    lists both authorised systems and withdrawing one drops its requests (the server then refuses it)."""
    phone = sqlite_server.new_phone("Phạm Thị Hoa")
    other = clients.create_client(sqlite_server.ctx, name="Ngân hàng Á Châu", scopes=["sessions"], actor="test")
    grants.grant(sqlite_server.ctx, client_id=other.client.id, user_id=phone.user_id, actor="test")
    bank = {"Authorization": f"Bearer {sqlite_server._token_for(other.client.id, other.client_secret)}"}

    def bank_asks(name: str) -> httpx.Response:
        item = {"name": name, "digest": base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()}
        body = {"credential_id": phone.credential_id, "items": [item]}
        return sqlite_server.http.post("/api/sessions", json=body, headers=bank)

    pair(page, phone)
    portal = [sqlite_server.ask(phone, [f"Tờ khai {n}.xml"]) for n in (1, 2)]
    loans = [bank_asks(f"Hợp đồng vay {n}.pdf") for n in (1, 2, 3)]
    assert all(answer.status_code == 201 for answer in loans), [answer.text for answer in loans]
    expect(page.locator("#pending-count")).to_have_text("5")
    groups = page.locator("#pending-list > li.group")
    expect(groups).to_have_count(2)
    # Groups in name order: "Cổng Dịch vụ công Quốc gia" before "Ngân hàng Á Châu".
    expect(groups.locator(".group-name")).to_have_text(["Cổng Dịch vụ công Quốc gia", "Ngân hàng Á Châu"])
    portal_group = page.locator(f'[data-group="{sqlite_server.client_id}"]')
    bank_group = page.locator(f'[data-group="{other.client.id}"]')
    expect(portal_group.locator(".group-title .count")).to_have_text("2")
    expect(bank_group.locator(".group-title .count")).to_have_text("3")
    for asked in portal:
        expect(portal_group.locator(f'[data-session="{asked["id"]}"]')).to_contain_text(asked["confirmation_code"])
    for asked in (answer.json() for answer in loans):
        expect(bank_group.locator(f'[data-session="{asked["id"]}"]')).to_contain_text(asked["confirmation_code"])
    expect(bank_group.locator("li.card")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # English too, with the same grouping.
    page.locator("#lang").select_option("en")
    expect(bank_group.locator(".group-title .count")).to_have_attribute("aria-label", "3 request(s)")

    page.locator('.tab[data-view="settings"]').click()
    systems = page.locator("#systems-list > li")
    expect(systems).to_have_count(2)
    expect(page.locator("#systems-title")).to_have_text("Authorised systems")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'[data-withdraw="{other.client.id}"]').click()
    expect(systems).to_have_count(1)
    expect(page.locator("#systems-result")).to_contain_text("Ngân hàng Á Châu")
    # The server agrees: the bank may no longer ask this user.
    assert bank_asks("Hợp đồng vay 4.pdf").status_code == 404


def test_app_is_served_with_strict_security_headers(sqlite_server: RunningServer) -> None:
    for path in ("/m/", "/m/app.js", "/m/i18n/en.json", "/m/manifest.webmanifest", "/m/icons/icon-192.png"):
        answer = sqlite_server.http.get(path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert sqlite_server.http.get("/m").status_code in (307, 308)
    html = sqlite_server.http.get("/m/").text
    assert "<script>" not in html and "style=" not in html and " on" + "click=" not in html


def test_api_docs_render_with_nothing_fetched_elsewhere(sqlite_server: RunningServer, browser: Browser) -> None:
    # /docs on a closed network: Swagger UI's script and stylesheet come from the server, not a CDN.
    context = browser.new_context()
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.route(re.compile(r"^(?!" + re.escape(sqlite_server.base_url) + ")"), lambda route: route.abort())
    try:
        page.goto(f"{sqlite_server.base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("esign remote-signing service")
        expect(page.locator(".opblock-summary-path", has_text="/api/sessions").first).to_be_visible()
    finally:
        context.close()
    elsewhere = [u for u in urls if not u.startswith(sqlite_server.base_url) and not u.startswith("data:")]
    assert not elsewhere, elsewhere


CONTRAST_SCRIPT = """
() => {
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll('body *')) {
    const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!hasText || !box.width || !box.height || el.closest('[hidden]') || el.closest('.sr-only')) continue;
    const fg = rgba(getComputedStyle(el).color).slice(0, 3);
    const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < 4.5) worst.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)} "${text}"`);
  }
  return worst;
}
"""


def _shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"mobile-{name}.png"))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_main_screens_are_readable_at_360px_in_both_languages(
    sqlite_server: RunningServer, browser: Browser, lang: str
) -> None:
    """Screens fit 360 px, text contrast is at least 4.5:1, labels are in place; screenshots for the guide."""
    out = Path(tempfile.mkdtemp(prefix=f"mobile-shots-{lang}-"))
    context = _phone_context(browser, scale=2)
    page = context.new_page()
    try:
        phone = sqlite_server.new_phone("Nguyễn Thị Lan")
        page.goto(phone.pairing_url)
        expect(page.locator("#pair-form")).to_be_visible()
        if lang == "en":
            page.locator("#lang").select_option("en")
            expect(page.locator("#pair-title")).to_have_text("Pair this phone")
            expect(page.locator("#pair-expiry")).to_contain_text("valid until")
            expect(page.locator("#device-name")).to_have_value(re.compile(r"^Phone"))
        _shoot(page, out, f"{lang}-pair")
        # The app keeps the key to make codes itself; this first code is oathtool's, one step back.
        page.locator("#pair-pin").fill("2580")
        page.locator("#pair-code").fill(pairing_code(phone.secret))
        page.locator("#pair-submit").click()
        expect(page.locator("#view-pending")).to_be_visible()

        first = sqlite_server.ask(
            phone, ["Hợp đồng mua bán 2024-117.pdf", "Phụ lục giá.pdf"], description="Hợp đồng mua bán"
        )
        second = sqlite_server.ask(phone, ["Tờ khai 05-KK.xml"])
        expect(page.locator(f'[data-open="{second["id"]}"]')).to_be_visible()
        expect(page.locator("#pending-count")).to_have_text("2")
        _shoot(page, out, f"{lang}-pending")

        open_request(page, first["id"])
        page.locator("#otp").fill(confirming_code(phone.secret))
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(out / f"mobile-{lang}-request.png"), full_page=True)
        checks: list[str] = page.evaluate(CONTRAST_SCRIPT)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#confirm-btn").click()
        expect(page.locator("#result-box")).to_have_attribute("data-status", "signed")
        _shoot(page, out, f"{lang}-signed")
        if lang == "en":  # the screen on show follows a change of language at once
            page.locator("#lang").select_option("vi")
            expect(page.locator("#result-title")).to_have_text("Đã ký thành công")
            page.locator("#lang").select_option("en")
            expect(page.locator("#result-title")).to_have_text("Signed")
        checks += page.evaluate(CONTRAST_SCRIPT)

        page.locator("#view-result [data-back]").click()
        open_request(page, second["id"])
        page.locator("#otp").fill(wrong_code(phone.secret))
        page.locator("#confirm-btn").click()
        expect(page.locator("#otp")).to_have_attribute("aria-invalid", "true")
        page.locator("#otp-hint").scroll_into_view_if_needed()
        _shoot(page, out, f"{lang}-wrong-code")
        page.locator("#reject-btn").click()
        expect(page.locator("#result-box")).to_have_attribute("data-status", "rejected")
        page.locator('.tab[data-view="history"]').click()
        expect(page.locator("#history-list > li")).to_have_count(2)
        _shoot(page, out, f"{lang}-history")
        checks += page.evaluate(CONTRAST_SCRIPT)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator('.tab[data-view="settings"]').click()
        # No code on an unlocked screen: the Device tab shows it only after the PIN.
        expect(page.locator("#gen-locked")).to_be_visible()
        expect(page.locator("#gen-box")).to_be_hidden()
        page.locator("#gen-unlock").click()
        page.locator("#unlock-pin").fill("2580")
        page.locator("#unlock-submit").click()
        expect(page.locator("#gen-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
        _shoot(page, out, f"{lang}-device")
        checks += page.evaluate(CONTRAST_SCRIPT)
        assert not checks, f"text below 4.5:1 contrast: {checks}"
        assert page.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")

        # Every form control has a label a screen reader can read.
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, button')].filter((el) =>
                !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
            ).map((el) => el.id || el.outerHTML.slice(0, 60))"""
        )
        assert unlabelled == []
        if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            for shot in out.glob("*.png"):
                shutil.copy(shot, DOCS_IMAGES / shot.name)
    finally:
        context.close()
        shutil.rmtree(out, ignore_errors=True)
