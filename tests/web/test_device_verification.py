"""The device verification page (``/device``, RFC 8628 §3.3): signing in first, entering the code a
device shows, seeing what asks for what, approving or denying; wrong, expired and used codes, the
guessing throttle (§5.1), and the restricted session flagged on My devices and the console."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver.store.database import db
from authserver.store.models import DeviceAuthorization
from authserver.store.models import SecurityEvent
from tests.conftest import refresh
from tests.device_helpers import decide
from tests.device_helpers import device_client
from tests.device_helpers import enter_code
from tests.device_helpers import error_text
from tests.device_helpers import poll
from tests.device_helpers import signed_in_browser
from tests.device_helpers import started
from tests.session_helpers import session_row
from tests.web.conftest import csrf_token
from tests.web.conftest import post_form
from tests.web.conftest import sign_in
from tests.web.conftest import token_sid

WRONG_CODE = "That code is not valid. Check the code on your device; it may have expired or been used already."
ROKU_UA = "Roku/DVP-9.10 (519.10E04111A)"


@pytest.fixture
def tv(factory):
    factory.user("alice")
    return device_client(factory)


def refused_with_wrong_code(response):
    assert response.status_code == 400, response.status_code
    assert error_text(response.text) == WRONG_CODE
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="code-error"' in response.text


def user_code_failures(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count()).select_from(SecurityEvent)
                                 .where(SecurityEvent.kind == "user_code_failed"))


# -- §3.3: the user signs in, enters the code, sees what asks ------------------------------------
def test_rfc8628_3_3_1_complete_uri_signs_in_first_then_shows_the_code_filled_in(app, client, tv):
    codes = started(client, tv)
    user_code = codes["user_code"]
    away = client.get(f"/device?user_code={user_code}")
    assert away.status_code == 302
    assert away.headers["Location"] == f"/signin?next=/device?user_code%3D{user_code}"
    signin = client.get(away.headers["Location"])
    assert f'name="next" value="/device?user_code={user_code}"' in signin.text
    back = sign_in(client, next=f"/device?user_code={user_code}")
    assert back.headers["Location"] == f"/device?user_code={user_code}"
    page = client.get(back.headers["Location"])
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "<h1>Connect a device</h1>" in page.text
    assert '<label for="user_code">Code</label>' in page.text
    assert f'value="{user_code}"' in page.text
    assert error_text(page.text) is None


def test_posts_to_the_page_need_a_signed_in_browser_and_a_csrf_token(app, client, tv):
    codes = started(client, tv)
    signed_out = post_form(client, "/signin", "/device", user_code=codes["user_code"])
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"] == "/signin"  # a POST is not gone back to after signing in
    sign_in(client)
    for path, form in (("/device", {"user_code": codes["user_code"]}),
                       ("/device/decision", {"user_code": codes["user_code"], "decision": "approve"})):
        response = client.post(path, data=form)
        assert response.status_code == 400
        assert "This form has expired" in response.text
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.status)).one() == "pending"


def test_rfc8628_3_3_confirm_page_shows_the_app_the_device_and_the_scopes(app, client, tv):
    codes = started(client, tv, scope="profile sessions", device_name="Living room TV")
    alice = signed_in_browser(app)
    confirm = enter_code(alice, codes["user_code"])
    assert confirm.status_code == 200
    html = confirm.text
    assert "<h1>TV app on Living room TV wants to:</h1>" in html
    assert "See your username" in html and "(profile)" in html
    # A restricted session can never manage the account: `sessions` is not offered as if it could be.
    assert "See the devices you are signed in on" not in html and "(sessions)" not in html
    assert "a <strong>limited</strong> session for <strong>alice</strong>" in html
    assert "cannot see or change your account, your devices or your connected apps" in html
    assert re.search(r'<button[^>]*name="decision" value="approve">Approve</button>', html)
    assert re.search(r'<button[^>]*name="decision" value="deny">Deny</button>', html)
    assert f'name="user_code" value="{codes["user_code"]}"' in html
    assert codes["device_code"] not in html
    with app.app_context():  # looking is not deciding
        assert db.session.scalars(select(DeviceAuthorization.status)).one() == "pending"


def test_rfc8628_3_3_a_device_without_a_name_is_shown_by_its_user_agent(app, client, tv):
    codes = started(client, tv, headers={"User-Agent": ROKU_UA})
    html = enter_code(signed_in_browser(app), codes["user_code"]).text
    assert re.search(r"<h1>TV app on .+ wants to:</h1>", html)
    assert "on None" not in html and "on  wants" not in html


def test_device_name_and_typed_code_are_escaped(app, client, tv):
    codes = started(client, tv, device_name="<script>alert(1)</script>")
    alice = signed_in_browser(app)
    html = enter_code(alice, codes["user_code"]).text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    typed = enter_code(alice, '"><script>alert(2)</script>')
    refused_with_wrong_code(typed)
    assert "<script>" not in typed.text
    prefilled = alice.get('/device?user_code="><script>alert(3)</script>')
    assert prefilled.status_code == 200
    assert "<script>" not in prefilled.text


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{bare}", "{bare_lower}", " {code} ", "{spaced}"])
def test_rfc8628_6_1_user_codes_are_case_and_dash_insensitive(app, client, tv, clock, typed):
    codes = started(client, tv)
    user_code = codes["user_code"]
    bare = user_code.replace("-", "")
    text = typed.format(code=user_code, lower=user_code.lower(), bare=bare, bare_lower=bare.lower(),
                        spaced=f"{bare[:4]} {bare[4:]}")
    done = decide(signed_in_browser(app), user_code, typed=text)
    assert done.status_code == 200
    assert "<h1>Device connected</h1>" in done.text
    clock.advance(5)
    assert poll(client, tv, codes["device_code"]).status_code == 200
    assert user_code_failures(app) == 0


def test_rfc8628_3_3_approving_opens_a_restricted_session_for_the_user_who_approved(app, factory, client, tv, clock):
    factory.user("bob")
    codes = started(client, tv)
    done = decide(signed_in_browser(app, "bob"), codes["user_code"])
    assert "TV app is now signed in on your device" in done.text
    assert 'href="/account/devices"' in done.text
    clock.advance(5)
    tokens = poll(client, tv, codes["device_code"]).json
    session = session_row(app, token_sid(tokens["access_token"]))
    assert session.user.username == "bob"
    assert session.restricted is True


def test_denying_tells_the_user_nothing_was_shared(app, client, tv):
    codes = started(client, tv)
    done = decide(signed_in_browser(app), codes["user_code"], decision="deny")
    assert done.status_code == 200
    assert "<h1>Request denied</h1>" in done.text
    assert "TV app was not connected. Nothing was shared with it." in done.text
    with app.app_context():
        row = db.session.scalars(select(DeviceAuthorization)).one()
        assert row.status == "denied"
        assert row.user.username == "alice"


# -- wrong, expired and used codes: a clear message, 400, never a 500 -----------------------------
@pytest.mark.parametrize("typed", ["BCDF-GHJK", "bcdfghjk", "", "   ", "hello", "ABCD-EFGH", "BCDF-GHJKL",
                                   "BCD", "x" * 10_000, "ÄÖÜß-ÇÑ", "🙂🙂🙂🙂-🙂🙂🙂🙂", "1234-5678", "%00"])
def test_a_wrong_code_is_a_clear_message_on_the_page(app, client, tv, typed):
    started(client, tv)
    alice = signed_in_browser(app)
    refused_with_wrong_code(enter_code(alice, typed))
    page = alice.get("/device")
    refused_with_wrong_code(alice.post("/device/decision", data={"csrf_token": csrf_token(page.text),
                                                                  "user_code": typed, "decision": "approve"}))
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.status)).one() == "pending"
    assert user_code_failures(app) == 2


def test_a_code_with_a_nul_character_is_refused_as_bad_input(app, client, tv):
    alice = signed_in_browser(app)
    response = enter_code(alice, "BCDF\x00GHJK")
    assert response.status_code == 400
    assert "<!doctype html>" in response.text


def test_an_expired_code_is_a_clear_message_on_the_page(app, client, tv, clock):
    codes = started(client, tv)
    alice = signed_in_browser(app)
    clock.advance(600)
    refused_with_wrong_code(enter_code(alice, codes["user_code"]))


def test_a_code_that_expires_on_the_confirm_page_cannot_be_approved(app, client, tv, clock):
    codes = started(client, tv)
    alice = signed_in_browser(app)
    confirm = enter_code(alice, codes["user_code"])
    assert confirm.status_code == 200
    clock.advance(600)
    refused_with_wrong_code(alice.post("/device/decision", data={
        "csrf_token": csrf_token(confirm.text), "user_code": codes["user_code"], "decision": "approve"}))
    assert poll(client, tv, codes["device_code"]).json["error"] == "expired_token"


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_a_decided_code_cannot_be_entered_or_decided_again(app, factory, client, tv, clock, decision):
    factory.user("mallory")
    codes = started(client, tv)
    alice = signed_in_browser(app)
    confirm = enter_code(alice, codes["user_code"])
    mallory = signed_in_browser(app, "mallory")
    late = enter_code(mallory, codes["user_code"])  # both on the confirm page at once
    assert late.status_code == 200
    alice.post("/device/decision", data={"csrf_token": csrf_token(confirm.text), "user_code": codes["user_code"],
                                         "decision": decision})
    refused_with_wrong_code(mallory.post("/device/decision", data={
        "csrf_token": csrf_token(late.text), "user_code": codes["user_code"], "decision": "approve"}))
    refused_with_wrong_code(enter_code(alice, codes["user_code"]))
    with app.app_context():
        row = db.session.scalars(select(DeviceAuthorization)).one()
        assert row.user.username == "alice"
        assert row.status == ("approved" if decision == "approve" else "denied")


def test_a_used_code_is_a_clear_message_on_the_page(app, client, tv, clock):
    codes = started(client, tv)
    alice = signed_in_browser(app)
    decide(alice, codes["user_code"])
    clock.advance(5)
    assert poll(client, tv, codes["device_code"]).status_code == 200
    refused_with_wrong_code(enter_code(alice, codes["user_code"]))


# -- §5.1: guessing user codes is throttled, per user and per IP ---------------------------------
# The sign-in throttle's budget; codes that outlive the wait.
THROTTLE = {"login_max_failures": 3, "login_failure_window_seconds": 600, "device_code_ttl_seconds": 1800}


@pytest.mark.parametrize("settings_overrides", [THROTTLE])
def test_rfc8628_5_1_guessing_is_throttled_per_user(app, factory, client, tv, clock):
    codes = started(client, tv)
    alice = signed_in_browser(app, ip="198.51.100.7")
    for guess in ("BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"):
        refused_with_wrong_code(enter_code(alice, guess))
    clock.advance(60)
    throttled = enter_code(alice, codes["user_code"])  # even the right code waits
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "541"
    assert error_text(throttled.text) == "Too many wrong codes. Try again in 10 minutes."
    # From another address too: the budget is the user's.
    elsewhere = signed_in_browser(app, ip="203.0.113.9")
    assert enter_code(elsewhere, codes["user_code"]).status_code == 429
    assert user_code_failures(app) == 3  # refusals while throttled are not counted again
    clock.advance(541)
    assert decide(alice, codes["user_code"]).status_code == 200


@pytest.mark.parametrize("settings_overrides", [THROTTLE])
def test_rfc8628_5_1_guessing_is_throttled_per_ip(app, factory, client, tv, clock):
    for name in ("bob", "carol", "dave", "erin"):
        factory.user(name)
    codes = started(client, tv)
    for name in ("bob", "carol", "dave"):  # one wrong code each, from one address
        refused_with_wrong_code(enter_code(signed_in_browser(app, name, ip="198.51.100.7"), "BCDF-GHJK"))
    throttled = enter_code(signed_in_browser(app, "erin", ip="198.51.100.7"), codes["user_code"])
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many wrong codes" in throttled.text
    # The same user elsewhere is not throttled: no user spent their own budget.
    assert decide(signed_in_browser(app, "erin", ip="203.0.113.9"), codes["user_code"]).status_code == 200


@pytest.mark.parametrize("settings_overrides", [THROTTLE])
def test_rfc8628_5_1_a_throttled_decision_is_refused_too(app, client, tv):
    codes = started(client, tv)
    alice = signed_in_browser(app)
    confirm = enter_code(alice, codes["user_code"])
    for guess in ("BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"):
        enter_code(alice, guess)
    response = alice.post("/device/decision", data={"csrf_token": csrf_token(confirm.text),
                                                    "user_code": codes["user_code"], "decision": "approve"})
    assert response.status_code == 429
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.status)).one() == "pending"


def test_a_wrong_code_is_logged_with_the_user_and_ip(app, client, tv):
    alice = signed_in_browser(app, ip="198.51.100.7")
    enter_code(alice, "BCDF-GHJK")
    with app.app_context():
        event = db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == "user_code_failed")).one()
        assert (event.username, event.ip) == ("alice", "198.51.100.7")
        assert "BCDF" not in (event.detail or "")


# -- the restricted session on My devices and the console ---------------------------------------
def approved_device(app, client, tv, clock, username="alice") -> dict:
    codes = started(client, tv, device_name="Living room TV")
    decide(signed_in_browser(app, username), codes["user_code"])
    clock.advance(5)
    return poll(client, tv, codes["device_code"]).json


def test_my_devices_shows_the_device_with_a_limited_badge(app, client, tv, clock):
    tokens = approved_device(app, client, tv, clock)
    alice = signed_in_browser(app)
    html = alice.get("/account/devices").text
    cards = re.findall(r'<li class="device[^"]*">.*?</li>', html, re.DOTALL)
    assert len(cards) == 3  # the approving browser, the TV, and this one
    tv_card = next(card for card in cards if "Living room TV" in card)
    assert '<span class="badge">Limited</span>' in tv_card
    assert "via TV app" in tv_card
    assert sum('<span class="badge">Limited</span>' in card for card in cards) == 1
    assert tokens["refresh_token"] not in html and tokens["access_token"] not in html


def test_my_devices_signs_the_device_out_like_any_other(app, client, tv, clock):
    tokens = approved_device(app, client, tv, clock)
    sid = token_sid(tokens["access_token"])
    alice = signed_in_browser(app)
    response = post_form(alice, "/account/devices", f"/account/devices/{sid}/signout")
    assert response.status_code in (200, 302, 303)
    assert session_row(app, sid).ended_at is not None
    refused = refresh(client, tv, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_grant"


def test_console_shows_the_device_with_a_limited_badge(app, client, tv, clock, admin_client):
    approved_device(app, client, tv, clock)
    html = admin_client.get("/console?username=alice").text
    cards = re.findall(r'<li class="device[^"]*">.*?</li>', html, re.DOTALL)
    tv_card = next(card for card in cards if "Living room TV" in card)
    assert '<span class="badge">Limited</span>' in tv_card
    assert sum('<span class="badge">Limited</span>' in card for card in cards) == 1
