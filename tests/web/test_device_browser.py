"""The device verification page (RFC 8628 §3.3) in a real browser: Playwright driving Debian's
Chromium against the live server, while a device starts and polls over real HTTP. Screenshots of
the code, confirm and done pages, at desktop and phone width, go to tests/output/screenshots/."""

from __future__ import annotations

import re

import requests

from tests.device_helpers import DEVICE_AUTHORIZATION
from tests.device_helpers import DEVICE_GRANT
from tests.device_helpers import device_client
from tests.web.conftest import needs_chromium
from tests.web.conftest import screenshot
from tests.web.conftest import sign_in_with_keyboard

TV_UA = ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 "
         "TV Safari/537.36")

pytestmark = needs_chromium


def device_poll(live_server, registered, device_code):
    return requests.post(live_server + "/oauth/token", timeout=10, headers={"User-Agent": TV_UA}, data={
        "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": registered.client_id})


def test_rfc8628_3_3_user_approves_a_tv_on_the_verification_page(sqlite_only, app, factory, clock, live_server,
                                                                  page, expect):
    factory.user("alice")
    tv = device_client(factory, name="TV app")
    started = requests.post(live_server + DEVICE_AUTHORIZATION, timeout=10, headers={"User-Agent": TV_UA},
                            data={"client_id": tv.client_id, "scope": "profile sessions",
                                  "device_name": "Living room TV"})
    assert started.status_code == 200, started.text
    codes = started.json()
    assert device_poll(live_server, tv, codes["device_code"]).json()["error"] == "authorization_pending"

    # The user first types the code by hand, wrongly, as people do: a clear message, focus kept.
    page.goto(live_server + "/device")
    sign_in_with_keyboard(page, expect, "alice")
    expect(page.get_by_role("heading", name="Connect a device", level=1)).to_be_visible()
    code_field = page.get_by_label("Code")
    expect(code_field).to_be_focused()
    page.keyboard.type("bcdf ghjk")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "That code is not valid. Check the code on your device; it may have expired or been used already.")
    expect(code_field).to_have_attribute("aria-invalid", "true")
    screenshot(page, "device-wrong-code")

    # Then follows the link (or QR code) the TV shows: the code is filled in.
    path = codes["verification_uri_complete"].split("://", 1)[1].split("/", 1)[1]
    page.goto(f"{live_server}/{path}")
    expect(page).to_have_url(re.compile(r"/device\?user_code=" + codes["user_code"] + "$"))
    expect(code_field).to_have_value(codes["user_code"])
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, "device-code")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="TV app on Living room TV wants to:", level=1)).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="See your username")).to_be_visible()
    expect(page.get_by_text("See your username")).to_be_visible()
    expect(page.get_by_text("See the devices you are signed in on, and sign them out")).to_have_count(0)
    expect(page.get_by_text("The device gets a limited session for alice")).to_be_visible()
    assert codes["device_code"] not in page.content()
    screenshot(page, "device-confirm")
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("heading", name="Device connected", level=1)).to_be_visible()
    expect(page.get_by_text("TV app is now signed in on your device.")).to_be_visible()
    screenshot(page, "device-done")

    clock.advance(codes["interval"])
    tokens = device_poll(live_server, tv, codes["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "profile sessions"

    page.get_by_role("link", name="Go to My devices").click()
    expect(page.get_by_role("heading", name="My devices", level=1)).to_be_visible()
    tv_card = page.locator("ul.devices > li").filter(has_text="Living room TV")
    expect(tv_card).to_have_count(1)
    expect(tv_card.locator(".badge", has_text="Limited")).to_be_visible()
    expect(tv_card).to_contain_text("via TV app")
    assert tokens.json()["refresh_token"] not in page.content()
