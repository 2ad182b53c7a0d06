"""The web pages through Flask's test client: sign-in, My devices, the sessions console, CSRF."""

from __future__ import annotations

import re

import pytest

from authserver import audit
from authserver import create_app
from authserver.database import db
from authserver.models import Client
from authserver.models import DeviceSession
from authserver.models import SecurityEvent
from authserver.web.browser import WEB_CLIENT_ID
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.1 Mobile/15E148 Safari/604.1")
JWT_PATTERN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


@pytest.fixture(autouse=True)
def desktop_browser(client):
    """The test client presents a desktop browser's User-Agent (pages record the one they see)."""
    client.environ_base["HTTP_USER_AGENT"] = DESKTOP_UA


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


def web_sid(app, http) -> str:
    return cookie_contents(app, http)["sid"]


def post_form(http, page_url, action, **form):
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    page = http.get(page_url)
    return http.post(action, data={"csrf_token": csrf_token(page.text), **form})


def session_row(app, sid) -> DeviceSession:
    with app.app_context():
        return app.extensions["authserver"].sessions.find_user_session(sid)


def token_sid(access_token) -> str:
    import jwt

    return jwt.decode(access_token, options={"verify_signature": False})["sid"]


# -- sign-in ---------------------------------------------------------------------------------
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
    assert set(contents) <= {"sid", "csrf_token", "_permanent"}
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
    assert "sid" not in cookie_contents(app, client)
    with app.app_context():
        events = [(e.kind, e.username) for e in SecurityEvent.query.all()]
    assert events == [(audit.LOGIN_FAILED, "alice")]


def test_disabled_user_cannot_sign_in(app, factory, client):
    factory.user()
    with app.app_context():
        from authserver import accounts

        accounts.disable_user(app.extensions["authserver"], accounts.find_user("alice"), actor="test")
    response = sign_in(client)
    assert "The username or password is incorrect." in response.text
    assert "sid" not in cookie_contents(app, client)


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
    assert "sid" not in cookie_contents(app, client)
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


# -- CSRF --------------------------------------------------------------------------------------
def test_post_without_csrf_token_is_refused(app, factory, client):
    factory.user()
    client.get("/signin")
    response = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    with app.app_context():
        assert DeviceSession.query.count() == 0


def test_signed_in_forms_refuse_a_missing_or_foreign_csrf_token(app, factory, client):
    factory.user()
    registered = factory.client()
    other = token_sid(password_login(client, registered, headers={"User-Agent": IPHONE_UA}).json["access_token"])
    sign_in(client)
    assert client.post(f"/account/devices/{other}/signout").status_code == 400
    assert client.post("/account/devices/signout-others", data={"csrf_token": "forged"}).status_code == 400
    assert client.post("/account/signout").status_code == 400
    assert session_row(app, other).ended_at is None
    assert session_row(app, web_sid(app, client)).ended_at is None


def test_csrf_does_not_apply_to_the_token_endpoint(factory, client):
    factory.user()
    registered = factory.client()
    client.get("/signin")  # a browser-ish client with a session cookie changes nothing
    response = password_login(client, registered)
    assert response.status_code == 200, response.json
    assert refresh(client, registered, response.json["refresh_token"]).status_code == 200


# -- My devices --------------------------------------------------------------------------------
def test_my_devices_lists_each_live_session_readably(app, factory, client, clock):
    factory.user()
    factory.user("bob")
    registered = factory.client(name="Notes")
    password_login(client, registered, headers={"User-Agent": IPHONE_UA})
    password_login(client, registered, username="bob", headers={"User-Agent": IPHONE_UA}, device_name="Bob's phone")
    clock.advance(3 * 3600)
    sign_in(client)
    page = client.get("/account/devices")
    assert page.status_code == 200
    html = page.text
    assert "<h1>My devices</h1>" in html
    assert html.count('class="device ') + html.count('class="device"') == 2  # bob's session is not listed
    assert "Bob&#39;s phone" not in html
    assert "Chrome 120 on Linux" in html and "Mobile Safari 17 on iOS 17" in html
    assert "Phone" in html and "Desktop" in html
    assert "via Notes" in html and "via authserver web" in html
    assert html.count("This device</span>") == 1
    assert html.index("This device") < html.index("Mobile Safari 17 on iOS 17")  # this device first
    assert "3 hours ago" in html
    assert "127.0.0.1" in html
    assert "Sign out all other devices" in html


