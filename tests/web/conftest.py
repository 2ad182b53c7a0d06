"""What the web page tests share: a test client that presents a desktop browser, signing in through
the form, reading the session cookie, posting forms with their CSRF token; and for the browser
tests, Chromium under Playwright."""

from __future__ import annotations

import re

import jwt
import pytest

from authserver.store.models import DeviceSession
from tests.conftest import PASSWORD

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.1 Mobile/15E148 Safari/604.1")
# Flask-Login keeps the signed-in device session's id under this key of the session cookie.
SID_KEY = "_user_id"
# The browser tests (test_browser.py, test_device_browser.py): Debian's Chromium under Playwright.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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


def session_row(app, sid) -> DeviceSession:
    with app.app_context():
        return app.extensions["authserver"].sessions.find_user_session(sid)


def token_sid(access_token) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["sid"]
