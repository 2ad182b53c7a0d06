"""My devices, the sessions console and connecting a third-party app (sign-in, consent, back to
the app with a code) in a real browser: Playwright driving Debian's Chromium against the live
server. Screenshots of the pages, at desktop and phone width, are written to
tests/output/screenshots/ for people to look at.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.code_flow_helpers import STATE
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import pkce
from tests.conftest import PASSWORD
from tests.web.conftest import IPHONE_UA
from tests.web.conftest import needs_chromium
from tests.web.conftest import screenshot
from tests.web.conftest import sign_in_with_keyboard

MAC_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Safari/605.1.15")

pytestmark = needs_chromium


def api_login(live_server, registered, username, user_agent, password=PASSWORD, **extra):
    """A password-grant sign-in from a native app, over real HTTP."""
    data, headers = registered.auth({"grant_type": "password", "username": username, "password": password,
                                     **extra})
    return requests.post(live_server + "/oauth/token", data=data, headers={**headers, "User-Agent": user_agent},
                         timeout=10)


def api_refresh(live_server, registered, refresh_token):
    data, headers = registered.auth({"grant_type": "refresh_token", "refresh_token": refresh_token})
    return requests.post(live_server + "/oauth/token", data=data, headers=headers, timeout=10)


def test_user_signs_out_another_device(sqlite_only, app, factory, clock, live_server, page, expect):
    factory.user("alice")
    notes = factory.client(name="Notes for iPhone")
    phone = api_login(live_server, notes, "alice", IPHONE_UA)
    assert phone.status_code == 200, phone.text
    clock.advance(2 * 3600)

    page.goto(live_server + "/account/devices")
    expect(page).to_have_url(re.compile(r"/signin\?next=/account/devices$"))
    screenshot(page, "signin")
    sign_in_with_keyboard(page, expect, "alice")

    expect(page.get_by_role("heading", name="My devices", level=1)).to_be_visible()
    cards = page.locator("ul.devices > li")
    expect(cards).to_have_count(2)
    this_device = cards.filter(has_text="This device")
    expect(this_device).to_contain_text("Chrome 124 on Windows 10")
    expect(this_device).to_contain_text("Desktop · via authserver web")
    iphone = cards.filter(has_text="iOS 17")
    expect(iphone).to_contain_text("Mobile Safari 17 on iOS 17")
    expect(iphone).to_contain_text("Phone · via Notes for iPhone")
    expect(iphone).to_contain_text("2 hours ago")
    expect(iphone).to_contain_text("127.0.0.1")
    assert phone.json()["refresh_token"] not in page.content()
    screenshot(page, "my-devices")

    # The skip link is the first stop for the keyboard, and focus is visible.
    page.locator("body").focus()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert skip.bounding_box()["y"] >= 0

    iphone.get_by_role("button", name=re.compile(r"^Sign out")).click()
    expect(page.get_by_role("status")).to_contain_text("Signed out Mobile Safari 17 on iOS 17.")
    expect(cards).to_have_count(1)
    expect(page.get_by_role("button", name="Sign out all other devices")).to_have_count(0)

    refused = api_refresh(live_server, notes, phone.json()["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    page.goto(live_server + "/account/devices")
    expect(page).to_have_url(re.compile(r"/signin"))


def test_admin_ends_all_sessions_of_a_user_from_the_console(sqlite_only, app, factory, clock, live_server,
                                                            page, expect):
    factory.user("root", admin=True)
    factory.user("bob", email="bob@example.com")
    notes = factory.client(name="Notes")
    assert api_login(live_server, notes, "bob", IPHONE_UA, password="guess").status_code == 400
    bobs = [api_login(live_server, notes, "bob", IPHONE_UA).json()["refresh_token"],
            api_login(live_server, notes, "bob", MAC_UA, device_name="Bob's MacBook").json()["refresh_token"]]
    clock.advance(45 * 60)

    page.goto(live_server + "/console")
    sign_in_with_keyboard(page, expect, "root")
    expect(page.get_by_role("heading", name="Sessions console", level=1)).to_be_visible()

    search = page.get_by_role("search", name="Find a user")
    search.get_by_label("Find a user by username").fill("bob")
    search.get_by_label("Find a user by username").press("Enter")
    expect(page.get_by_role("heading", name=re.compile(r"^bob"), level=2)).to_be_visible()
    cards = page.locator("ul.devices > li")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="Bob's MacBook")).to_contain_text("Safari 17 on Mac OS X 10 · Desktop")
    events = page.get_by_role("table")
    expect(events).to_contain_text("Failed sign-in")
    expect(events).to_contain_text("wrong username or password")
    expect(events.get_by_role("rowheader", name="Signed in")).to_have_count(2)
    screenshot(page, "console")

    page.get_by_role("button", name="End all sessions").click()
    expect(page.get_by_role("status")).to_contain_text("Ended 2 sessions of bob.")
    expect(cards).to_have_count(0)
    expect(page.get_by_text("bob is not signed in anywhere.")).to_be_visible()
    expect(events.get_by_role("rowheader", name="Session ended")).to_have_count(2)

    for refresh_token in bobs:
        refused = api_refresh(live_server, notes, refresh_token)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"


class AppCallback:
    """A third-party app's redirect URI: a tiny HTTP server on 127.0.0.1 (another origin than the
    authorization server) that answers 200 and records the URLs the browser was sent to."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(self.path)
                body = b"<!doctype html><title>Example app</title><h1>Connected to authserver</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def app_callback():
    callback = AppCallback()
    yield callback
    callback.close()


def test_user_connects_an_app_through_sign_in_and_consent(sqlite_only, app, factory, live_server, page, expect,
                                                          app_callback):
    alice = factory.user("alice", email="alice@example.com")
    zapier = code_client(factory, name="Zapier", scope="profile email", redirect_uris=(app_callback.uri,))
    verifier = pkce()

    page.goto(live_server + authorize_url(zapier.client_id, redirect_uri=app_callback.uri, challenge=verifier))
    expect(page).to_have_url(re.compile(r"/signin\?next=/oauth/authorize"))
    sign_in_with_keyboard(page, expect, "alice")

    expect(page.get_by_role("heading", name="Zapier wants to:", level=1)).to_be_visible()
    scopes = page.locator(".consent-scopes li")
    expect(scopes).to_have_count(2)
    expect(scopes.nth(0)).to_contain_text("See your username")
    expect(scopes.nth(1)).to_contain_text("See your email address")
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    screenshot(page, "consent")

    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile("^" + re.escape(app_callback.uri) + r"\?code="))
    expect(page.get_by_role("heading", name="Connected to authserver")).to_be_visible()
    params = {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}
    assert params["state"] == STATE
    assert params["iss"] == app.extensions["authserver"].settings.issuer
    assert [path for path in app_callback.received if path.startswith("/callback")] == [
        urlsplit(page.url).path + "?" + urlsplit(page.url).query]  # (Chromium may also ask for /favicon.ico)

    data, headers = zapier.auth({"grant_type": "authorization_code", "code": params["code"],
                                 "redirect_uri": app_callback.uri, "code_verifier": verifier.verifier})
    tokens = requests.post(live_server + "/oauth/token", data=data, headers=headers, timeout=10)
    assert tokens.status_code == 200, tokens.text
    me = requests.get(live_server + "/api/me", headers={"Authorization": "Bearer " + tokens.json()["access_token"]},
                      timeout=10)
    assert me.json() == {"sub": alice, "username": "alice", "email": "alice@example.com"}
