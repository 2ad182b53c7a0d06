"""The sign-in page and the cookie it sets: signing in and out, the throttle, where the browser goes
next, CSRF on the form, and a session ended elsewhere signing the browser out."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from authserver import create_app
from authserver.accounts import users
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import DeviceSession
from authserver.store.models import SecurityEvent
from authserver.web.client import WEB_CLIENT_ID
from authserver.web.client import create_web_client
from authserver.web.known_browsers import COOKIE_NAME as DEVICE_COOKIE
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import pkce
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.web.conftest import DESKTOP_UA
from tests.web.conftest import SID_KEY
from tests.web.conftest import cookie_contents
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
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
    assert kinds == [security_events.LOGIN_SUCCEEDED]


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
        users.create_user(app.extensions["authserver"], "bob", PASSWORD)  # earlier work of the same request
        assert create_web_client().client_id == WEB_CLIENT_ID  # its insert fails: the client exists by now
        db.session.commit()
    with app.app_context():
        assert users.find_user("bob") is not None  # only the failed insert was undone
        assert Client.query.filter_by(client_id=WEB_CLIENT_ID).count() == 1


# -- the device cookie: an account under a guessing attack -----------------------------------
# Small budgets: per username and IP 3, per IP 3, per account 4, per device cookie 3.
DEVICE_LIMITS = {"login_max_failures": 3, "login_ip_max_failures": 3, "login_account_max_failures": 4,
                 "login_device_cookie_max_failures": 3, "login_failure_window_seconds": 600}


def browser_at(app, ip):
    """A browser of its own (cookie jar) at this address."""
    from tests.web.conftest import browser

    http = browser(app)
    http.environ_base["REMOTE_ADDR"] = ip
    return http


def signed_in_before(app, username="alice", ip="192.0.2.1"):
    """A browser where the user signed in, then signed out: it keeps the device cookie."""
    http = browser_at(app, ip)
    assert sign_in(http, username).status_code == 302
    assert http.get_cookie(DEVICE_COOKIE, path="/signin") is not None
    http.delete_cookie("session")
    return http


def guess_from_many_addresses(client, registered, username="alice", guesses=4):
    """A guessing attack on the username (at the token endpoint: failures count wherever they happen)."""
    for number in range(guesses):
        data, headers = registered.auth({"grant_type": "password", "username": username, "password": f"guess{number}"})
        response = client.post("/oauth/token", data=data, headers=headers,
                               environ_base={"REMOTE_ADDR": f"203.0.113.{number}"})
        assert response.json["error"] == "invalid_grant"


@pytest.mark.parametrize("settings_overrides", [DEVICE_LIMITS])
def test_a_browser_with_a_device_cookie_signs_in_while_the_account_is_under_attack(app, factory, client, clock):
    # Before: 4 guesses from 4 addresses locked alice out of her own browser for 10 minutes.
    factory.user()
    own = signed_in_before(app)
    guess_from_many_addresses(client, factory.client())
    clock.advance(60)
    attacker = browser_at(app, "198.51.100.1")  # the right password, without the cookie
    throttled = sign_in(attacker)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "541"
    assert web_sid(app, attacker) is None
    response = sign_in(own)
    assert response.headers["Location"] == "/account/devices"
    assert session_row(app, web_sid(app, own)).user_id is not None
    own.delete_cookie("session")  # and again: each sign-in renews the cookie
    assert sign_in(own).status_code == 302


@pytest.mark.parametrize("settings_overrides", [DEVICE_LIMITS])
def test_a_device_cookie_that_guesses_wrong_too_often_is_locked_out(app, factory, clock):
    factory.user()
    own = signed_in_before(app)
    cookie = own.get_cookie(DEVICE_COOKIE, path="/signin").value
    for number in range(3):  # from three addresses: only the cookie's own budget counts them all
        own.environ_base["REMOTE_ADDR"] = f"192.0.2.{10 + number}"
        assert sign_in(own, password=f"guess{number}").status_code == 200
    own.environ_base["REMOTE_ADDR"] = "192.0.2.20"
    throttled = sign_in(own)  # even the right password, from a fresh address
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "601"
    # The account budget is not spent (3 of 4): a browser without that cookie signs in.
    assert sign_in(browser_at(app, "192.0.2.21")).status_code == 302
    clock.advance(601)
    assert sign_in(own).status_code == 302
    with app.app_context():  # the failures name the cookie by a digest of its nonce, never the cookie itself
        rows = db.session.execute(db.select(SecurityEvent.device_cookie, SecurityEvent.detail)
                                  .where(SecurityEvent.kind == security_events.LOGIN_FAILED)).all()
    assert len(rows) == 3 and len({row.device_cookie for row in rows}) == 1
    assert all(len(row.device_cookie) == 64 and cookie not in str(row) for row in rows)


@pytest.mark.parametrize("settings_overrides", [{**DEVICE_LIMITS, "device_cookie_max_age_seconds": 300}])
def test_a_forged_tampered_expired_or_other_users_cookie_gives_no_exemption(app, factory, client, clock):
    from itsdangerous import URLSafeSerializer

    factory.user()
    factory.user("bob")
    alices = signed_in_before(app).get_cookie(DEVICE_COOKIE, path="/signin").value
    bobs = signed_in_before(app, "bob").get_cookie(DEVICE_COOKIE, path="/signin").value
    guess_from_many_addresses(client, factory.client())
    issued = int(clock.now().timestamp())
    payload, signature = alices.rsplit(".", 1)
    cookies = {
        "bob's": bobs,
        "garbage": "not-a-device-cookie",
        "tampered": payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        "forged": URLSafeSerializer("not the key", salt="authserver.device-cookie").dumps(["alice", "nonce", issued]),
        "signed with the session cookie's key": app.session_interface.get_signing_serializer(app).dumps(
            ["alice", "nonce", issued]),
    }
    for name, value in cookies.items():
        http = browser_at(app, "192.0.2.1")
        http.set_cookie(DEVICE_COOKIE, value, path="/signin")
        assert sign_in(http).status_code == 429, name
    expired = browser_at(app, "192.0.2.1")
    expired.set_cookie(DEVICE_COOKIE, alices, path="/signin")
    clock.advance(300)  # the cookie's lifetime, checked by the server; the attack is younger than its window
    assert sign_in(expired).status_code == 429
    clock.advance(-1)
    assert sign_in(expired).status_code == 302  # the same cookie, a second younger


@pytest.mark.parametrize("settings_overrides", [DEVICE_LIMITS])
def test_a_device_cookie_is_still_held_by_the_per_ip_budget(app, factory, client):
    factory.user()
    own = signed_in_before(app)
    guess_from_many_addresses(client, factory.client())
    assert sign_in(own).status_code == 302
    own.delete_cookie("session")
    for number in range(3):  # other usernames guessed from the browser's address
        sign_in(browser_at(app, "192.0.2.1"), f"user{number}", password="guess")
    assert sign_in(own).status_code == 429


@pytest.mark.parametrize("settings_overrides", [{"issuer": "https://auth.example"}])
def test_the_device_cookie_is_sent_only_to_the_sign_in_page_and_never_to_scripts(app, factory, client):
    factory.user()
    response = sign_in(client)
    set_cookie = next(value for value in response.headers.getlist("Set-Cookie")
                      if value.startswith(DEVICE_COOKIE + "="))
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")[1:]}
    assert attributes["path"] == "Path=/signin"
    assert attributes["samesite"] == "SameSite=Strict"
    assert "httponly" in attributes
    assert "secure" in attributes  # the issuer is https, whatever AUTHSERVER_COOKIE_SECURE says
    assert attributes["max-age"] == "Max-Age=7776000"  # 90 days by default
    value = set_cookie.split(";")[0].split("=", 1)[1]
    assert PASSWORD not in value


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
