"""The device authorization grant (RFC 8628) over HTTP: a device starts, polls, a user approves or
denies on the pages, the device gets tokens once. The session it opens is restricted: refused by
the APIs that manage the account whatever scopes it carries, shown flagged, rotated and ended like
any other. Tests are named after the RFC 8628 clause they prove where one applies."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from authserver.accounts import users
from authserver.store.database import db
from authserver.store.models import DeviceAuthorization
from authserver.store.models import DeviceSession
from authserver.store.models import SecurityEvent
from tests.conftest import at_once
from tests.conftest import password_login
from tests.conftest import refresh
from tests.conftest import token_request
from tests.device_helpers import DEVICE_GRANT
from tests.device_helpers import decide
from tests.device_helpers import device_client
from tests.device_helpers import poll
from tests.device_helpers import refused_poll
from tests.device_helpers import signed_in_browser
from tests.device_helpers import started
from tests.session_helpers import session_row
from tests.token_helpers import bearer
from tests.token_helpers import claims_of

ISSUER = "http://127.0.0.1:5000"
TV_UA = ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 "
         "TV Safari/537.36")


def error(response) -> str:
    return response.json["error"]


def authorize_device(app, client, tv, clock, device_name="Living room TV", scope="profile sessions",
                     username="alice"):
    """Start, have ``username`` approve on the pages, wait one interval and poll: the token response."""
    codes = started(client, tv, scope=scope, device_name=device_name)
    assert decide(signed_in_browser(app, username), codes["user_code"]).status_code == 200
    clock.advance(codes["interval"])
    response = poll(client, tv, codes["device_code"])
    assert response.status_code == 200, response.json
    return response.json


# -- §3.3 – §3.5: the whole flow ----------------------------------------------------------------
def test_rfc8628_3_1_without_scope_the_device_gets_the_clients_scopes_never_admin(app, factory, client, clock):
    factory.user("root", admin=True)
    console = device_client(factory, name="Console", scope="profile sessions admin")
    assert started(client, console)  # no scope asked
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.scope)).one() == "profile sessions"
    tokens = authorize_device(app, client, console, clock, scope="profile", username="root")
    assert tokens["scope"] == "profile"


def test_rfc8628_3_4_3_5_device_gets_tokens_after_the_user_approves_on_the_pages(app, client, tv, clock):
    codes = started(client, tv, scope="profile sessions", device_name="Living room TV",
                    headers={"User-Agent": TV_UA})
    pending = poll(client, tv, codes["device_code"])
    assert pending.status_code == 400
    assert error(pending) == "authorization_pending"
    assert pending.headers["Cache-Control"] == "no-store"

    alice = signed_in_browser(app)
    done = decide(alice, codes["user_code"])
    assert done.status_code == 200
    assert "<h1>Device connected</h1>" in done.text

    clock.advance(5)
    tokens = poll(client, tv, codes["device_code"])
    assert tokens.status_code == 200, tokens.json
    assert tokens.headers["Cache-Control"] == "no-store"
    assert tokens.headers["Pragma"] == "no-cache"
    body = tokens.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "profile sessions")
    token = claims_of(body["access_token"])
    assert (token["client_id"], token["scope"], token["iss"]) == (tv.client_id, "profile sessions", ISSUER)

    session = session_row(app, token["sid"])
    assert session.restricted is True
    assert (session.client_id, session.scope, session.device_name) == (tv.client_id, "profile sessions",
                                                                       "Living room TV")
    assert session.user_agent == TV_UA  # the device's, not the approving browser's
    with app.app_context():
        row = db.session.scalars(select(DeviceAuthorization)).one()
        assert (row.status, row.session_id) == ("used", token["sid"])
        assert row.user.username == "alice"

    me = client.get("/api/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json["username"] == "alice"


def test_rfc8628_3_5_a_device_code_gives_tokens_once(app, client, tv, clock):
    codes = started(client, tv)
    decide(signed_in_browser(app), codes["user_code"])
    clock.advance(5)
    first = poll(client, tv, codes["device_code"])
    assert first.status_code == 200
    clock.advance(5)
    second = poll(client, tv, codes["device_code"])
    assert second.status_code == 400
    assert error(second) == "invalid_grant"
    # The tokens already given live on.
    assert client.get("/api/me", headers=bearer(first.json["access_token"])).status_code == 200
    assert refresh(client, tv, first.json["refresh_token"]).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(DeviceSession)
                                 .where(DeviceSession.restricted.is_(True))) == 1


def test_rfc8628_3_5_a_client_without_the_refresh_token_grant_gets_no_refresh_token(app, factory, client, clock):
    factory.user()
    sensor = device_client(factory, name="Sensor", scope="profile", grant_types=(DEVICE_GRANT,))
    tokens = authorize_device(app, client, sensor, clock, scope="profile")
    assert "refresh_token" not in tokens
    assert client.get("/api/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_rfc8628_3_5_authorization_pending_until_the_user_decides(client, tv, clock):
    codes = started(client, tv)
    for _ in range(4):
        assert refused_poll(client, tv, codes["device_code"]) == "authorization_pending"
        clock.advance(5)


def test_rfc8628_3_5_slow_down_adds_five_seconds_to_the_interval(app, client, tv, clock):
    codes = started(client, tv)
    device_code = codes["device_code"]

    def interval():
        with app.app_context():
            return db.session.scalars(select(DeviceAuthorization.interval)).one()

    assert error(poll(client, tv, device_code)) == "authorization_pending"
    clock.advance(4)
    assert error(poll(client, tv, device_code)) == "slow_down"
    assert interval() == 10
    clock.advance(9)  # the old interval would do; the new one is 10 s
    assert error(poll(client, tv, device_code)) == "slow_down"
    assert interval() == 15
    clock.advance(15)
    assert error(poll(client, tv, device_code)) == "authorization_pending"
    clock.advance(15)
    assert error(poll(client, tv, device_code)) == "authorization_pending"
    assert interval() == 15


def test_rfc8628_3_5_access_denied_after_the_user_denies(app, client, tv, clock):
    codes = started(client, tv)
    done = decide(signed_in_browser(app), codes["user_code"], decision="deny")
    assert done.status_code == 200
    assert "<h1>Request denied</h1>" in done.text
    for _ in range(2):
        clock.advance(5)
        assert refused_poll(client, tv, codes["device_code"]) == "access_denied"
    with app.app_context():
        assert db.session.scalars(select(DeviceSession).where(DeviceSession.restricted.is_(True))).all() == []


def test_rfc8628_3_5_expired_token_once_the_device_code_expires(app, client, tv, clock):
    waiting = started(client, tv)
    approved = started(client, tv)
    decide(signed_in_browser(app), approved["user_code"])
    clock.advance(599)
    assert error(poll(client, tv, waiting["device_code"])) == "authorization_pending"
    clock.advance(1)
    for codes in (waiting, approved):  # approved but not redeemed in time: expired too
        assert refused_poll(client, tv, codes["device_code"]) == "expired_token"
    with app.app_context():
        assert db.session.scalars(select(DeviceSession).where(DeviceSession.restricted.is_(True))).all() == []


@pytest.mark.parametrize("settings_overrides", [{"device_code_ttl_seconds": 60}])
def test_rfc8628_3_5_expiry_follows_the_setting(client, tv, clock):
    codes = started(client, tv)
    clock.advance(60)
    assert error(poll(client, tv, codes["device_code"])) == "expired_token"


def test_rfc8628_3_5_a_device_code_of_another_client_is_invalid_grant(app, factory, client, tv, clock):
    other = device_client(factory, name="Other TV app")
    codes = started(client, tv)
    decide(signed_in_browser(app), codes["user_code"])
    clock.advance(5)
    stolen = poll(client, other, codes["device_code"])
    assert stolen.status_code == 400
    assert error(stolen) == "invalid_grant"
    # The owner is not harmed: no slow_down, tokens on its next poll.
    assert poll(client, tv, codes["device_code"]).status_code == 200


def test_rfc8628_3_4_unknown_or_missing_device_code(client, tv):
    unknown = poll(client, tv, "not-a-device-code")
    assert unknown.status_code == 400
    assert error(unknown) == "invalid_grant"
    missing = token_request(client, tv, grant_type=DEVICE_GRANT)
    assert missing.status_code == 400
    assert error(missing) == "invalid_request"


def test_rfc8628_3_4_unknown_client_at_the_token_endpoint_is_invalid_client(client, tv):
    codes = started(client, tv)
    response = client.post("/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"],
                                                  "client_id": "client_nobody"})
    assert response.status_code == 401
    assert error(response) == "invalid_client"


def test_rfc8628_3_4_a_confidential_client_polls_with_its_secret(app, factory, client, clock):
    factory.user()
    box = device_client(factory, name="Set-top box", auth_method="client_secret_basic")
    codes = started(client, box)
    decide(signed_in_browser(app), codes["user_code"])
    clock.advance(5)
    wrong = client.post("/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"]},
                        headers={"Authorization": "Basic " + "eDp5"})  # x:y
    assert wrong.status_code == 401
    assert error(wrong) == "invalid_client"
    assert poll(client, box, codes["device_code"]).status_code == 200


def test_a_user_disabled_before_the_device_polls_gets_it_no_tokens(app, client, tv, clock, factory):
    codes = started(client, tv)
    decide(signed_in_browser(app), codes["user_code"])
    with app.app_context():
        users.disable_user(factory.services, users.find_user("alice"), actor="root")
        db.session.commit()
    clock.advance(5)
    assert refused_poll(client, tv, codes["device_code"]) == "invalid_grant"
    with app.app_context():
        assert db.session.scalars(select(DeviceSession).where(DeviceSession.ended_at.is_(None))).all() == []


def test_rfc8628_3_5_parallel_polls_of_an_approved_code_get_tokens_once(app, client, tv, clock, live_server):
    codes = started(client, tv)
    decide(signed_in_browser(app), codes["user_code"])
    clock.advance(5)
    parallel = 6
    form = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": tv.client_id}
    results = at_once(parallel, lambda: requests.post(live_server + "/oauth/token", data=form, timeout=30))
    assert len(results) == parallel
    assert [r.status_code for r in results].count(200) == 1, [r.text for r in results]
    for response in results:
        if response.status_code != 200:
            # Another poll won (invalid_grant) or held the lock too long (retryable); never a 500.
            assert response.status_code in (400, 409, 429), response.text
            if response.status_code == 400:
                assert response.json()["error"] == "invalid_grant"
    with app.app_context():
        assert len(db.session.scalars(select(DeviceSession).where(DeviceSession.restricted.is_(True))).all()) == 1


# -- the restricted session the approval opens ---------------------------------------------------
def test_restricted_session_is_refused_by_the_apis_that_manage_the_account(app, factory, client, tv, clock):
    tokens = authorize_device(app, client, tv, clock)
    assert "sessions" in tokens["scope"].split()
    headers = bearer(tokens["access_token"])
    sid = claims_of(tokens["access_token"])["sid"]
    refused = [
        client.get("/api/sessions", headers=headers),
        client.delete(f"/api/sessions/{sid}", headers=headers),
        client.post("/api/sessions/revoke-others", headers=headers),
        client.get("/api/consents", headers=headers),
        client.delete(f"/api/consents/{tv.client_id}", headers=headers),
        client.get("/api/admin/users/alice/sessions", headers=headers),
        client.delete("/api/admin/users/alice/sessions", headers=headers),
        client.delete(f"/api/admin/sessions/{sid}", headers=headers),
    ]
    for response in refused:
        assert response.status_code == 403, response.request.path
        assert error(response) == "insufficient_scope"
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert session_row(app, sid).ended_at is None
    # What its scopes allow still works.
    assert client.get("/api/me", headers=headers).status_code == 200


def test_restricted_session_of_an_administrator_is_refused_by_the_admin_api(app, factory, client, clock):
    factory.user("root", admin=True)
    console = device_client(factory, name="Console", scope="profile sessions admin")
    tokens = authorize_device(app, client, console, clock, scope="profile sessions", username="root")
    headers = bearer(tokens["access_token"])
    for response in (client.get("/api/admin/users/root/sessions", headers=headers),
                     client.get("/api/sessions", headers=headers)):
        assert response.status_code == 403
        assert error(response) == "insufficient_scope"
    # The same administrator signing in normally is let in.
    password = factory.client(name="Admin app", scope="profile sessions admin")
    normal = password_login(client, password, username="root")
    assert client.get("/api/admin/users/root/sessions", headers=bearer(normal.json["access_token"])).status_code == 200


def test_restricted_session_is_flagged_in_the_sessions_api_of_another_session(app, factory, client, tv, clock):
    tokens = authorize_device(app, client, tv, clock)
    device_sid = claims_of(tokens["access_token"])["sid"]
    phone = password_login(client, factory.client(name="Notes", scope="profile sessions"))
    listed = client.get("/api/sessions", headers=bearer(phone.json["access_token"]))
    assert listed.status_code == 200
    by_id = {s["id"]: s for s in listed.json["sessions"]}
    assert by_id[device_sid]["restricted"] is True
    assert by_id[device_sid]["device_name"] == "Living room TV"
    assert by_id[device_sid]["client_name"] == "TV app"
    assert by_id[claims_of(phone.json["access_token"])["sid"]]["restricted"] is False


def test_restricted_session_refresh_tokens_rotate_with_reuse_detection(app, client, tv, clock):
    tokens = authorize_device(app, client, tv, clock)
    sid = claims_of(tokens["access_token"])["sid"]
    first = tokens["refresh_token"]
    second = refresh(client, tv, first)
    assert second.status_code == 200, second.json
    assert second.json["refresh_token"] != first
    assert claims_of(second.json["access_token"])["sid"] == sid
    # Rotation keeps the session restricted.
    assert client.get("/api/sessions", headers=bearer(second.json["access_token"])).status_code == 403
    third = refresh(client, tv, second.json["refresh_token"])
    assert third.status_code == 200

    clock.advance(11)  # past the grace window: presenting a spent token is reuse
    replay = refresh(client, tv, first)
    assert replay.status_code == 400
    assert error(replay) == "invalid_grant"
    session = session_row(app, sid)
    assert session.ended_at is not None
    assert session.ended_reason == "refresh_token_reuse"
    live = refresh(client, tv, third.json["refresh_token"])
    assert live.status_code == 400
    assert error(live) == "invalid_grant"
    assert client.get("/api/me", headers=bearer(third.json["access_token"])).status_code == 401
    with app.app_context():
        assert db.session.scalars(select(SecurityEvent.session_id)
                                  .where(SecurityEvent.kind == "refresh_token_reused")).all() == [sid]


def test_restricted_session_is_ended_like_any_other(app, factory, client, tv, clock):
    tokens = authorize_device(app, client, tv, clock)
    sid = claims_of(tokens["access_token"])["sid"]
    phone = password_login(client, factory.client(name="Notes", scope="profile sessions"))
    ended = client.delete(f"/api/sessions/{sid}", headers=bearer(phone.json["access_token"]))
    assert ended.status_code == 204
    assert session_row(app, sid).ended_reason == "user"
    assert error(refresh(client, tv, tokens["refresh_token"])) == "invalid_grant"
    assert client.get("/api/me", headers=bearer(tokens["access_token"])).status_code == 401

    # A device logs itself out by revoking its refresh token (RFC 7009), public client included.
    again = authorize_device(app, client, tv, clock)
    revoked = client.post("/oauth/revoke", data={"token": again["refresh_token"], "client_id": tv.client_id})
    assert revoked.status_code == 200
    assert session_row(app, claims_of(again["access_token"])["sid"]).ended_at is not None
