"""The device sessions API (``/api/sessions``): a user sees and ends their own sessions only,
an ended session's tokens stop working at once, and token problems answer as RFC 6750 §3 says."""

import datetime as dt

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from authserver.sessions.device_sessions import ENDED_BY_USER
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.conftest import refresh
from tests.session_helpers import LAPTOP_UA
from tests.session_helpers import PHONE_UA
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in
from tests.token_helpers import NO_TOKEN_CHALLENGE
from tests.token_helpers import bearer
from tests.token_helpers import challenge_params

SESSION_FIELDS = {"id", "client_id", "client_name", "device_name", "user_agent", "ip", "created_at",
                  "last_active_at", "expires_at", "current", "restricted", "key_bound"}


@pytest.fixture
def registered(factory):
    factory.user("alice")
    factory.user("bob")
    return factory.client(name="Notes app", scope="profile email sessions")


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def listed(client, signed_in) -> dict:
    response = client.get("/api/sessions", headers=signed_in.headers)
    assert response.status_code == 200, response.json
    return {s["id"]: s for s in response.json["sessions"]}


def test_list_shows_each_live_session_of_the_caller_with_every_field(client, registered, clock):
    start = clock.now()
    phone = sign_in(client, registered, user_agent=PHONE_UA, device_name="Alice's phone")
    clock.advance(60)
    laptop = sign_in(client, registered, user_agent=LAPTOP_UA)
    sign_in(client, registered, username="bob")

    response = client.get("/api/sessions", headers=laptop.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert list(response.json) == ["sessions"]
    sessions = response.json["sessions"]
    assert [s["id"] for s in sessions] == [laptop.sid, phone.sid]  # most recently active first
    assert all(set(s) == SESSION_FIELDS for s in sessions)
    assert sessions[1] == {
        "id": phone.sid,
        "client_id": registered.client_id,
        "client_name": "Notes app",
        "device_name": "Alice's phone",
        "user_agent": PHONE_UA,
        "ip": "127.0.0.1",
        "created_at": iso(start),
        "last_active_at": iso(start),
        "expires_at": iso(start + dt.timedelta(days=30)),
        "current": False,
        "restricted": False,
        "key_bound": False,
    }
    assert sessions[0]["current"] is True
    assert sessions[0]["device_name"] == "Chrome 120 on Linux"
    assert sessions[0]["created_at"] == iso(start + dt.timedelta(seconds=60))


def test_current_marks_whichever_session_the_token_belongs_to(client, registered):
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    laptop = sign_in(client, registered)
    assert {sid: s["current"] for sid, s in listed(client, phone).items()} == {phone.sid: True, laptop.sid: False}
    assert {sid: s["current"] for sid, s in listed(client, laptop).items()} == {phone.sid: False, laptop.sid: True}


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout_seconds": 100,
                                                 "session_max_age_seconds": 250}])
def test_expires_at_is_the_idle_deadline_until_the_max_age_comes_first(client, registered, clock):
    start = clock.now()
    signed_in = sign_in(client, registered)
    assert listed(client, signed_in)[signed_in.sid]["expires_at"] == iso(start + dt.timedelta(seconds=100))
    clock.advance(90)
    signed_in.refresh_token = refresh(client, registered, signed_in.refresh_token).json["refresh_token"]
    assert listed(client, signed_in)[signed_in.sid]["expires_at"] == iso(start + dt.timedelta(seconds=190))
    clock.advance(90)
    refresh(client, registered, signed_in.refresh_token)
    row = listed(client, signed_in)[signed_in.sid]
    assert row["last_active_at"] == iso(start + dt.timedelta(seconds=180))
    assert row["expires_at"] == iso(start + dt.timedelta(seconds=250))


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout_seconds": 100}])
def test_an_idle_session_is_ended_when_the_list_is_read(app, client, registered, clock):
    idle = sign_in(client, registered, user_agent=PHONE_UA)
    active = sign_in(client, registered)
    clock.advance(90)
    refresh(client, registered, active.refresh_token)
    clock.advance(20)
    assert list(listed(client, active)) == [active.sid]
    row = session_row(app, idle.sid)
    assert row.ended_reason == ENDED_IDLE and row.ended_by is None
    assert [(e["session_id"], e["actor"], e["detail"]["reason"]) for e in logged_events(app, security_events.SESSION_ENDED)] \
        == [(idle.sid, None, ENDED_IDLE)]