def test_pages_never_contain_a_token(app, factory, client, monkeypatch):
    services = app.extensions["authserver"]
    issued = []
    real_open = services.sessions.open_session

    def recording_open(*args, **kwargs):
        session, refresh_token = real_open(*args, **kwargs)
        issued.append(refresh_token)
        return session, refresh_token

    monkeypatch.setattr(services.sessions, "open_session", recording_open)
    factory.user("root", admin=True)
    registered = factory.client(scope="profile admin")
    body = password_login(client, registered, username="root").json
    issued += [body["access_token"], body["refresh_token"]]
    pages = [sign_in(client, "root")]
    for url in ("/account/devices", "/console?username=root", "/signin"):
        pages.append(client.get(url, follow_redirects=True))
    assert len(issued) == 4  # both sessions' first refresh tokens, plus the API login's tokens
    cookie = client.get_cookie("session").value
    for response in pages:
        for token in issued:
            assert token not in response.text
            assert token not in cookie
        assert not JWT_PATTERN.search(response.text)


def test_user_agent_is_escaped(factory, client):
    factory.user()
    registered = factory.client()
    password_login(client, registered, device_name="<script>alert(1)</script>",
                   headers={"User-Agent": "<script>alert(2)</script>"})
    sign_in(client)
    html = client.get("/account/devices").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_load_touches_the_session(app, factory, client, clock):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    clock.advance(120)
    client.get("/account/devices", headers={"User-Agent": IPHONE_UA})
    session = session_row(app, sid)
    assert session.last_active_at == clock.now()
    assert session.user_agent == IPHONE_UA


def test_idle_session_sends_the_browser_back_to_signin(app, factory, client, clock):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    clock.advance(app.extensions["authserver"].settings.session_idle_timeout_seconds)
    response = client.get("/account/devices")
    assert response.headers["Location"].startswith("/signin")
    assert session_row(app, sid).ended_reason == "idle_timeout"
    assert "sid" not in cookie_contents(app, client)


def test_session_ended_elsewhere_signs_the_browser_out(app, factory, client):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    with app.app_context():
        app.extensions["authserver"].sessions.end_session(sid, "revocation", actor=None)
    assert client.get("/account/devices").headers["Location"].startswith("/signin")


def test_sign_out_another_device_kills_its_refresh_token(app, factory, client):
    factory.user()
    registered = factory.client()
    body = password_login(client, registered, headers={"User-Agent": IPHONE_UA}).json
    other = token_sid(body["access_token"])
    sign_in(client)
    response = post_form(client, "/account/devices", f"/account/devices/{other}/signout")
    assert response.headers["Location"] == "/account/devices"
    page = client.get("/account/devices").text
    assert "Signed out Mobile Safari 17 on iOS 17." in page
    assert "This device" in page
    ended = session_row(app, other)
    assert (ended.ended_reason, ended.ended_by) == ("user", "alice")
    refused = refresh(client, registered, body["refresh_token"])
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_grant"


def test_sign_out_all_other_devices_keeps_this_one(app, factory, client):
    factory.user()
    registered = factory.client()
    tokens = [password_login(client, registered).json["refresh_token"] for _ in range(2)]
    sign_in(client)
    post_form(client, "/account/devices", "/account/devices/signout-others")
    page = client.get("/account/devices").text
    assert "Signed out 2 other devices." in page
    assert page.count("This device</span>") == 1
    assert "Sign out all other devices" not in page
    for token in tokens:
        assert refresh(client, registered, token).json["error"] == "invalid_grant"
    assert session_row(app, web_sid(app, client)).ended_at is None


def test_user_cannot_end_another_users_session(app, factory, client):
    factory.user()
    factory.user("bob")
    registered = factory.client()
    bob = password_login(client, registered, username="bob").json
    bobs_session = token_sid(bob["access_token"])
    sign_in(client)
    response = post_form(client, "/account/devices", f"/account/devices/{bobs_session}/signout")
    assert response.status_code == 404
    assert "Not found" in response.text
    assert session_row(app, bobs_session).ended_at is None
    assert refresh(client, registered, bob["refresh_token"]).status_code == 200
    assert post_form(client, "/account/devices", "/account/devices/no-such-session/signout").status_code == 404


