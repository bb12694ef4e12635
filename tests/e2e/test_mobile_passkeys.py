"""Passkeys, the PIN and the document preview in the phone app, in Debian's headless Chromium at 360x740,
in Vietnamese and English. The passkey is a virtual authenticator of the DevTools protocol (CTAP2,
internal transport, resident keys, user verification), so the app's WebAuthn calls run for real and the
server verifies them with py_webauthn. The app is served at http://localhost (a secure context; an IP
address is no WebAuthn relying-party id).

Set ``ESIGN_UPDATE_SCREENSHOTS=1`` to refresh the guide's screenshots (``docs/images/phone-*.png``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from esign_server.models import AuditEvent
from esign_server.services import marks
from esign_server.services.pki import ensure_service_pki
from playwright.sync_api import Browser, CDPSession, Page, expect
from sqlmodel import col, select

from tests.e2e.test_mobile_app import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCS_IMAGES,
    LETTER,
    PHONE,
    SIGNATURE_PNG,
    RunningServer,
    _phone_context,
    _serve,
    current_step,
    oathtool_code,
    open_request,
    pair,
)

TEXTS: dict[str, dict[str, str | re.Pattern[str]]] = {
    "vi": {
        "signed": "Đã ký thành công",
        "confirm": "Xác nhận bằng khoá truy cập",
        "cancelled": "Chưa xác minh được bạn trên điện thoại (đã huỷ hoặc không thành công). Chưa có gì được ký.",
        "registered": re.compile(r"^Đã đăng ký 1 khoá truy cập"),
        "pages": "Xem trước tài liệu",
        "page_alt": re.compile(r"^Trang 1/\d+ của cong-van\.pdf$"),
        "mark": "Chữ ký sẽ được đặt trong khung này",
        "locked": "Mã OTP của ứng dụng đang được khoá. Mở bằng khoá truy cập hoặc mã PIN để xem.",
        "pin_wrong": "Mã PIN không đúng. Còn 4 lần thử trước khi bị khoá.",
    },
    "en": {
        "signed": "Signed",
        "confirm": "Confirm with passkey",
        "cancelled": "The phone could not verify you (cancelled or failed). Nothing was signed.",
        "registered": re.compile(r"^1 passkey\(s\) registered"),
        "pages": "Document preview",
        "page_alt": re.compile(r"^Page 1 of \d+ of cong-van\.pdf$"),
        "mark": "The signature will be placed in this box",
        "locked": "This app's OTP codes are locked. Unlock them with your passkey or PIN to see them.",
        "pin_wrong": "Wrong PIN. 4 tries left before it locks.",
    },
}


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server on SQLite at http://localhost:<port>, shared by this module's tests (one user each)."""
    pki_dir = tmp_path_factory.mktemp("passkey-pki") / "pki"
    ensure_service_pki(pki_dir, "esign-dev", "http://127.0.0.1:1")
    var = tmp_path_factory.mktemp("passkey-var")
    yield from _serve(f"sqlite:///{var / 'esign.db'}", pki_dir, var, host="localhost")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (its own driver: this module may run alone or after the others)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh phone, failing the test on any uncaught error in the app."""
    context = _phone_context(browser, scale=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the app: {errors}"


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator with user verification, through the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def use_language(page: Page, server: RunningServer, lang: str) -> None:
    """Open the app and pick ``lang`` (remembered on the phone) before pairing."""
    page.goto(f"{server.base_url}/m/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")  # the app listens by now
    page.locator("#lang").select_option(lang)
    expect(page.locator("html")).to_have_attribute("lang", lang)


def audit_events(server: RunningServer, action: str) -> list[AuditEvent]:
    with server.ctx.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))))


def shoot(page: Page, name: str, **options: Any) -> None:
    if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGES / name), **options)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_passkey_registered_at_pairing_confirms_the_request(
    localhost_server: RunningServer, page: Page, lang: str
) -> None:
    server = localhost_server
    cdp, authenticator = virtual_authenticator(page)
    phone = server.new_phone("Nguyễn Thị Lan" if lang == "vi" else "Tran Van Minh")
    use_language(page, server, lang)
    page.goto(phone.pairing_url)
    expect(page.locator("#pair-form")).to_be_visible()
    expect(page.locator("#pair-passkey-wrap")).to_be_visible()  # offered: the phone has a platform passkey
    expect(page.locator("#pair-passkey")).to_be_checked()
    page.locator("#pair-pin").fill("2580")
    shoot(page, f"phone-passkey-{lang}-pair.png", full_page=True)
    page.locator("#pair-code").fill(oathtool_code(phone.secret, current_step(margin=5) - 1))
    page.locator("#pair-submit").click()
    expect(page.locator("#view-pending")).to_be_visible()
    # Registered right after pairing, with the phone's own user verification.
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#passkey-status")).to_have_text(TEXTS[lang]["registered"])
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"

    names = ["Hợp đồng lao động.pdf"]
    asked = server.ask(phone, names, description="Ký hợp đồng lao động")
    page.locator('.tab[data-view="pending"]').click()
    open_request(page, asked["id"])
    expect(page.locator("#passkey-btn")).to_have_text(TEXTS[lang]["confirm"])
    shoot(page, f"phone-passkey-{lang}-request.png", full_page=True)
    page.locator("#passkey-btn").click()
    expect(page.locator("#result-title")).to_have_text(TEXTS[lang]["signed"])
    shoot(page, f"phone-passkey-{lang}-signed.png")
    done = server.session(asked["id"], wait=5)
    assert done["status"] == "signed" and len(done["signatures"]) == 1
    signed = [e for e in audit_events(server, "session.signed") if e.target == f"session:{asked['id']}"]
    assert [e.details["method"] for e in signed] == ["passkey"]
    counter = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]["signCount"]
    assert counter >= 2  # the registration and the assertion

    # The Device tab's code needs the user too: the passkey unlocks it.
    page.locator("#view-result [data-back]").click()
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#gen-locked")).to_be_visible()
    expect(page.locator("#gen-locked-text")).to_have_text(TEXTS[lang]["locked"])
    page.locator("#gen-unlock").click()
    page.locator("#unlock-passkey").click()
    expect(page.locator("#gen-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    unlocked = [e for e in audit_events(server, "device.unlocked") if e.actor.startswith("device:")]
    assert unlocked and unlocked[-1].details["method"] == "passkey"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_failed_passkey_check_signs_nothing_and_the_code_still_works(
    localhost_server: RunningServer, page: Page, lang: str
) -> None:
    server = localhost_server
    cdp, authenticator = virtual_authenticator(page)
    phone = server.new_phone("Lê Văn Cường" if lang == "vi" else "Pham Thi Dung")
    use_language(page, server, lang)
    # Paired with the previous step's code, so the code the app makes later is a fresh one.
    pair(page, phone, app_codes=True, pin="2580", code=oathtool_code(phone.secret, current_step(margin=5) - 1))
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#passkey-status")).to_have_text(TEXTS[lang]["registered"])
    asked = server.ask(phone, ["Quyết định 45.pdf"])
    page.locator('.tab[data-view="pending"]').click()
    open_request(page, asked["id"])
    # The phone's user verification fails (wrong finger): the browser refuses, nothing reaches the server.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    page.locator("#passkey-btn").click()
    expect(page.locator("#passkey-hint")).to_have_text(TEXTS[lang]["cancelled"])
    expect(page.locator("#passkey-hint")).to_have_attribute("data-kind", "error")
    page.locator("#passkey-hint").scroll_into_view_if_needed()
    shoot(page, f"phone-passkey-{lang}-failed.png")
    assert server.session(asked["id"])["status"] == "pending"
    # The TOTP code stays as the fallback: the PIN unlocks the app's code, which confirms.
    page.locator("#otp-fill").click()
    page.locator("#unlock-pin").fill("1111")
    page.locator("#unlock-submit").click()
    expect(page.locator("#unlock-error")).to_have_text(TEXTS[lang]["pin_wrong"])
    page.locator("#unlock-pin").fill("2580")
    page.locator("#unlock-submit").click()
    expect(page.locator("#otp")).to_have_value(re.compile(r"^\d{6}$"))
    page.locator("#confirm-btn").click()
    expect(page.locator("#result-title")).to_have_text(TEXTS[lang]["signed"])
    signed = [e for e in audit_events(server, "session.signed") if e.target == f"session:{asked['id']}"]
    assert [e.details["method"] for e in signed] == ["totp"]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_document_request_shows_its_first_pages_with_the_marks_box(
    localhost_server: RunningServer, page: Page, lang: str
) -> None:
    server = localhost_server
    phone = server.new_phone("Nguyễn Văn An")  # the name the letter prints under its signature
    marks.put_mark(server.ctx, phone.user_id, SIGNATURE_PNG.read_bytes(), actor="test")
    use_language(page, server, lang)
    pair(page, phone)
    letter = server.ask_document(phone, LETTER, "decree30.person")
    hashes_only = server.ask(phone, ["Tờ khai 05-KK.xml"], description="Quyết toán thuế TNCN")
    open_request(page, letter["id"])
    expect(page.locator("#req-pages-title")).to_have_text(TEXTS[lang]["pages"])
    first = page.locator("#req-pages figure").first
    expect(first.locator("img")).to_have_attribute("alt", TEXTS[lang]["page_alt"])
    box = page.locator("#req-pages .mark-box")
    expect(box).to_have_count(1)
    expect(box).to_have_attribute("aria-label", TEXTS[lang]["mark"])
    box.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#req-pages img')].every((img) => img.naturalWidth > 0)"
    )
    # The box lies on the rendered page, over the blue signature drawn there, within the 360 px screen.
    frame = box.locator("xpath=..")
    image = frame.locator("img")
    inside = box.evaluate(
        """(box) => {
          const img = box.parentElement.querySelector('img');
          const r = box.getBoundingClientRect(), p = img.getBoundingClientRect();
          const canvas = document.createElement('canvas');
          canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
          const g = canvas.getContext('2d'); g.drawImage(img, 0, 0);
          const sx = img.naturalWidth / p.width, sy = img.naturalHeight / p.height;
          const data = g.getImageData((r.left - p.left) * sx, (r.top - p.top) * sy, r.width * sx, r.height * sy).data;
          let blue = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 2] > 120 && data[i] < 100 && data[i + 2] - data[i] > 60) blue++;
          }
          return [blue, r.right <= p.right + 1, r.bottom <= p.bottom + 1, p.right];
        }"""
    )
    assert inside[0] > 50 and inside[1] and inside[2] and inside[3] <= PHONE["width"], inside
    assert image.evaluate("(img) => img.naturalWidth") == server.ctx.settings.preview_width_px
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if os.environ.get("ESIGN_UPDATE_SCREENSHOTS") == "1":
        page.locator("#req-pages-title").scroll_into_view_if_needed()
        shoot(page, f"phone-preview-{lang}.png")

    # A request of hashes shows its names and description, and no pages.
    page.locator("#view-request [data-back]").first.click()
    open_request(page, hashes_only["id"])
    expect(page.locator("#req-docs li")).to_have_text(["Tờ khai 05-KK.xml"])
    expect(page.locator("#req-desc")).to_have_text("Quyết toán thuế TNCN")
    expect(page.locator("#req-pages")).to_be_hidden()
    expect(page.locator("#req-pages-title")).to_be_hidden()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_push_message_shows_a_notification_from_the_service_worker(
    localhost_server: RunningServer, page: Page, lang: str
) -> None:
    """The push service's side is tested in tests/server (a local endpoint decrypts what the server sent);
    here DevTools hands the service worker a push message as a push service would deliver it."""
    server = localhost_server
    page.context.grant_permissions(["notifications"], origin=server.base_url)
    phone = server.new_phone("Đỗ Thị Mai" if lang == "vi" else "Do Van Nam")
    use_language(page, server, lang)
    pair(page, phone)
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#push-enable")).to_be_visible()  # the server has a VAPID key (dev mode)
    assert page.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")
    cdp = page.context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(r["registrationId"] for r in event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    for _ in range(100):  # the registrations are reported soon after enabling
        if registrations:
            break
        page.wait_for_timeout(100)
    assert registrations
    message = {"type": "session", "session_id": "s-1", "title": "Yêu cầu ký mới", "body": "Cổng DVC · B3K-2KC"}
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": server.base_url, "registrationId": registrations[-1], "data": json.dumps(message)},
    )
    shown = page.wait_for_function(
        """() => navigator.serviceWorker.ready
             .then((r) => r.getNotifications())
             .then((list) => list.length ? list.map((n) => [n.title, n.body, n.tag]) : null)"""
    ).json_value()
    assert shown == [["Yêu cầu ký mới", "Cổng DVC · B3K-2KC", "session-s-1"]]
