"""The sessions console (``/console``): admins only; search, sessions and events, ending sessions,
disabling a user."""

from __future__ import annotations

import re

from authserver.store import security_events
from authserver.store.database import db
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


# -- the start page: the last 24 hours and the latest security events ----------------------------------
def test_start_page_charts_the_last_24_hours_as_an_accessible_svg(app, factory, admin_client, clock):
    factory.user("bob")
    registered = factory.client(name="Notes")
    first = password_login(admin_client, registered, username="bob").json
    password_login(admin_client, registered, username="bob", password="wrong")
    clock.advance(3600)
    refresh(admin_client, registered, first["refresh_token"])
    clock.advance(3600)
    refresh(admin_client, registered, first["refresh_token"])  # reuse: the session ends
    html = admin_client.get("/console").text
    assert '<h2 id="activity-heading">Last 24 hours</h2>' in html
    assert "<script" not in html
    for key, label, total in (("signins", "Sign-ins", 2), ("refreshes", "Refreshes", 1),
                              ("reuse", "Reuse detections", 1),
                              ("failures", "Failed attempts (what throttling counts)", 1),
                              ("ended", "Sessions ended, by cause", 1)):
        assert f'<span class="activity-name">{label}</span> <span class="activity-total">{total}</span>' in html
        assert f'role="img" aria-labelledby="activity-{key}-title activity-{key}-desc"' in html
        assert f'<title id="activity-{key}-title">{label} per hour, last 24 hours</title>' in html
    # bob's and the admin's sign-ins, in the same hour: one bar
    assert html.count('<rect class="bar bar-signins"') == 1 and "UTC: 2 sign-ins</title>" in html
    assert '<rect class="bar bar-refresh_token_reuse"' in html and "1 sessions ended (refresh token reused)" in html
    assert "The numbers, hour by hour" in html  # the same as a table
    assert html.count('<th scope="row">') >= 24


def test_start_page_lists_the_latest_security_events_with_who_and_which_app(factory, admin_client):
    factory.user("bob")
    registered = factory.client(name="Notes <beta>")
    password_login(admin_client, registered, username="bob", password="wrong")
    password_login(admin_client, registered, username="bob")
    html = admin_client.get("/console").text
    section = html[html.index('id="recent-heading"'):]
    assert section.index("Signed in") < section.index("Failed sign-in")  # newest first
    assert '<a href="/console?username=bob">bob</a>' in section
    assert f'<span title="{registered.client_id}">Notes &lt;beta&gt;</span>' in section
    assert "Older events" not in section


def test_start_page_searches_events_by_username_client_and_kind(factory, admin_client):
    factory.user("bob")
    factory.user("carol")
    notes, mail = factory.client(name="Notes"), factory.client(name="Mail")
    password_login(admin_client, notes, username="bob")
    password_login(admin_client, mail, username="carol")
    password_login(admin_client, mail, username="carol", password="wrong")

    def rows(**query):
        html = admin_client.get("/console", query_string=query).text
        section = html[html.index('id="recent-heading"'):]
        return section.count('<th scope="row">'), section

    assert rows(user="bob")[0] == 1
    count, section = rows(client=mail.client_id)
    assert count == 1 and "carol" in section and "bob" not in section  # the failure names no client
    count, section = rows(user="carol", kind="login_failed")
    assert count == 1 and "Failed sign-in" in section
    assert '<option value="login_failed" selected>Failed sign-in</option>' in section
    assert rows(user="nobody") == (0, rows(user="nobody")[1])
    assert "No security events match." in rows(user="nobody")[1]


def test_start_page_shows_events_a_page_at_a_time(app, admin_client):
    with app.app_context():
        for _ in range(30):
            security_events.record_event(security_events.LOGIN_FAILED, app.extensions["authserver"].clock.now(),
                                         username="mallory", ip="192.0.2.9")
        db.session.commit()
    html = admin_client.get("/console?user=mallory").text
    assert html.count("Failed sign-in</th>") == 25
    older = re.search(r'<a class="button button-secondary" href="([^"]+)">Older events</a>', html).group(1)
    assert "user=mallory" in older and "before=" in older
    rest = admin_client.get(older.replace("&amp;", "&")).text
    assert rest.count("Failed sign-in</th>") == 5 and "Older events" not in rest
