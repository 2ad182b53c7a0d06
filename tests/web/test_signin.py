"""The sign-in page (``web/signin.py``): an accessible form, wrong passwords and disabled users refused
and logged, the shared sign-in throttle, where the browser goes next, and who is asking (an app, a
device, or the user's own pages)."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from authserver.accounts import users
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import SecurityEvent
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import pkce
from tests.conftest import password_login
from tests.web.conftest import csrf_token
from tests.web.conftest import sign_in
from tests.web.conftest import web_sid


def test_signin_page_is_an_accessible_form(client):
    page = client.get("/signin")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert '<main id="main"' in html and 'href="#main"' in html
    assert '<label for="username">Username</label>' in html and 'id="username"' in html
    assert '<label for="password">Password</label>' in html and 'autocomplete="current-password"' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert csrf_token(html)


def test_wrong_password_is_refused_and_logged(app, factory, client):
    factory.user()
    response = sign_in(client, password="wrong")
    assert response.status_code == 200
    assert "The username or password is incorrect." in response.text
    assert 'role="alert"' in response.text
    assert web_sid(app, client) is None
    with app.app_context():
        events = [(e.kind, e.username) for e in SecurityEvent.query.all()]
    assert events == [(security_events.LOGIN_FAILED, "alice")]


def test_disabled_user_cannot_sign_in(app, factory, client):
    factory.user()
    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="test")
        db.session.commit()
    response = sign_in(client)
    assert "The username or password is incorrect." in response.text
    assert web_sid(app, client) is None


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 3, "login_failure_window_seconds": 600}])
def test_signin_page_shares_the_failed_login_throttle(app, factory, client, clock):
    factory.user()
    registered = factory.client()
    for _ in range(2):
        sign_in(client, password="guess")
    password_login(client, registered, password="guess")  # failures count wherever they happen
    clock.advance(60)
    throttled = sign_in(client)  # even the right password waits
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "541"
    assert "Too many failed sign-ins. Try again in 10 minutes." in throttled.text
    assert web_sid(app, client) is None
    clock.advance(541)
    assert sign_in(client).headers["Location"] == "/account/devices"


def test_signin_follows_next_only_within_the_site(factory, client):
    factory.user("root", admin=True)
    assert sign_in(client, "root", next="/console").headers["Location"] == "/console"
    client.delete_cookie("session")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert sign_in(client, "root", next=target).headers["Location"] == "/account/devices"
        client.delete_cookie("session")


def test_signin_page_names_the_app_that_sent_the_browser(factory, client):
    app_client = code_client(factory, name="Zapier <beta>")
    redirect = client.get(authorize_url(app_client.client_id, challenge=pkce()))
    page = client.get(redirect.headers["Location"])
    assert "to continue to <strong>Zapier &lt;beta&gt;</strong>" in page.text
    assert "manage your devices" not in page.text
    # A wrong password keeps saying who asks.
    next_path = parse_qs(urlsplit(redirect.headers["Location"]).query)["next"][0]
    again = client.post("/signin", data={"username": "nobody", "password": "x", "csrf_token": csrf_token(page.text),
                                         "next": next_path})
    assert "incorrect" in again.text and "to continue to" in again.text


def test_signin_page_says_a_device_asks_without_looking_up_its_code(client):
    page = client.get("/signin", query_string={"next": "/device?user_code=WDJB-MJHT"})
    assert "to connect your TV, console or other device" in page.text
    assert "manage your devices" not in page.text


def test_signin_page_keeps_its_own_purpose_for_the_users_pages(client):
    for query in ({}, {"next": "/account/devices"}, {"next": "/oauth/authorize?client_id=unknown"}):
        page = client.get("/signin", query_string=query)
        assert "Use your authserver account to manage your devices." in page.text
