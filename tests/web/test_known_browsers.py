"""The sign-in page's device cookie (``web/known_browsers.py``, OWASP): a browser that signed in before
signs in while its account is under a guessing attack; a cookie that guesses wrong is locked out on
its own; a forged, tampered, expired or other user's cookie exempts nothing; the per-IP budget still
holds; the cookie goes only to the sign-in page."""

from __future__ import annotations

import pytest

from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import SecurityEvent
from authserver.web.known_browsers import COOKIE_NAME as DEVICE_COOKIE
from tests.conftest import PASSWORD
from tests.session_helpers import session_row
from tests.web.conftest import sign_in
from tests.web.conftest import web_sid

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