def test_signing_out_this_device_from_the_list_signs_out(app, factory, client):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    response = post_form(client, "/account/devices", f"/account/devices/{sid}/signout")
    assert response.headers["Location"] == "/signin"
    assert session_row(app, sid).ended_at is not None
    assert "You have signed out." in client.get("/signin").text


def test_sign_out_ends_the_device_session(app, factory, client):
    factory.user()
    sign_in(client)
    sid = web_sid(app, client)
    response = post_form(client, "/account/devices", "/account/signout")
    assert response.headers["Location"] == "/signin"
    assert session_row(app, sid).ended_reason == "user"
    assert "sid" not in cookie_contents(app, client)
    assert client.get("/account/devices").status_code == 302


def test_pages_are_not_cached_or_framed(factory, client):
    factory.user()
    sign_in(client)
    response = client.get("/account/devices")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert client.get("/web/static/web.css").status_code == 200


# -- sessions console --------------------------------------------------------------------------
@pytest.fixture
def admin_client(app, factory):
    factory.user("root", admin=True)
    http = browser(app)
    sign_in(http, "root")
    return http


def test_console_is_for_admins_only(app, factory, client):
    factory.user()
    sign_in(client)
    response = client.get("/console")
    assert response.status_code == 403
    assert "You don&#39;t have access to this page" in response.text
    assert "<!doctype html>" in response.text
    assert "Sessions console" not in client.get("/account/devices").text
    factory.user("bob")
    assert post_form(client, "/account/devices", "/console/users/bob/sessions/end").status_code == 403
    assert post_form(client, "/account/devices", "/console/users/bob/disable").status_code == 403
    registered = factory.client()
    bobs = token_sid(password_login(client, registered, username="bob").json["access_token"])
    assert post_form(client, "/account/devices", f"/console/users/bob/sessions/{bobs}/end").status_code == 403
    assert session_row(app, bobs).ended_at is None


def test_console_shows_a_users_sessions_and_events(app, factory, admin_client):
    factory.user("bob")
    registered = factory.client(name="Notes")
    password_login(admin_client, registered, username="bob", password="wrong")
    password_login(admin_client, registered, username="bob", headers={"User-Agent": IPHONE_UA})
    page = admin_client.get("/console?username=bob")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Sessions console</h1>" in html
    assert 'role="search"' in html
    assert "Mobile Safari 17 on iOS 17" in html and "via Notes" in html
    assert "End all sessions" in html and "Disable user" in html
    assert "Failed sign-in" in html and "wrong username or password" in html
    assert "Signed in" in html


def test_console_search_suggests_partial_matches(factory, admin_client):
    factory.user("bobby")
    factory.user("rebob")
    html = admin_client.get("/console?username=bob").text
    assert "No user named" in html
    assert 'href="/console?username=bobby"' in html and 'href="/console?username=rebob"' in html
    assert "root" not in html.split("No user named")[1]


def test_admin_ends_one_session(app, factory, admin_client):
    factory.user("bob")
    registered = factory.client()
    first = password_login(admin_client, registered, username="bob").json
    second = password_login(admin_client, registered, username="bob").json
    sid = token_sid(first["access_token"])
    response = post_form(admin_client, "/console?username=bob", f"/console/users/bob/sessions/{sid}/end")
    assert response.headers["Location"] == "/console?username=bob"
    ended = session_row(app, sid)
    assert (ended.ended_reason, ended.ended_by) == ("admin", "root")
    assert refresh(admin_client, registered, first["refresh_token"]).json["error"] == "invalid_grant"
    assert refresh(admin_client, registered, second["refresh_token"]).status_code == 200
    html = admin_client.get("/console?username=bob").text
    assert "Session ended" in html and "ended by an operator" in html


