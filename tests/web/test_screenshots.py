"""The pages issue 28 changed, in Chromium, with a day of activity behind them: the sign-in page
naming the app or device that asks, the consent page, My devices with scopes in words, the console's
start page (the last 24 hours as SVG, the latest events and their search), a user in the console,
and /docs grouped by task. Screenshots go to tests/output/screenshots/, or, from
``scripts/screenshots``, to docs/screenshots/ (committed, linked from README)."""

from __future__ import annotations

import re

import pytest

from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.code_flow_helpers import pkce
from tests.conftest import password_login
from tests.conftest import refresh
from tests.web.conftest import IPHONE_UA
from tests.web.conftest import browser
from tests.web.conftest import needs_chromium
from tests.web.conftest import screenshot
from tests.web.conftest import sign_in_with_keyboard

pytestmark = needs_chromium

MAC_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Safari/605.1.15")
# Sign-ins per hour over the day, oldest first: quiet at night, busy in the day.
SIGN_INS = (1, 0, 0, 1, 0, 1, 2, 3, 4, 3, 2, 3, 4, 5, 3, 2, 3, 4, 2, 3, 2, 1, 1, 2)


def a_day_of_activity(app, clock, notes, zapier):
    """24 hours of sign-ins, refreshes, failed attempts, a reuse detection and sessions ending, through
    the token endpoint, ending at the clock's present."""
    http = browser(app)
    clock.advance(-23 * 3600)
    users = ("alice", "bob", "carol")
    for hour, count in enumerate(SIGN_INS):
        for number in range(count):
            http.environ_base["REMOTE_ADDR"] = f"198.51.100.{hour * 5 + number}"
            tokens = password_login(http, notes, username=users[number % 3], headers={"User-Agent": IPHONE_UA},
                                    device_name=f"{users[number % 3].title()}'s phone").json
            for _ in range(hour % 4 + 1):
                tokens = refresh(http, notes, tokens["refresh_token"], headers={"User-Agent": IPHONE_UA}).json
            if number == 1:  # signed out again
                http.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, headers=notes.auth({})[1])
        if hour in (9, 10, 16):  # someone guessing passwords from one address
            http.environ_base["REMOTE_ADDR"] = "203.0.113.66"
            for _ in range(3 if hour != 16 else 4):
                password_login(http, notes, username="bob", password="letmein")
        if hour == 14:  # a stolen refresh token replayed: the session ends
            http.environ_base["REMOTE_ADDR"] = "203.0.113.7"
            stolen = password_login(http, notes, username="carol").json["refresh_token"]
            refresh(http, notes, stolen)
            clock.advance(60)
            refresh(http, notes, stolen)
        clock.advance(3600)
    clock.advance(-3600 + 20 * 60)
    # Dana, whose My devices is shown: a phone, a laptop, and Zapier connected.
    password_login(http, notes, username="dana", headers={"User-Agent": IPHONE_UA}, device_name="Dana's iPhone",
                   scope="profile sessions")
    password_login(http, notes, username="dana", headers={"User-Agent": MAC_UA}, scope="profile email")
    connect(app, zapier, scope="profile email", username="dana")


@pytest.fixture
def a_day(app, factory, clock):
    factory.user("root", admin=True)
    for name in ("alice", "bob", "carol", "dana"):
        factory.user(name, email=f"{name}@example.com")
    notes = factory.client(name="Notes for iPhone", scope="profile email sessions")
    zapier = code_client(factory, name="Zapier", scope="profile email")
    a_day_of_activity(app, clock, notes, zapier)
    return zapier


def test_the_console_start_page_shows_the_day_and_the_latest_events(sqlite_only, a_day, live_server, page, expect):
    page.goto(live_server + "/console")
    sign_in_with_keyboard(page, expect, "root")
    expect(page.get_by_role("heading", name="Last 24 hours", level=2)).to_be_visible()
    for name in ("Sign-ins", "Refreshes", "Reuse detections", "Failed attempts", "Sessions ended"):
        expect(page.get_by_role("img", name=re.compile(f"^{name}.* per hour, last 24 hours"))).to_be_visible()
    expect(page.locator(".activity-legend")).to_contain_text("refresh token reused")
    events = page.get_by_role("table", name="Security events, newest first")
    expect(events).to_be_visible()
    screenshot(page, "console-start", widths=("desktop",))
    screenshot(page, "console-start", widths=("phone",), full_page=False)  # the chart, on a phone

    search = page.get_by_role("search", name="Recent security events")
    search.get_by_label("Username").fill("bob")
    search.get_by_label("Event").select_option(label="Failed sign-in")
    search.get_by_role("button", name="Show").click()
    expect(events.get_by_role("rowheader", name="Failed sign-in")).to_have_count(10)
    expect(events.get_by_role("rowheader", name="Signed in")).to_have_count(0)

    page.goto(live_server + "/console?username=dana")
    expect(page.get_by_role("heading", name=re.compile("^dana"), level=2)).to_be_visible()
    expect(page.locator(".device-scopes").first).to_contain_text("See your username")
    screenshot(page, "console-user", widths=("desktop",))

    page.goto(live_server + "/docs")
    page.locator("#tag-token > summary").click()  # a section opens where it is
    expect(page.get_by_role("heading", name="Token endpoint", level=2)).to_be_visible()
    expect(page.locator("#tag-token code", has_text="/oauth/token").first).to_be_visible()
    screenshot(page, "docs", widths=("desktop",))


def test_the_sign_in_page_names_who_asks_and_my_devices_says_what_each_can_do(sqlite_only, a_day, live_server,
                                                                              page, expect):
    page.goto(live_server + authorize_url(a_day.client_id, challenge=pkce(), scope="profile"))
    expect(page.get_by_text("to continue to Zapier")).to_be_visible()
    screenshot(page, "signin-app", widths=("desktop",))

    page.goto(live_server + "/device?user_code=WDJB-MJHT")
    expect(page.get_by_text("to connect your TV, console or other device")).to_be_visible()
    screenshot(page, "signin-device", widths=("phone",))
    sign_in_with_keyboard(page, expect, "dana")
    expect(page.get_by_label("Code")).to_have_value("WDJB-MJHT")

    page.goto(live_server + "/account/devices")
    expect(page.get_by_role("heading", name="My devices", level=1)).to_be_visible()
    devices = page.locator("section:has(#devices-heading) .device")
    # this browser, the one that allowed Zapier and Zapier's session in it, the phone, the laptop
    expect(devices).to_have_count(5)
    expect(devices.filter(has_text="Dana's iPhone")).to_contain_text(
        "Can: See your username; See the devices you are signed in on, and sign them out")
    apps = page.locator("section:has(#apps-heading) .device")
    expect(apps).to_have_count(1)
    expect(apps).to_contain_text("Allowed just now to: See your username; See your email address")
    screenshot(page, "my-devices")
