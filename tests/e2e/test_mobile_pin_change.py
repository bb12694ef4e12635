"""Changing the PIN in the phone app, in Debian's headless Chromium at 360x740, in Vietnamese: from the
Device tab, the old PIN, the new one twice; the server judges the old PIN (a wrong one counts as at
unlock); afterwards the new PIN unlocks the app's codes and the old one does not."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from esign_server.models import AuditEvent
from esign_server.services.pki import ensure_service_pki
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select

from tests.e2e.test_mobile_app import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    RunningServer,
    _phone_context,
    _serve,
    current_step,
    oathtool_code,
    pair,
)


@pytest.fixture(scope="module")
def pin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server on SQLite, shared by this module's tests (one user each)."""
    pki_dir = tmp_path_factory.mktemp("pin-pki") / "pki"
    ensure_service_pki(pki_dir, "esign-dev", "http://127.0.0.1:1")
    var = tmp_path_factory.mktemp("pin-var")
    yield from _serve(f"sqlite:///{var / 'esign.db'}", pki_dir, var)


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
    context = _phone_context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the app: {errors}"


def device_actions(server: RunningServer, prefix: str) -> list[str]:
    with server.ctx.db.read() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    return [e.action for e in events if e.action.startswith(prefix)]


def fill_pins(page: Page, old: str, new: str, repeated: str) -> None:
    page.locator("#pin-old").fill(old)
    page.locator("#pin-new").fill(new)
    page.locator("#pin-repeat").fill(repeated)
    page.locator("#pin-submit").click()


def test_the_pin_is_changed_in_vietnamese_and_the_new_one_unlocks_the_codes(
    pin_server: RunningServer, page: Page
) -> None:
    server = pin_server
    phone = server.new_phone("Nguyễn Thị Hoa")
    # Paired with the previous step's code, so the code the app makes later is a fresh one.
    pair(page, phone, app_codes=True, pin="2580", code=oathtool_code(phone.secret, current_step(margin=5) - 1))
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#pin-title")).to_have_text("Mã PIN")
    page.locator("#pin-change-open").click()
    expect(page.locator("#view-pin")).to_be_visible()
    expect(page.locator("#pin-change-title")).to_have_text("Đổi mã PIN")
    expect(page.locator("#pin-change-title")).to_be_focused()
    expect(page.locator('.tab[data-view="settings"]')).to_have_attribute("aria-current", "page")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    result = page.locator("#pin-result")
    # The two new PINs differ: said on the phone, nothing sent.
    fill_pins(page, "2580", "1357", "1358")
    expect(result).to_have_text("Hai lần nhập mã PIN mới không giống nhau.")
    expect(page.locator("#pin-repeat")).to_have_attribute("aria-invalid", "true")
    # A wrong current PIN: the server counts it, as at unlock.
    fill_pins(page, "1111", "1357", "1357")
    expect(result).to_have_text("Mã PIN hiện tại không đúng. Còn 4 lần thử trước khi bị khoá.")
    expect(result).to_have_attribute("data-kind", "error")
    expect(page.locator("#pin-old")).to_be_focused()

    fill_pins(page, "2580", "1357", "1357")
    expect(result).to_have_text("Đã đổi mã PIN. Từ nay hãy dùng mã PIN mới để mở mã OTP.")
    expect(result).to_have_attribute("data-kind", "info")
    for field in ("#pin-old", "#pin-new", "#pin-repeat"):
        expect(page.locator(field)).to_have_value("")
    # The message follows a change of language at once.
    page.locator("#lang").select_option("en")
    expect(result).to_have_text("PIN changed. Use the new PIN to unlock your OTP codes from now on.")
    page.locator("#lang").select_option("vi")
    expect(result).to_have_text("Đã đổi mã PIN. Từ nay hãy dùng mã PIN mới để mở mã OTP.")
    assert device_actions(server, "device.pin") == ["device.pin_set", "device.pin_failed", "device.pin_changed"]

    # Back on the Device tab: the old PIN no longer unlocks the app's codes, the new one does.
    page.locator("#pin-back").click()
    expect(page.locator("#view-settings")).to_be_visible()
    page.locator("#gen-unlock").click()
    page.locator("#unlock-pin").fill("2580")
    page.locator("#unlock-submit").click()
    expect(page.locator("#unlock-error")).to_have_text("Mã PIN không đúng. Còn 4 lần thử trước khi bị khoá.")
    page.locator("#unlock-pin").fill("1357")
    page.locator("#unlock-submit").click()
    expect(page.locator("#unlock-dialog")).to_be_hidden()
    expect(page.locator("#gen-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    step = current_step(margin=0)
    shown = page.locator("#gen-code").inner_text().replace(" ", "")
    assert shown in {oathtool_code(phone.secret, s) for s in (step - 1, step)}


def test_a_device_without_a_pin_offers_no_change(pin_server: RunningServer, page: Page) -> None:
    phone = pin_server.new_phone("Trần Văn Khoa")
    pair(page, phone)  # codes from the user's own authenticator: no PIN
    page.locator('.tab[data-view="settings"]').click()
    expect(page.locator("#passkey-status")).not_to_have_text("")  # the device's security has been read
    expect(page.locator("#pin-box")).to_be_hidden()
