"""The sessions store (``store/sessions.py``) on SQLite and PostgreSQL: its reads, its conditional
writes (the rotation write above all: one statement on PostgreSQL, written only while the token is
unused and the session not ended), the session lock, the endings and their deadline, and that its
writes begin the write transaction themselves."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select

from authserver.sessions.device_sessions import deadline_reached
from authserver.store import sessions as store
from authserver.store.database import Prepared
from authserver.store.database import WriteOutsideTransaction
from authserver.store.database import begin_write
from authserver.store.database import db
from authserver.store.database import reads_first
from authserver.store.denylist import deny_access_token
from authserver.store.models import DeviceSession
from authserver.store.models import RefreshToken
from authserver.store.models import sha256_hex
from tests.statement_helpers import count_statements

IDLE = dt.timedelta(seconds=1000)
MAX_AGE = dt.timedelta(seconds=3000)


@pytest.fixture
def people(factory):
    return {"alice": factory.user("alice"), "bob": factory.user("bob"),
            "app": factory.client(name="app").client_id, "other": factory.client(name="other").client_id}


@pytest.fixture
def open_session(app, people, clock):
    """Open a session (as of the clock) with its first token, committed; returns its id."""

    def open_(user="alice", client="app", token="token-0"):
        with app.app_context():
            now = clock.now()
            session = store.add_session(user_id=people[user], client_id=people[client], scope="profile email",
                                        device_name="test", restricted=False, created_at=now, last_active_at=now,
                                        expires_at=now + MAX_AGE)
            store.add_first_token(session, sha256_hex(token))
            db.session.commit()
            return session.id

    return open_


def in_unit_of_work(app, action):
    """Run ``action`` as a request would, and commit."""
    with app.app_context():
        result = action()
        db.session.commit()
        return result


def rotation(state, now, successor="token-1", ip="192.0.2.7", user_agent="Phone/2"):
    return store.RotationWrite(token_id=state.id, session_id=state.session_id, client_id=state.client_id,
                               generation=state.generation + 1, successor_hash=sha256_hex(successor), now=now, ip=ip,
                               user_agent=user_agent)


def chain(app, session_id):
    with app.app_context():
        rows = db.session.execute(select(RefreshToken.generation, RefreshToken.parent_id, RefreshToken.used_at,
                                         RefreshToken.token_hash)
                                  .where(RefreshToken.session_id == session_id).order_by(RefreshToken.generation))
        return [tuple(row) for row in rows]


def session_columns(app, session_id):
    with app.app_context():
        session = db.session.get(DeviceSession, session_id)
        return None if session is None else {name: getattr(session, name) for name in (
            "last_active_at", "ip", "user_agent", "ended_at", "ended_reason", "ended_by")}


def test_token_state_reads_the_token_its_session_and_its_user_in_one_row(app, people, open_session, clock):
    sid = open_session()
    row = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    assert (row.session_id, row.client_id, row.generation, row.used_at, row.user_id, row.scope, row.username,
            row.is_admin, row.disabled_at, row.ended_at) == (
        sid, people["app"], 0, None, people["alice"], "profile email", "alice", False, None, None)
    assert (row.issued_at, row.last_active_at, row.expires_at) == (clock.now(), clock.now(), clock.now() + MAX_AGE)
    assert in_unit_of_work(app, lambda: store.token_state(sha256_hex("no-such-token"))) is None


def test_access_token_state_says_whether_the_jti_is_denied(app, people, open_session, clock):
    sid = open_session()
    row = in_unit_of_work(app, lambda: store.access_token_state(sid, "jti-1"))
    assert (row.session_id, row.user_id, row.client_id, row.username, row.denied) == (
        sid, people["alice"], people["app"], "alice", False)
    in_unit_of_work(app, lambda: deny_access_token("jti-1", clock.now() + IDLE, clock.now()))
    assert in_unit_of_work(app, lambda: store.access_token_state(sid, "jti-1")).denied
    assert not in_unit_of_work(app, lambda: store.access_token_state(sid, "jti-2")).denied
    assert in_unit_of_work(app, lambda: store.access_token_state("no-such-session", "jti-1")) is None


def count_writes(app):
    """The write statements the database receives (BEGIN and reads not counted)."""
    return count_statements(app, ("UPDATE", "INSERT", "WITH"))


def test_write_rotation_marks_used_touches_and_adds_the_successor_once(app, open_session, clock, backend):
    sid = open_session()
    clock.advance(60)
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    statements, stop = count_writes(app)
    try:
        assert in_unit_of_work(app, lambda: store.write_rotation(rotation(state, clock.now()))) is True
    finally:
        stop()
    # PostgreSQL: one statement, one round trip; SQLite: three, under the write lock.
    assert len(statements) == (1 if backend == "postgresql" else 3)
    parent_id = state.id
    assert chain(app, sid) == [(0, None, clock.now(), sha256_hex("token-0")),
                               (1, parent_id, None, sha256_hex("token-1"))]
    columns = session_columns(app, sid)
    assert (columns["last_active_at"], columns["ip"], columns["user_agent"]) == (clock.now(), "192.0.2.7", "Phone/2")
    # The same write again finds its token used: no successor, the token's use stands.
    clock.advance(1)
    again = rotation(state, clock.now(), successor="token-x")
    assert in_unit_of_work(app, lambda: store.write_rotation(again)) is False
    assert chain(app, sid) == [(0, None, clock.now() - dt.timedelta(seconds=1), sha256_hex("token-0")),
                               (1, parent_id, None, sha256_hex("token-1"))]


def test_write_rotation_keeps_the_devices_address_when_none_is_known(app, open_session, clock):
    sid = open_session()
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    in_unit_of_work(app, lambda: store.write_rotation(rotation(state, clock.now())))
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-1")))
    assert in_unit_of_work(app, lambda: store.write_rotation(rotation(state, clock.now(), "token-2", None, None)))
    assert (session_columns(app, sid)["ip"], session_columns(app, sid)["user_agent"]) == ("192.0.2.7", "Phone/2")


def test_write_rotation_adds_no_successor_to_an_ended_session(app, open_session, clock):
    sid = open_session()
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    assert in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "user", "alice", session_id=sid))
    clock.advance(1)
    assert in_unit_of_work(app, lambda: store.write_rotation(rotation(state, clock.now()))) is False
    assert [generation for generation, *_ in chain(app, sid)] == [0]
    assert session_columns(app, sid)["last_active_at"] == clock.now() - dt.timedelta(seconds=1)


def test_writes_begin_the_write_transaction_themselves(app, open_session, clock):
    # A request that reads first runs its reads outside a transaction; the store's writes begin one
    # (a write statement outside it would raise WriteOutsideTransaction).
    sid = open_session()
    with app.test_request_context():
        reads_first()
        state = store.token_state(sha256_hex("token-0"))
        assert store.write_rotation(rotation(state, clock.now()))
        db.session.commit()
    with app.test_request_context():
        reads_first()
        assert store.lock_session(sid)
        assert store.touch_session(sid, clock.now(), "192.0.2.8", None)
        assert [ended.id for ended in store.end_sessions(clock.now(), "admin", "root", session_id=sid)] == [sid]
        db.session.commit()
    assert session_columns(app, sid)["ended_reason"] == "admin"


def test_successor_state_is_the_tokens_child(app, open_session, clock):
    open_session()
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    assert in_unit_of_work(app, lambda: store.successor_state(state.id)) is None
    in_unit_of_work(app, lambda: store.write_rotation(rotation(state, clock.now())))
    child = in_unit_of_work(app, lambda: store.successor_state(state.id))
    assert child.used_at is None and child.id != state.id


def test_touch_session_touches_only_a_session_not_ended(app, open_session, clock):
    sid = open_session()
    clock.advance(5)
    assert in_unit_of_work(app, lambda: store.touch_session(sid, clock.now(), None, "Phone/3")) is True
    assert (session_columns(app, sid)["last_active_at"], session_columns(app, sid)["user_agent"]) == (
        clock.now(), "Phone/3")
    in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "user", "alice", session_id=sid))
    assert in_unit_of_work(app, lambda: store.touch_session("no-such-session", clock.now(), None, None)) is False
    assert in_unit_of_work(app, lambda: store.touch_session(sid, clock.now(), None, None)) is False


@pytest.mark.parametrize("settings_overrides", [{"lock_timeout_seconds": 1}])
def test_lock_session_holds_the_row_until_the_transaction_ends(app, open_session, backend, database_url):
    sid = open_session()
    engine = sqlalchemy.create_engine(database_url)
    try:
        with app.app_context():
            assert store.lock_session(sid) is True
            assert store.lock_session("no-such-session") is False
            with engine.connect() as other:
                with pytest.raises(sqlalchemy.exc.OperationalError):
                    if backend == "sqlite":  # the database's write lock
                        other.exec_driver_sql("PRAGMA busy_timeout = 100")
                        other.exec_driver_sql("BEGIN IMMEDIATE")
                    else:
                        other.execute(sqlalchemy.text(
                            "SELECT id FROM device_sessions WHERE id = :sid FOR UPDATE NOWAIT"), {"sid": sid})
                other.rollback()
            db.session.rollback()
        with engine.connect() as other:  # free again
            other.execute(sqlalchemy.text("SELECT id FROM device_sessions WHERE id = :sid"), {"sid": sid})
    finally:
        engine.dispose()


def test_end_sessions_ends_what_which_names_once_and_says_whose(app, people, open_session, clock):
    keep, gone, other_client = open_session(), open_session(token="t-2"), open_session(client="other", token="t-3")
    bobs = open_session(user="bob", token="t-4")
    ended = in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "admin", "root", user_id=people["alice"],
                                                            client_id=people["app"], except_session_id=keep))
    assert [(e.id, e.user_id, e.client_id, e.username) for e in ended] == [
        (gone, people["alice"], people["app"], "alice")]
    assert (session_columns(app, gone)["ended_reason"], session_columns(app, gone)["ended_by"]) == ("admin", "root")
    assert [session_columns(app, sid)["ended_at"] for sid in (keep, other_client, bobs)] == [None] * 3
    # An ended session is not ended again: the first ending stands.
    assert in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "user", "alice", session_id=gone)) == []
    assert session_columns(app, gone)["ended_reason"] == "admin"
    ids = [keep, other_client, bobs]
    ended = in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "admin", None, ids=ids))
    assert {e.id for e in ended} == set(ids)


def test_expired_sessions_agree_with_the_rule_at_each_boundary(app, open_session, clock):
    start = clock.now()
    idle = open_session()
    clock.advance(MAX_AGE.total_seconds() - IDLE.total_seconds())
    aged = open_session(token="t-2")  # will reach its idle deadline exactly at its first's max age
    # Keep `aged` alive so that only its max age can end it.
    for _ in range(2):
        clock.advance(IDLE.total_seconds() - 1)
        in_unit_of_work(app, lambda: store.touch_session(aged, clock.now(), None, None))
    for now in (start + IDLE - dt.timedelta(seconds=1), start + IDLE, start + MAX_AGE - dt.timedelta(seconds=1),
                clock.now(), clock.now() + dt.timedelta(seconds=1), start + 2 * MAX_AGE):
        found = {row.id: deadline_reached(row.expires_at, row.last_active_at, now, IDLE)
                 for row in in_unit_of_work(app, lambda: store.expired_sessions(now, IDLE))}
        with app.app_context():
            every = db.session.execute(select(DeviceSession.id, DeviceSession.expires_at, DeviceSession.last_active_at))
            expected = {sid: reason for sid, expires_at, last_active_at in every
                        if (reason := deadline_reached(expires_at, last_active_at, now, IDLE)) is not None}
        assert found == expected, now
    assert set(expected) == {idle, aged}


def test_end_sessions_still_past_keeps_a_session_used_meanwhile(app, open_session, clock):
    sid = open_session()
    clock.advance(IDLE.total_seconds())
    assert [row.id for row in in_unit_of_work(app, lambda: store.expired_sessions(clock.now(), IDLE))] == [sid]
    in_unit_of_work(app, lambda: store.touch_session(sid, clock.now(), None, None))  # a refresh got there first
    assert in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "idle_timeout", None, ids=[sid],
                                                           still_past=IDLE)) == []
    clock.advance(IDLE.total_seconds())
    assert len(in_unit_of_work(app, lambda: store.end_sessions(clock.now(), "idle_timeout", None, ids=[sid],
                                                               still_past=IDLE))) == 1


def test_find_token_and_get_session(app, open_session):
    sid = open_session()
    with app.app_context():
        assert store.find_token(sha256_hex("token-0")).session_id == sid
        assert store.find_token(sha256_hex("nope")) is None
        assert store.get_session(sid).user.username == "alice"
        assert store.get_session("nope") is None
        assert db.session.scalar(select(func.count()).select_from(RefreshToken)) == 1


# -- the hot statements on the driver's connection (database.Prepared) ------------------------
class Captured(Exception):
    pass


def sqlalchemy_parameters(app, statement, params):
    """The SQL text and parameters SQLAlchemy's own execution hands the driver for ``statement``
    (caught before the driver runs it)."""
    with app.app_context():
        engine = db.engine

    def note(_connection, _cursor, sql, parameters, _context, _executemany):
        if not sql.startswith("BEGIN"):
            raise Captured(sql, parameters)

    event.listen(engine, "before_cursor_execute", note)
    try:
        with app.app_context():
            begin_write()
            with pytest.raises(Captured) as captured:
                db.session.connection().execute(statement, params)
            db.session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return captured.value.args


@pytest.mark.parametrize("now", [dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc),
                                 dt.datetime(2026, 3, 1, 14, 0, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=2)))])
def test_prepared_statements_hand_the_driver_what_sqlalchemy_would(app, now):
    """The same SQL text and the same converted parameters (naive UTC datetimes, in SQLite's text form
    there), whichever way the statement runs."""
    cases = [(store.TOUCH_SESSION, {"sid": "s1", "now": now, "ip": None, "ua": "Phone/2", "bind_jkt": "k" * 43}),
             (store.ADD_TOKEN, {"session_id": "s1", "token_hash": "h", "parent_id": 7, "generation": 2,
                                "client_id": "c", "issued_at": now}),
             (store.TOKEN_STATE, {"token_hash": "h"})]
    with app.app_context():
        dialect = db.engine.dialect
    for statement, params in cases:
        compiled = Prepared(statement)._compile(dialect)
        assert (compiled.sql, compiled.arguments(params)) == sqlalchemy_parameters(app, statement, params)


def test_prepared_reads_give_the_rows_sqlalchemy_gives(app, people, open_session, clock):
    """Same keys, same values, same types (aware UTC datetimes, booleans), with or without a row."""
    sid = open_session()
    in_unit_of_work(app, lambda: deny_access_token("jti-1", clock.now() + IDLE, clock.now()))
    with app.app_context():
        reads = [(store.TOKEN_STATE, {"token_hash": sha256_hex("token-0")}),
                 (store.ACCESS_TOKEN_STATE, {"sid": sid, "jti": "jti-1"}),
                 (store.ACCESS_TOKEN_STATE, {"sid": sid, "jti": "jti-2"}),
                 (store.TOKEN_STATE, {"token_hash": "none"})]
        for statement, params in reads:
            expected = db.session.connection().execute(statement, params).first()
            row = Prepared(statement).first(params)
            if expected is None:
                assert row is None
                continue
            assert row._fields == expected._fields
            assert [(value, type(value)) for value in row] == [(value, type(value)) for value in expected]
        assert store.token_state(sha256_hex("token-0")).issued_at.tzinfo == dt.timezone.utc


def test_a_prepared_write_outside_a_transaction_is_refused(app, open_session, clock):
    sid = open_session()
    with app.test_request_context():
        reads_first()
        assert store.token_state(sha256_hex("token-0")) is not None  # a read: fine outside a transaction
        with pytest.raises(WriteOutsideTransaction):
            Prepared(store.MARK_USED).rowcount({"token_id": 1, "now": clock.now()})
        db.session.rollback()
    assert chain(app, sid)[0][2] is None


def test_a_failed_prepared_statement_raises_as_sqlalchemy_would(app, open_session, clock):
    """A driver error comes out as SQLAlchemy's DBAPIError (which errors.py answers), the driver's as its cause."""
    sid = open_session()
    state = in_unit_of_work(app, lambda: store.token_state(sha256_hex("token-0")))
    with app.app_context():
        begin_write()
        with pytest.raises(sqlalchemy.exc.IntegrityError) as raised:  # the chain's token_hash is unique
            Prepared(store.ADD_TOKEN).rowcount({"session_id": sid, "token_hash": sha256_hex("token-0"),
                                                "parent_id": state.id, "generation": 1, "client_id": state.client_id,
                                                "issued_at": clock.now()})
        assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.IntegrityError)
        db.session.rollback()


def test_postgresql_prepares_a_hot_statement_once_per_connection(app, open_session, backend):
    """Server-side prepared at first use, and kept across units of work (the pool's reset on return
    does not drop it)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    open_session()

    def prepared():
        rows = db.session.connection().exec_driver_sql(
            "SELECT name, prepare_time FROM pg_prepared_statements WHERE statement LIKE %(pattern)s",
            {"pattern": "%refresh_tokens.token_hash = $1%"})
        return [tuple(row) for row in rows]

    def read_then_list():
        assert store.token_state(sha256_hex("token-0")) is not None
        return prepared()

    first = in_unit_of_work(app, read_then_list)
    assert len(first) == 1
    for _ in range(3):
        assert in_unit_of_work(app, read_then_list) == first
