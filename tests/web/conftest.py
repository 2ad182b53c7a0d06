"""What the web page tests share: a test client that presents a desktop browser, signing in through
the form, reading the session cookie, posting forms with their CSRF token; and for the browser
tests, Chromium under Playwright (on SQLite only), signing in by keyboard, and screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.token_helpers import claims_of

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.1 Mobile/15E148 Safari/604.1")
# Flask-Login keeps the signed-in device session's id under this key of the session cookie.
SID_KEY = "_user_id"
# The browser tests (test_browser.py, test_device_browser.py): Debian's Chromium under Playwright.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# The browser tests' `pytestmark`.
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
# What Chromium presents in the browser tests (My devices shows "Chrome 124 on Windows 10").
WINDOWS_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
# scripts/screenshots points this at docs/screenshots/ (the committed ones README links).
SCREENSHOTS = Path(os.environ.get("AUTHSERVER_SCREENSHOTS_DIR")
                   or Path(__file__).resolve().parents[1] / "output" / "screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("browser tests run on SQLite only; the page tests cover the same views on PostgreSQL")


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A page in a browser context of its own (its own cookies), at desktop size, closed after the test."""
    context = chromium.new_context(user_agent=WINDOWS_UA, viewport=DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def expect():
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def client(app):
    """The test client presents a desktop browser's User-Agent (pages record the one they see)."""
    return browser(app)


@pytest.fixture
def admin_client(app, factory):
    factory.user("root", admin=True)
    http = browser(app)
    sign_in(http, "root")
    return http


def browser(app, user_agent=DESKTOP_UA):
    http = app.test_client()
    http.environ_base["HTTP_USER_AGENT"] = user_agent
    return http


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(http, username="alice", password=PASSWORD, user_agent=DESKTOP_UA, **extra):
    page = http.get("/signin", headers={"User-Agent": user_agent})
    form = {"username": username, "password": password, "csrf_token": csrf_token(page.text), **extra}
    return http.post("/signin", data=form, headers={"User-Agent": user_agent})


def cookie_contents(app, http) -> dict:
    cookie = http.get_cookie("session")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}


def web_sid(app, http) -> str | None:
    """The id of the device session the browser's cookie names, or None."""
    return cookie_contents(app, http).get(SID_KEY)


def post_form(http, page_url, action, **form):
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    page = http.get(page_url)
    return http.post(action, data={"csrf_token": csrf_token(page.text), **form})


def screenshot(page, name, widths=("desktop", "phone"), full_page=True):
    """The page at desktop and at phone width, into tests/output/screenshots/ for people to look at;
    ``full_page`` False: the first screen only."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        if label not in widths:
            continue
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=full_page)
    page.set_viewport_size(DESKTOP)


def sign_in_with_keyboard(page, expect, username):
    """Sign in the way a keyboard user does: type, Tab, type, Enter."""
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def token_sid(access_token) -> str:
    return claims_of(access_token)["sid"]
