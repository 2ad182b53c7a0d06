"""The admin API (``/api/admin``): operators holding the `admin` scope list and end any user's
sessions; everyone else is refused, and every session ended is recorded with the operator's name."""

import pytest

from authserver.sessions.device_sessions import ENDED_BY_ADMIN
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import User
from tests.conftest import refresh
from tests.session_helpers import PHONE_UA
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in
from tests.token_helpers import NO_TOKEN_CHALLENGE

UNKNOWN_SID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def registered(factory):
    factory.user("alice")
    factory.user("bob")
    factory.user("root", admin=True)
    return factory.client(name="Console", scope="profile admin sessions")


@pytest.fixture
def admin(client, registered):
    signed_in = sign_in(client, registered, username="root")
    assert signed_in.scope == "profile admin sessions"
    return signed_in


def test_an_admin_lists_any_users_live_sessions(client, registered, admin):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA, device_name="Alice's phone")
    sign_in(client, registered, username="bob")
    client.delete(f"/api/sessions/{laptop.sid}", headers=laptop.headers)

    response = client.get("/api/admin/users/alice/sessions", headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    sessions = response.json["sessions"]
    assert [s["id"] for s in sessions] == [phone.sid]
    assert sessions[0]["device_name"] == "Alice's phone"
    assert sessions[0]["current"] is False
    assert sessions[0]["client_name"] == "Console"

    own = client.get("/api/admin/users/root/sessions", headers=admin.headers).json["sessions"]
    assert [(s["id"], s["current"]) for s in own] == [(admin.sid, True)]


def test_a_username_with_a_slash_is_found(client, factory, registered, admin):
    factory.user("ops/eve")
    eve = sign_in(client, registered, username="ops/eve")
    response = client.get("/api/admin/users/ops%2Feve/sessions", headers=admin.headers)
    assert [s["id"] for s in response.json["sessions"]] == [eve.sid]


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/admin/users/nobody/sessions"),
    ("DELETE", "/api/admin/users/nobody/sessions"),
    ("DELETE", f"/api/admin/sessions/{UNKNOWN_SID}"),
])
def test_unknown_users_and_sessions_are_404(client, admin, method, path):
    response = client.open(path, method=method, headers=admin.headers)
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_an_admin_ends_all_of_a_users_sessions_at_once(app, client, registered, admin):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    bob = sign_in(client, registered, username="bob")

    response = client.delete("/api/admin/users/alice/sessions", headers=admin.headers,
                             environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 200
    assert response.json == {"revoked": 2}
    for ended in (laptop, phone):
        assert client.get("/api/sessions", headers=ended.headers).status_code == 401
        assert refresh(client, registered, ended.refresh_token).json["error"] == "invalid_grant"
        row = session_row(app, ended.sid)
        assert (row.ended_reason, row.ended_by) == (ENDED_BY_ADMIN, "root")
    assert client.get("/api/sessions", headers=bob.headers).status_code == 200
    events = logged_events(app, security_events.SESSION_ENDED)
    assert sorted(e["session_id"] for e in events) == sorted([laptop.sid, phone.sid])
    assert {(e["actor"], e["ip"], e["detail"]["reason"]) for e in events} == {("root", "198.51.100.7", ENDED_BY_ADMIN)}
    assert client.delete("/api/admin/users/alice/sessions", headers=admin.headers).json == {"revoked": 0}


def test_an_admin_ends_one_session_by_id(app, client, registered, admin):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)

    response = client.delete(f"/api/admin/sessions/{phone.sid}", headers=admin.headers)
    assert response.status_code == 204
    assert client.get("/api/sessions", headers=phone.headers).status_code == 401
    assert refresh(client, registered, phone.refresh_token).json["error"] == "invalid_grant"
    assert client.get("/api/sessions", headers=laptop.headers).status_code == 200
    assert (session_row(app, phone.sid).ended_reason, session_row(app, phone.sid).ended_by) == (ENDED_BY_ADMIN, "root")
    assert [(e["session_id"], e["actor"]) for e in logged_events(app, security_events.SESSION_ENDED)] == [(phone.sid, "root")]


ADMIN_ENDPOINTS = [
    ("GET", "/api/admin/users/alice/sessions"),
    ("DELETE", "/api/admin/users/alice/sessions"),
    ("DELETE", "/api/admin/sessions/{alice}"),
]


@pytest.mark.parametrize("method, path", ADMIN_ENDPOINTS)
def test_a_token_without_the_admin_scope_is_refused_with_insufficient_scope(app, client, registered, method, path):
    alice = sign_in(client, registered)
    root_without_admin = sign_in(client, registered, username="root", scope="profile")
    for caller in (alice, root_without_admin):
        assert "admin" not in caller.scope.split()
        response = client.open(path.format(alice=alice.sid), method=method, headers=caller.headers)
        assert response.status_code == 403
        assert response.json["error"] == "insufficient_scope"
        assert response.headers["WWW-Authenticate"].endswith('scope="admin"')
    assert session_row(app, alice.sid).ended_at is None


@pytest.mark.parametrize("method, path", ADMIN_ENDPOINTS)
def test_tokens_of_a_restricted_admin_session_are_refused(app, client, registered, admin, method, path):
    alice = sign_in(client, registered)
    with app.app_context():
        db.session.get(DeviceSession, admin.sid).restricted = True
        db.session.commit()
    response = client.open(path.format(alice=alice.sid), method=method, headers=admin.headers)
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert session_row(app, alice.sid).ended_at is None


@pytest.mark.parametrize("method, path", ADMIN_ENDPOINTS)
def test_an_admin_who_is_no_longer_one_loses_the_api_at_once(app, client, registered, admin, method, path):
    alice = sign_in(client, registered)
    with app.app_context():
        db.session.execute(db.update(User).where(User.username == "root").values(is_admin=False))
        db.session.commit()
    response = client.open(path.format(alice=alice.sid), method=method, headers=admin.headers)
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert session_row(app, alice.sid).ended_at is None


@pytest.mark.parametrize("caller_name", ["alice", "root"])
def test_a_token_of_an_ended_session_is_401_before_any_scope_check(client, registered, caller_name):
    caller = sign_in(client, registered, username=caller_name)
    client.delete(f"/api/sessions/{caller.sid}", headers=caller.headers)
    response = client.get("/api/admin/users/alice/sessions", headers=caller.headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_without_a_token_the_admin_api_answers_401(client, registered):
    response = client.delete("/api/admin/users/alice/sessions")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_TOKEN_CHALLENGE
