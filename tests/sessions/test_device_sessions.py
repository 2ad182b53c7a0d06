"""Device-session rules (authserver/sessions/device_sessions.py): who may find a session, how sessions
end, lazy idle and max-age expiry wherever a session is touched. (What `prune` ends and deletes:
tests/store/test_retention.py.)"""

import datetime as dt

import pytest

from authserver.sessions.device_sessions import ENDED_BY_ADMIN
from authserver.sessions.device_sessions import ENDED_BY_USER
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_MAX_AGE
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from tests.session_helpers import PHONE_UA
from tests.session_helpers import keep_alive
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in

IDLE = 1000
MAX_AGE = 3000


@pytest.fixture
def settings_overrides():
    # Access tokens outlive the sessions here, so each test sees the session rules, not the JWT's exp.
    return {"session_idle_timeout_seconds": IDLE, "session_max_age_seconds": MAX_AGE,
            "access_token_ttl_seconds": 2 * MAX_AGE}


@pytest.fixture
def registered(factory):
    factory.user("alice")
    factory.user("bob")
    return factory.client(scope="profile email sessions")


class Domain:
    """Calls the session rules each in its own app context and unit of work, as a request or command
    would. Sessions come back as their ids (rows do not outlive the context)."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):
        def call(*args, **kwargs):
            with self.app.app_context():
                result = getattr(self.app.extensions["authserver"].sessions, name)(*args, **kwargs)
                db.session.commit()
                if isinstance(result, list):
                    return [item.id if isinstance(item, DeviceSession) else item for item in result]
                return result.id if isinstance(result, DeviceSession) else result

        return call


@pytest.fixture
def service(app):
    return Domain(app)


def user_id(signed_in):
    return signed_in.claims["sub"]


def test_ends_at_is_the_idle_deadline_or_the_max_age_whichever_is_first(app, service, client, registered, clock):
    start = clock.now()
    signed_in = sign_in(client, registered)
    assert service.ends_at(session_row(app, signed_in.sid)) == start + dt.timedelta(seconds=IDLE)
    for _ in range(3):
        clock.advance(900)
        keep_alive(client, registered, signed_in)
    assert service.ends_at(session_row(app, signed_in.sid)) == start + dt.timedelta(seconds=MAX_AGE)


def test_find_user_session_finds_only_the_users_own(service, client, registered):
    alice = sign_in(client, registered)
    bob = sign_in(client, registered, username="bob")
    assert service.find_user_session(alice.sid, user_id(alice)) == alice.sid
    assert service.find_user_session(bob.sid, user_id(alice)) is None
    assert service.find_user_session("no-such-id", user_id(alice)) is None
    assert service.find_user_session(bob.sid) == bob.sid  # operators look up any session


def test_end_session_is_true_once_and_records_one_event(app, service, client, registered):
    signed_in = sign_in(client, registered)
    assert service.end_session(signed_in.sid, ENDED_BY_USER, actor="alice", ip="192.0.2.1") is True
    assert service.end_session(signed_in.sid, ENDED_BY_ADMIN, actor="root") is False
    row = session_row(app, signed_in.sid)
    assert (row.ended_reason, row.ended_by) == (ENDED_BY_USER, "alice")  # the first ending stands
    assert [(e["actor"], e["ip"]) for e in logged_events(app, security_events.SESSION_ENDED)] == [("alice", "192.0.2.1")]


def test_end_user_sessions_may_keep_one_and_skips_ended_ones(app, service, client, registered):
    keep = sign_in(client, registered)
    gone = sign_in(client, registered, user_agent=PHONE_UA)
    already = sign_in(client, registered)
    bob = sign_in(client, registered, username="bob")
    service.end_session(already.sid, ENDED_BY_USER, actor="alice")

    assert service.end_user_sessions(user_id(keep), ENDED_BY_ADMIN, actor="root", keep_session_id=keep.sid) == 1
    assert session_row(app, gone.sid).ended_reason == ENDED_BY_ADMIN
    assert session_row(app, already.sid).ended_reason == ENDED_BY_USER
    assert session_row(app, keep.sid).ended_at is None
    assert session_row(app, bob.sid).ended_at is None
    assert service.end_user_sessions(user_id(keep), ENDED_BY_ADMIN, actor="root") == 1


def test_ending_sessions_that_had_already_expired_records_their_expiry(app, service, client, registered, clock):
    idle = sign_in(client, registered, user_agent=PHONE_UA)
    clock.advance(IDLE - 100)
    also_idle = sign_in(client, registered)
    live = sign_in(client, registered)
    clock.advance(100)  # `idle` has been idle IDLE seconds: it is over, though nobody noticed yet
    # Ending "all the others" ends only live ones; the expired one ends for its expiry.
    assert service.end_user_sessions(user_id(live), ENDED_BY_USER, actor="alice", keep_session_id=live.sid) == 1
    assert session_row(app, idle.sid).ended_reason == ENDED_IDLE
    assert session_row(app, idle.sid).ended_by is None
    assert session_row(app, also_idle.sid).ended_reason == ENDED_BY_USER
    clock.advance(IDLE)
    assert service.end_session(live.sid, ENDED_BY_ADMIN, actor="root") is False
    assert session_row(app, live.sid).ended_reason == ENDED_IDLE
    reasons = {e["session_id"]: e["detail"]["reason"] for e in logged_events(app, security_events.SESSION_ENDED)}
    assert reasons == {idle.sid: ENDED_IDLE, also_idle.sid: ENDED_BY_USER, live.sid: ENDED_IDLE}


def test_list_sessions_ends_sessions_past_their_max_age(app, service, client, registered, clock):
    old = sign_in(client, registered)
    for _ in range(3):
        clock.advance(900)
        keep_alive(client, registered, old)
    young = sign_in(client, registered)
    clock.advance(300)  # old reached MAX_AGE, though it was used 300 s ago
    assert service.list_sessions(user_id(old)) == [young.sid]
    assert session_row(app, old.sid).ended_reason == ENDED_MAX_AGE
    assert [e["detail"]["reason"] for e in logged_events(app, security_events.SESSION_ENDED)] == [ENDED_MAX_AGE]


def test_idle_timeout_is_enforced_when_an_access_token_is_used(app, client, registered, clock):
    signed_in = sign_in(client, registered)
    clock.advance(IDLE - 1)
    assert client.get("/api/sessions", headers=signed_in.headers).status_code == 200
    clock.advance(1)
    # The JWT itself is still unexpired; the resource protector ends the idle session and refuses it.
    assert client.get("/api/sessions", headers=signed_in.headers).status_code == 401
    assert session_row(app, signed_in.sid).ended_reason == ENDED_IDLE
    events = logged_events(app, security_events.SESSION_ENDED)
    assert [(e["session_id"], e["actor"], e["detail"]["reason"]) for e in events] == [(signed_in.sid, None, ENDED_IDLE)]


def test_using_an_access_token_does_not_count_as_activity(app, client, registered, clock):
    # Only sign-in and refresh move last_active_at; an app that never refreshes goes idle.
    signed_in = sign_in(client, registered)
    clock.advance(IDLE // 2)
    client.get("/api/sessions", headers=signed_in.headers)
    assert session_row(app, signed_in.sid).last_active_at == session_row(app, signed_in.sid).created_at