def test_ending_another_of_ones_sessions_kills_its_tokens_at_once(app, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)

    response = client.delete(f"/api/sessions/{phone.sid}", headers=laptop.headers)
    assert response.status_code == 204
    assert response.data == b""
    assert refresh(client, registered, phone.refresh_token).json["error"] == "invalid_grant"
    refused = client.get("/api/sessions", headers=phone.headers)
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_token"
    assert list(listed(client, laptop)) == [laptop.sid]
    row = session_row(app, phone.sid)
    assert (row.ended_reason, row.ended_by) == (ENDED_BY_USER, "alice")


def test_ending_a_session_is_a_security_event_naming_who_and_from_where(app, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    client.delete(f"/api/sessions/{phone.sid}", headers=laptop.headers, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    user_id = laptop.claims["sub"]
    assert logged_events(app, security_events.SESSION_ENDED) == [{
        "kind": security_events.SESSION_ENDED, "user_id": user_id, "username": "alice", "session_id": phone.sid,
        "client_id": registered.client_id, "ip": "203.0.113.9", "actor": "alice", "detail": {"reason": ENDED_BY_USER},
    }]


def test_ending_the_callers_own_session_signs_it_out(client, registered):
    laptop = sign_in(client, registered)
    assert client.delete(f"/api/sessions/{laptop.sid}", headers=laptop.headers).status_code == 204
    assert client.get("/api/sessions", headers=laptop.headers).status_code == 401
    assert refresh(client, registered, laptop.refresh_token).json["error"] == "invalid_grant"


def test_ending_an_already_ended_session_again_is_204_and_logged_once(app, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    assert client.delete(f"/api/sessions/{phone.sid}", headers=laptop.headers).status_code == 204
    assert client.delete(f"/api/sessions/{phone.sid}", headers=laptop.headers).status_code == 204
    assert len(logged_events(app, security_events.SESSION_ENDED)) == 1


def test_another_users_session_can_be_neither_seen_nor_ended(app, client, registered):
    alice = sign_in(client, registered)
    bob = sign_in(client, registered, username="bob")
    assert bob.sid not in listed(client, alice)

    foreign = client.delete(f"/api/sessions/{bob.sid}", headers=alice.headers)
    unknown = client.delete("/api/sessions/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json == unknown.json == {"error": "not_found", "error_description": "No such session."}
    assert session_row(app, bob.sid).ended_at is None
    assert list(listed(client, bob)) == [bob.sid]
    assert logged_events(app, security_events.SESSION_ENDED) == []


def test_a_nul_character_in_a_session_id_is_a_400_not_a_retry(client, registered):
    alice = sign_in(client, registered)
    response = client.delete("/api/sessions/%00", headers=alice.headers)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert "Retry-After" not in response.headers


def test_a_value_the_database_refuses_is_a_400_not_a_retry(app, client, registered, monkeypatch):
    # Whatever slips past input checks and is refused by the database as data (too long, bad
    # encoding) is the request's fault: retrying it would fail the same way.
    from sqlalchemy.exc import DataError

    from authserver.sessions import device_sessions

    alice = sign_in(client, registered)

    def refuse(*args, **kwargs):
        raise DataError("UPDATE device_sessions ...", {}, Exception("value too long"))

    monkeypatch.setattr(device_sessions.DeviceSessions, "find_user_session", refuse)
    response = client.delete(f"/api/sessions/{alice.sid}", headers=alice.headers)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert "Retry-After" not in response.headers


def test_revoke_others_ends_every_session_of_the_user_but_the_callers(app, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    tablet = sign_in(client, registered, device_name="Tablet")
    bob = sign_in(client, registered, username="bob")

    response = client.post("/api/sessions/revoke-others", headers=laptop.headers)
    assert response.status_code == 200
    assert response.json == {"revoked": 2}
    assert response.headers["Cache-Control"] == "no-store"
    assert list(listed(client, laptop)) == [laptop.sid]
    for other in (phone, tablet):
        assert client.get("/api/sessions", headers=other.headers).status_code == 401
        assert refresh(client, registered, other.refresh_token).json["error"] == "invalid_grant"
    assert list(listed(client, bob)) == [bob.sid]
    assert sorted((e["session_id"], e["actor"]) for e in logged_events(app, security_events.SESSION_ENDED)) \
        == sorted([(phone.sid, "alice"), (tablet.sid, "alice")])
    assert client.post("/api/sessions/revoke-others", headers=laptop.headers).json == {"revoked": 0}


def make_restricted(app, session_id):
    with app.app_context():
        db.session.get(DeviceSession, session_id).restricted = True
        db.session.commit()


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/sessions"),
    ("DELETE", "/api/sessions/{other}"),
    ("POST", "/api/sessions/revoke-others"),
])
def test_tokens_of_a_restricted_session_cannot_use_the_sessions_api(app, client, registered, method, path):
    device = sign_in(client, registered, device_name="Living-room TV")
    other = sign_in(client, registered)
    make_restricted(app, device.sid)

    response = client.open(path.format(other=other.sid), method=method, headers=device.headers)
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert session_row(app, other.sid).ended_at is None
    assert listed(client, other)[device.sid]["restricted"] is True


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, {"Authorization": "Bearer"}])
def test_a_request_without_a_bearer_token_gets_a_bare_challenge(client, registered, headers):
    # RFC 6750 §3.1: without authentication information the challenge carries no error code.
    response = client.get("/api/sessions", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_TOKEN_CHALLENGE
    assert response.json["error"] == "invalid_token"
    assert response.headers["Cache-Control"] == "no-store"


def resign(app, claims, key=None, typ="at+jwt") -> str:
    keys = KeySet([key]) if key else app.extensions["authserver"].keyring.signing_key_set()
    return jose_jwt.encode({"alg": "RS256", "typ": typ}, claims, keys)


@pytest.mark.parametrize("tamper", ["garbage", "expired", "foreign_key", "wrong_issuer", "wrong_audience",
                                    "not_an_access_token", "unknown_session"])
def test_an_unusable_token_is_refused_with_invalid_token(app, client, registered, tamper):
    claims = sign_in(client, registered).claims
    # Re-signing the untouched claims works, so each refusal below is down to its one change.
    assert client.get("/api/sessions", headers=bearer(resign(app, claims))).status_code == 200
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    token = {
        "garbage": lambda: "not-a-jwt",
        "expired": lambda: resign(app, {**claims, "iat": now - 1000, "exp": now - 100}),
        "foreign_key": lambda: resign(app, claims, key=RSAKey.generate_key(2048, private=True)),
        "wrong_issuer": lambda: resign(app, {**claims, "iss": "https://evil.example"}),
        "wrong_audience": lambda: resign(app, {**claims, "aud": "https://other.example"}),
        "not_an_access_token": lambda: resign(app, claims, typ="JWT"),
        "unknown_session": lambda: resign(app, {**claims, "sid": "00000000-0000-0000-0000-000000000000"}),
    }[tamper]()

    response = client.get("/api/sessions", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_a_token_of_an_ended_session_is_refused_before_its_expiry(client, registered):
    signed_in = sign_in(client, registered)
    other = sign_in(client, registered)
    client.post("/api/sessions/revoke-others", headers=other.headers)
    assert signed_in.claims["exp"] > dt.datetime.now(dt.timezone.utc).timestamp()
    response = client.get("/api/sessions", headers=signed_in.headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_a_disabled_users_tokens_are_refused_at_once(app, client, registered):
    from authserver.accounts import users

    signed_in = sign_in(client, registered)
    with app.app_context():
        user = users.find_user("alice")
        user.disabled_at = app.extensions["authserver"].clock.now()  # disabled without ending sessions
        db.session.commit()
    assert client.get("/api/sessions", headers=signed_in.headers).status_code == 401


# -- the `sessions` scope --------------------------------------------------------------------------
SESSIONS_ENDPOINTS = [
    ("GET", "/api/sessions"),
    ("DELETE", "/api/sessions/{other}"),
    ("POST", "/api/sessions/revoke-others"),
]


@pytest.mark.parametrize("method, path", SESSIONS_ENDPOINTS)
def test_a_third_party_apps_profile_token_cannot_list_or_end_the_users_sessions(app, client, factory, registered,
                                                                                method, path):
    zapier = code_client(factory, name="Zapier", scope="profile email")
    third_party = connect(app, zapier, scope="profile")
    own = sign_in(client, registered)

    response = client.open(path.format(other=own.sid), method=method, headers=bearer(third_party["access_token"]))
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert challenge_params(response) == {"error": "insufficient_scope", "scope": "sessions",
                                          "error_description": "This endpoint needs the 'sessions' scope."}
    assert session_row(app, own.sid).ended_at is None
    app_sid = jwt.decode(third_party["access_token"], options={"verify_signature": False})["sid"]
    # Every session lives on: this one, the app's, and the browser's that signed in to allow it.
    assert {own.sid, app_sid} <= set(listed(client, own))
    assert len(listed(client, own)) == 3


@pytest.mark.parametrize("method, path", SESSIONS_ENDPOINTS)
def test_a_token_of_ones_own_app_without_the_sessions_scope_is_refused_too(app, client, registered, method, path):
    narrow = sign_in(client, registered, scope="profile email")
    other = sign_in(client, registered)
    response = client.open(path.format(other=other.sid), method=method, headers=narrow.headers)
    assert response.status_code == 403
    assert challenge_params(response)["scope"] == "sessions"
    assert session_row(app, other.sid).ended_at is None
