"""The sessions console (``/console``): admins only; search, sessions and events, ending sessions,
disabling a user."""

from __future__ import annotations

from authserver.store import security_events
from authserver.store.models import SecurityEvent
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.web.conftest import IPHONE_UA
from tests.web.conftest import browser
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
from tests.web.conftest import sign_in
from tests.web.conftest import token_sid


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
    assert "Can: " in html and '<span class="scope-word" title="profile">See your username</span>' in html


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
        event = SecurityEvent.query.filter_by(kind=security_events.USER_DISABLED).one()
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
        assert SecurityEvent.query.filter_by(kind=security_events.USER_DISABLED).count() == 0


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


def test_a_username_with_a_line_break_is_the_pages_404(admin_client):
    """No user has one; found by schemathesis, the URL used to match no route at all and got the
    JSON 404 of an unknown URL instead of the console's page."""
    for path in ("/console/users/a%0Ab/disable", "/console/users/a%0Ab/sessions/end"):
        response = post_form(admin_client, "/console", path)
        assert response.status_code == 404 and response.mimetype == "text/html", path


def test_a_nul_character_is_a_400_page_on_every_database(app, factory, admin_client):
    for response in (admin_client.get("/console?username=a%00b"),
                     post_form(admin_client, "/account/devices", "/account/devices/%00/signout")):
        assert response.status_code == 400
        assert "<!doctype html>" in response.text and "could not be understood" in response.text
    signed_out = browser(app)
    response = signed_out.post("/signin", data={"username": "al\x00ice", "password": PASSWORD,
                                               "csrf_token": csrf_token(signed_out.get("/signin").text)})
    assert response.status_code == 400
