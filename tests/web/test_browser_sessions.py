"""Signing the browser in and out (``web/browser_sessions.py``): the cookie holds only the session id
and the CSRF secret, is Secure unless turned off; signing in again ends the browser's previous
session; an idle, ended or signed-out session sends the browser back to sign-in."""

from __future__ import annotations

from authserver import create_app
from authserver.store.database import db
from tests.conftest import PASSWORD
from tests.session_helpers import session_row
from tests.web.conftest import SID_KEY
from tests.web.conftest import cookie_contents
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
from tests.web.conftest import sign_in
from tests.web.conftest import web_sid


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
