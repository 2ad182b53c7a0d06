"""The sign-in page and the cookie it sets: signing in and out, the throttle, where the browser goes
next, CSRF on the form, and a session ended elsewhere signing the browser out."""

from __future__ import annotations

import pytest

from authserver import accounts
from authserver import audit
from authserver import create_app
from authserver.database import db
from authserver.models import Client
from authserver.models import DeviceSession
from authserver.models import SecurityEvent
from authserver.web.client import WEB_CLIENT_ID
from authserver.web.client import create_web_client
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.web.conftest import DESKTOP_UA
from tests.web.conftest import SID_KEY
from tests.web.conftest import cookie_contents
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
from tests.web.conftest import session_row
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


def test_signin_opens_a_device_session_of_the_web_client(app, factory, client):
    factory.user()
    response = sign_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/devices"
    session = session_row(app, web_sid(app, client))
    assert session.client_id == WEB_CLIENT_ID
    assert session.user_agent == DESKTOP_UA
    assert session.device_name == "Chrome 120 on Linux"
    assert session.ip == "127.0.0.1"
    assert session.scope == "profile"
    with app.app_context():
        web_client = db.session.get(Client, WEB_CLIENT_ID)
        assert (web_client.name, web_client.auth_method, web_client.grant_types) == ("authserver web", "none", "")
        kinds = [e.kind for e in SecurityEvent.query.all()]
    assert kinds == [audit.LOGIN_SUCCEEDED]


def test_admins_web_session_has_the_admin_scope(app, factory, client):
    factory.user("root", admin=True)
    sign_in(client, "root")
    assert session_row(app, web_sid(app, client)).scope == "profile admin"


def test_the_web_client_cannot_be_used_at_the_token_endpoint(factory, client):
    factory.user()
    sign_in(client)  # creates the web client
    response = client.post("/oauth/token", data={"grant_type": "password", "username": "alice",
                                                 "password": PASSWORD, "client_id": WEB_CLIENT_ID})
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"


def test_cookie_holds_only_the_session_id_and_csrf_secret(app, factory, client):
    factory.user()
    sign_in(client)
    contents = cookie_contents(app, client)
    # The session id, Flask-Login's freshness mark and client hash, the CSRF secret, "permanent".
    assert set(contents) <= {SID_KEY, "_fresh", "_id", "csrf_token", "_permanent"}
    assert client.get_cookie("remember_token") is None  # no remember-me cookie
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_cookie_is_secure_unless_turned_off(database_url, keys_dir, clock):
    from authserver.settings import Settings

    secure_app = create_app(Settings(database_url=database_url, keys_dir=keys_dir), clock=clock)
    try:
        page = secure_app.test_client().get("/signin", base_url="https://localhost")
        set_cookie = page.headers["Set-Cookie"]
        assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    finally:
        with secure_app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_wrong_password_is_refused_and_logged(app, factory, client):
    factory.user()
    response = sign_in(client, password="wrong")
    assert response.status_code == 200
    assert "The username or password is incorrect." in response.text
    assert 'role="alert"' in response.text
    assert web_sid(app, client) is None
    with app.app_context():
        events = [(e.kind, e.username) for e in SecurityEvent.query.all()]
    assert events == [(audit.LOGIN_FAILED, "alice")]


def test_disabled_user_cannot_sign_in(app, factory, client):
    factory.user()
    with app.app_context():
        accounts.disable_user(app.extensions["authserver"], accounts.find_user("alice"), actor="test")
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


def test_pages_redirect_to_signin_when_signed_out(client):
    response = client.get("/account/devices")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=/account/devices"
    assert client.get("/console").headers["Location"] == "/signin?next=/console"


def test_signing_in_again_ends_the_browsers_previous_session(app, factory, client):
    factory.user()
    sign_in(client)
    first = web_sid(app, client)
    assert client.get("/signin").headers["Location"] == "/account/devices"
    client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                 "csrf_token": csrf_token(client.get("/account/devices").text)})
    assert web_sid(app, client) != first
    assert session_row(app, first).ended_at is not None


def test_post_without_csrf_token_is_refused(app, factory, client):
    factory.user()
    client.get("/signin")
    response = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    with app.app_context():
        assert DeviceSession.query.count() == 0


def test_csrf_does_not_apply_to_the_token_endpoint(factory, client):
    factory.user()
    registered = factory.client()
    client.get("/signin")  # a browser-ish client with a session cookie changes nothing
    response = password_login(client, registered)
    assert response.status_code == 200, response.json
    assert refresh(client, registered, response.json["refresh_token"]).status_code == 200


def test_idle_session_sends_the_browser_back_to_signin(app, factory, client, clock):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    clock.advance(app.extensions["authserver"].settings.session_idle_timeout_seconds)
    response = client.get("/account/devices")
    assert response.headers["Location"].startswith("/signin")
    assert session_row(app, sid).ended_reason == "idle_timeout"
    assert web_sid(app, client) is None


def test_session_ended_elsewhere_signs_the_browser_out(app, factory, client):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    with app.app_context():
        app.extensions["authserver"].sessions.end_session(sid, "revocation", actor=None)
        db.session.commit()
    assert client.get("/account/devices").headers["Location"].startswith("/signin")


def test_sign_out_ends_the_device_session(app, factory, client):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    response = post_form(client, "/account/devices", "/account/signout")
    assert response.headers["Location"] == "/signin"
    assert session_row(app, sid).ended_reason == "user"
    assert web_sid(app, client) is None
    assert client.get("/account/devices").status_code == 302


def test_a_first_sign_in_that_loses_the_race_to_register_the_web_client_uses_the_winners(app, factory, client):
    factory.user()
    sign_in(client)  # registers the web client
    with app.app_context():
        accounts.create_user(app.extensions["authserver"], "bob", PASSWORD)  # earlier work of the same request
        assert create_web_client().client_id == WEB_CLIENT_ID  # its insert fails: the client exists by now
        db.session.commit()
    with app.app_context():
        assert accounts.find_user("bob") is not None  # only the failed insert was undone
        assert Client.query.filter_by(client_id=WEB_CLIENT_ID).count() == 1
