"""store/security_events.py: the append-only security event log. Recording joins the request's unit of
work (it begins the write transaction itself, even in a request that reads first) and commits nothing;
a user's recent events include the failed sign-ins recorded only by username."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from authserver.accounts import users
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.database import reads_first
from authserver.store.models import SecurityEvent

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)


def stored(app) -> list[SecurityEvent]:
    with app.app_context():
        return list(db.session.scalars(select(SecurityEvent).order_by(SecurityEvent.id)))


def test_an_event_records_who_where_and_why(app, factory):
    factory.user()
    with app.app_context():
        alice = users.find_user("alice")
        security_events.record_event(security_events.SESSION_ENDED, T0, user=alice, session_id="s1", client_id="c1",
                                     ip="192.0.2.1", actor="root", reason="admin", generation=3)
        security_events.record_event(security_events.LOGIN_FAILED, T0, user_id=None, username="nobody")
        db.session.commit()
        alice_id = alice.id
    ended, failed = stored(app)
    assert (ended.kind, ended.created_at, ended.user_id, ended.username, ended.session_id, ended.client_id, ended.ip,
            ended.actor) == (security_events.SESSION_ENDED, T0, alice_id, "alice", "s1", "c1", "192.0.2.1", "root")
    assert json.loads(ended.detail) == {"generation": 3, "reason": "admin"}
    assert (failed.user_id, failed.username, failed.detail) == (None, "nobody", None)


def test_recording_joins_the_unit_of_work_and_commits_nothing(app, backend):
    def in_transaction():
        driver = db.session.connection().connection.dbapi_connection
        return driver.in_transaction if backend == "sqlite" else not driver.autocommit

    with app.test_request_context():
        reads_first()  # as a grant that reads first: no transaction until a store writes
        db.session.execute(select(SecurityEvent.id)).all()
        assert not in_transaction()
        security_events.record_event(security_events.CLIENT_AUTH_FAILED, T0, client_id="client_x", ip="192.0.2.2")
        db.session.flush()  # the write began the transaction first: no WriteOutsideTransaction
        assert in_transaction()
        db.session.rollback()  # a failed request keeps nothing
    assert stored(app) == []


def test_a_users_recent_events_include_failures_by_username_newest_first(app, factory):
    factory.user()
    factory.user("bob")
    with app.app_context():
        alice = users.find_user("alice")
        for minutes in range(5):
            security_events.record_event(security_events.LOGIN_SUCCEEDED, T0 + dt.timedelta(minutes=minutes),
                                         user=alice)
        security_events.record_event(security_events.LOGIN_FAILED, T0 + dt.timedelta(minutes=9), username="alice")
        security_events.record_event(security_events.LOGIN_FAILED, T0 + dt.timedelta(minutes=9), username="bob")
        db.session.commit()
        recent = security_events.recent_events(alice, limit=3)
        assert [(event.kind, event.created_at) for event in recent] == [
            (security_events.LOGIN_FAILED, T0 + dt.timedelta(minutes=9)),
            (security_events.LOGIN_SUCCEEDED, T0 + dt.timedelta(minutes=4)),
            (security_events.LOGIN_SUCCEEDED, T0 + dt.timedelta(minutes=3)),
        ]
        assert len(security_events.recent_events(alice)) == 6  # never bob's


def test_search_finds_the_latest_events_by_username_client_and_kind_a_page_at_a_time(app, factory):
    registered = factory.client(name="Notes")
    with app.app_context():
        for minute in range(5):
            security_events.record_event(security_events.LOGIN_FAILED, T0 + dt.timedelta(minutes=minute),
                                         username="alice", ip="192.0.2.1")
        security_events.record_event(security_events.LOGIN_SUCCEEDED, T0, username="bob",
                                     client_id=registered.client_id)
        security_events.record_event(security_events.CLIENT_AUTH_FAILED, T0, client_id="client_unknown")
        db.session.commit()

        everything = security_events.search_events()
        assert len(everything) == 7
        assert everything[0][0].created_at == T0 + dt.timedelta(minutes=4)  # newest first
        (bobs, name), = security_events.search_events(username="bob")
        assert (bobs.kind, name) == (security_events.LOGIN_SUCCEEDED, "Notes")  # with the client's name
        (unknown, no_name), = security_events.search_events(client_id="client_unknown")
        assert (unknown.kind, no_name) == (security_events.CLIENT_AUTH_FAILED, None)
        assert [event.username for event, _ in security_events.search_events(kind=security_events.LOGIN_FAILED)] \
            == ["alice"] * 5
        assert security_events.search_events(username="alice", kind=security_events.LOGIN_SUCCEEDED) == []

        first = security_events.search_events(username="alice", limit=2)
        second = security_events.search_events(username="alice", limit=2, before_id=first[-1][0].id)
        third = security_events.search_events(username="alice", limit=2, before_id=second[-1][0].id)
        pages = [[event.created_at for event, _ in page] for page in (first, second, third)]
        assert pages == [[T0 + dt.timedelta(minutes=m) for m in minutes] for minutes in ([4, 3], [2, 1], [0])]


def test_search_pages_through_events_of_the_same_instant_without_skipping_any(app):
    with app.app_context():
        for _ in range(5):
            security_events.record_event(security_events.LOGIN_FAILED, T0, username="alice")
        db.session.commit()
        seen, before = [], None
        while page := security_events.search_events(before_id=before, limit=2):
            seen += [event.id for event, _ in page]
            before = page[-1][0].id
    assert len(seen) == len(set(seen)) == 5