def test_admin_cannot_end_a_session_through_another_users_page(app, factory, admin_client):
    factory.user("bob")
    factory.user("carol")
    registered = factory.client()
    carols = token_sid(password_login(admin_client, registered, username="carol").json["access_token"])
    response = post_form(admin_client, "/console?username=bob", f"/console/users/bob/sessions/{carols}/end")
    assert response.status_code == 404
    assert session_row(app, carols).ended_at is None
    assert post_form(admin_client, "/console", "/console/users/nobody/sessions/end").status_code == 404


def test_admin_ends_all_sessions_of_a_user(app, factory, admin_client):
    factory.user("bob")
    registered = factory.client()
    tokens = [password_login(admin_client, registered, username="bob").json["refresh_token"] for _ in range(2)]
    post_form(admin_client, "/console?username=bob", "/console/users/bob/sessions/end")
    html = admin_client.get("/console?username=bob").text
    assert "Ended 2 sessions of bob." in html
    assert "bob is not signed in anywhere." in html
    for token in tokens:
        assert refresh(admin_client, registered, token).json["error"] == "invalid_grant"


def test_admin_disables_a_user(app, factory, admin_client):
    factory.user("bob")
    registered = factory.client()
    token = password_login(admin_client, registered, username="bob").json["refresh_token"]
    bob_browser = browser(app)
    sign_in(bob_browser, "bob")
    post_form(admin_client, "/console?username=bob", "/console/users/bob/disable")
    html = admin_client.get("/console?username=bob").text
    assert "Disabled bob and ended 2 sessions." in html
    assert "User disabled" in html
    assert refresh(admin_client, registered, token).json["error"] == "invalid_grant"
    assert password_login(admin_client, registered, username="bob").json["error"] == "invalid_grant"
    assert bob_browser.get("/account/devices").headers["Location"].startswith("/signin")
    with app.app_context():
        event = SecurityEvent.query.filter_by(kind=audit.USER_DISABLED).one()
        assert (event.username, event.actor) == ("bob", "root")


def test_admin_cannot_disable_themselves(app, admin_client):
    response = post_form(admin_client, "/console?username=root", "/console/users/root/disable")
    assert response.status_code == 302
    assert "You cannot disable your own account here." in admin_client.get("/console?username=root").text
    assert admin_client.get("/account/devices").status_code == 200


def test_console_forms_refuse_a_missing_or_foreign_csrf_token(app, factory, admin_client):
    factory.user("bob")
    registered = factory.client()
    sid = token_sid(password_login(admin_client, registered, username="bob").json["access_token"])
    for action in (f"/console/users/bob/sessions/{sid}/end", "/console/users/bob/sessions/end",
                   "/console/users/bob/disable"):
        assert admin_client.post(action).status_code == 400
        assert admin_client.post(action, data={"csrf_token": "forged"}).status_code == 400
    assert session_row(app, sid).ended_at is None
    with app.app_context():
        assert SecurityEvent.query.filter_by(kind=audit.USER_DISABLED).count() == 0


def test_console_manages_a_user_whose_name_has_a_slash(app, factory, admin_client):
    factory.user("sales/eu")
    registered = factory.client()
    first, second = (token_sid(password_login(admin_client, registered, username="sales/eu").json["access_token"])
                     for _ in range(2))
    page = "/console?username=sales/eu"
    assert post_form(admin_client, page, f"/console/users/sales/eu/sessions/{first}/end").status_code == 302
    assert session_row(app, first).ended_reason == "admin"
    assert post_form(admin_client, page, "/console/users/sales/eu/sessions/end").status_code == 302
    assert session_row(app, second).ended_reason == "admin"
    assert post_form(admin_client, page, "/console/users/sales/eu/disable").status_code == 302
    assert "Disabled sales/eu" in admin_client.get(page).text


def test_a_nul_character_is_a_400_page_on_every_database(app, factory, admin_client):
    for response in (admin_client.get("/console?username=a%00b"),
                     post_form(admin_client, "/account/devices", "/account/devices/%00/signout")):
        assert response.status_code == 400
        assert "<!doctype html>" in response.text and "could not be understood" in response.text
    signed_out = browser(app)
    response = signed_out.post("/signin", data={"username": "al\x00ice", "password": PASSWORD,
                                               "csrf_token": csrf_token(signed_out.get("/signin").text)})
    assert response.status_code == 400
