"""My devices (``/account/devices``): the list of the user's sessions, and signing devices out; the
Connected apps section, and disconnecting an app."""

from __future__ import annotations

from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import pkce
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.web.conftest import IPHONE_UA
from tests.web.conftest import browser
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
from tests.web.conftest import sign_in
from tests.web.conftest import token_sid
from tests.web.conftest import web_sid


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


def test_each_device_says_in_words_what_it_can_do(app, factory, client):
    factory.user()
    registered = factory.client(name="Notes", scope="profile sessions notes.read")
    password_login(client, registered, scope="profile sessions notes.read", device_name="Phone")
    sign_in(client)
    html = client.get("/account/devices").text
    phone = html[html.index("Phone"):]
    assert "Can: " in phone
    assert ">See your username</span>; " in phone
    assert ">See the devices you are signed in on, and sign them out</span>; " in phone
    assert '<span class="scope-word">notes.read</span>' in phone  # a scope of the app's own: its name


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


def card_of(html: str, marker: str) -> str:
    """The session card (``<li class="device…">``) that holds ``marker``."""
    at = html.index(marker)
    start = html.rindex('<li class="device', 0, at)
    return html[start:html.index("</li>", at)]


def test_each_browser_lists_the_apps_it_signed_in_to(app, factory, client):
    """The code flow links an app's session to the browser session that approved it."""
    factory.user()
    zapier = code_client(factory, name="Zapier", scope="profile email")
    calendar = code_client(factory, name="Calendar", scope="profile")
    sign_in(client)
    connect(app, zapier, http=client)
    connect(app, calendar, scope="profile", http=client)
    connect(app, zapier)  # another browser, signed in on its own
    html = client.get("/account/devices").text
    assert card_of(html, "This device</span>").count("Signed in to Zapier, Calendar") == 1
    assert html.count("Signed in to Zapier</p>") == 1  # the other browser's card
    assert html.count("Signed in to") == 2  # the apps' own cards name no app


# -- Connected apps --------------------------------------------------------------------------------
def apps_section(html: str) -> str:
    """The Connected apps section of the page."""
    start = html.index('<h2 id="apps-heading">')
    return html[start:html.index("</section>", start)]


def test_connected_apps_lists_each_app_the_user_allowed(app, factory, client, clock):
    factory.user()
    factory.user("bob")
    zapier = code_client(factory, name="Zapier", scope="profile email")
    calendar = code_client(factory, name="Calendar", scope="profile")
    sign_in(client)
    assert "No app is connected to your account." in apps_section(client.get("/account/devices").text)

    connect(app, zapier, scope="profile email")
    connect(app, calendar, scope="profile", username="bob")
    clock.advance(2 * 3600)
    html = client.get("/account/devices").text
    section = apps_section(html)
    assert "Connected apps <span" in section and "(1)" in section
    assert "Zapier" in section and "Calendar" not in section  # bob's app is bob's
    assert "Allowed 2 hours ago to: " in section
    assert '<span class="scope-word" title="profile">See your username</span>; ' \
           '<span class="scope-word" title="email">See your email address</span>' in section
    assert section.count("Disconnect</button>") == 1
    assert "via Zapier" in html  # its session is one of the signed-in devices


def test_disconnecting_an_app_ends_its_sessions_and_forgets_the_consent(app, factory, client):
    factory.user()
    zapier = code_client(factory, name="Zapier", scope="profile email")
    tokens = connect(app, zapier)
    app_sid = token_sid(tokens["access_token"])
    sign_in(client)

    response = post_form(client, "/account/devices", f"/account/apps/{zapier.client_id}/disconnect")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/devices"
    html = client.get("/account/devices").text
    assert "Disconnected Zapier: it can no longer use your account." in html
    assert "No app is connected to your account." in apps_section(html)
    assert "via Zapier" not in html
    assert (session_row(app, app_sid).ended_reason, session_row(app, app_sid).ended_by) == ("user", "alice")
    refused = refresh(client, zapier, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"
    assert session_row(app, web_sid(app, client)).ended_at is None  # this browser stays signed in
    # Next time, the app has to ask.
    consent_page(client.get(authorize_url(zapier.client_id, challenge=pkce())))


def test_disconnect_needs_the_csrf_token_and_the_users_own_consent(app, factory, client):
    factory.user()
    factory.user("bob")
    zapier = code_client(factory, name="Zapier", scope="profile email")
    tokens = connect(app, zapier)
    bobs = connect(app, zapier, username="bob")
    sign_in(client)
    assert client.post(f"/account/apps/{zapier.client_id}/disconnect").status_code == 400
    still_connected = refresh(client, zapier, tokens["refresh_token"])
    assert still_connected.status_code == 200
    assert post_form(client, "/account/devices", "/account/apps/client_nobody/disconnect").status_code == 404
    # alice disconnects Zapier for herself only.
    post_form(client, "/account/devices", f"/account/apps/{zapier.client_id}/disconnect")
    assert post_form(client, "/account/devices", f"/account/apps/{zapier.client_id}/disconnect").status_code == 404
    assert refresh(client, zapier, still_connected.json["refresh_token"]).json["error"] == "invalid_grant"
    assert refresh(client, zapier, bobs["refresh_token"]).status_code == 200
    bob = browser(app)
    sign_in(bob, "bob")
    assert "Zapier" in apps_section(bob.get("/account/devices").text)


def test_disconnect_when_signed_out_goes_to_signin(app, factory, client):
    factory.user()
    zapier = code_client(factory, name="Zapier", scope="profile email")
    tokens = connect(app, zapier)
    page = client.get("/signin")
    response = client.post(f"/account/apps/{zapier.client_id}/disconnect", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert refresh(client, zapier, tokens["refresh_token"]).status_code == 200


def test_my_devices_and_the_console_show_a_key_bound_session(app, factory, client, clock, admin_client, issuer):
    """RFC 9449: a phone app signed in with DPoP holds tokens useless without its key; the pages say so."""
    from tests.dpop_helpers import DPoPKey

    factory.user()
    phone = factory.client(name="Phone app", auth_method="none", first_party=True, scope="profile")
    proof = DPoPKey().proof("POST", issuer + "/oauth/token", now=clock.now().timestamp())
    assert password_login(client, phone, headers={"DPoP": proof}, device_name="Alice's phone").status_code == 200
    password_login(client, phone, device_name="Alice's tablet")
    sign_in(client)
    for html in (client.get("/account/devices").text, admin_client.get("/console?username=alice").text):
        cards = html.split('<li class="device')[1:]
        assert len(cards) == 3  # the phone, the tablet and the browser
        assert [("Alice&#39;s phone" in card) for card in cards if "Key-bound</span>" in card] == [True]
