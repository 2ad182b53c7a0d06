"""database.py: SQLite writers queue on the lock file; the per-process client cache (accounts/clients.py)."""

import sqlite3

import pytest

from authserver.accounts import clients
from authserver.store.database import db
from authserver.store.database import writer_locked_connection
from authserver.store.models import Client


def test_sqlite_writers_queue_on_the_lock_file_until_commit_or_rollback(tmp_path):
    factory = writer_locked_connection(str(tmp_path / "a.db"), timeout=0.05)
    first = sqlite3.connect(tmp_path / "a.db", factory=factory, isolation_level=None)
    second = sqlite3.connect(tmp_path / "a.db", factory=factory, isolation_level=None)
    first.lock_for_write()
    first.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.lock_for_write()  # the same message as SQLite's own busy timeout: a retryable 409
    first.commit()
    second.lock_for_write()  # free again
    second.rollback()
    first.lock_for_write()
    for connection in (first, second):
        connection.close()


def test_a_changed_client_is_seen_once_its_cached_copy_is_older_than_the_cache_time(app, factory):
    registered = factory.client(scope="profile")
    now = [100.0]
    cache = clients.ClientCache(seconds=5, monotonic=lambda: now[0])
    with app.app_context():
        assert cache.get(registered.client_id).scope == "profile"
        db.session.get(Client, registered.client_id).scope = "profile email"
        db.session.commit()
        now[0] += 4.9
        assert cache.get(registered.client_id).scope == "profile"
        now[0] += 0.2
        assert cache.get(registered.client_id).scope == "profile email"
        assert cache.get("client_unknown") is None


def test_a_pooled_postgresql_connection_closed_while_idle_is_replaced_not_used(app, client, backend,
                                                                                 database_url, monkeypatch):
    if backend != "postgresql":
        pytest.skip("PostgreSQL's connection pool")
    import sqlalchemy

    from authserver.store import database

    assert client.get("/readyz").status_code == 200  # a connection is now in the pool
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as other:  # the database closes every other connection (a restart, an idle timeout)
        other.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    engine.dispose()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", -1.0)  # the pooled one has sat idle long enough
    assert client.get("/readyz").status_code == 200


def test_reads_first_run_outside_a_transaction_and_writes_wait_for_begin_write(app, backend):
    from sqlalchemy import delete
    from sqlalchemy import select

    from authserver.store.database import WriteOutsideTransaction
    from authserver.store.database import begin_write
    from authserver.store.database import reads_first
    from authserver.store.models import SecurityEvent

    def in_transaction():
        driver = db.session.connection().connection.dbapi_connection
        return driver.in_transaction if backend == "sqlite" else not driver.autocommit

    with app.test_request_context():
        reads_first()
        db.session.execute(select(SecurityEvent.id)).all()  # a read: no BEGIN, no write lock
        assert not in_transaction()
        with pytest.raises(WriteOutsideTransaction):  # a write would commit on its own, whatever came after
            db.session.execute(delete(SecurityEvent))
        db.session.rollback()  # as the failed request's unit of work does
        begin_write()
        db.session.execute(delete(SecurityEvent))
        assert in_transaction()
        db.session.rollback()


# -- a read that rides on the next one (read_with_next) ---------------------------------------
def _reads():
    from sqlalchemy import bindparam
    from sqlalchemy import func
    from sqlalchemy import select

    from authserver.store.database import Prepared
    from authserver.store.models import User

    users = Prepared(select(func.count(), func.min(User.username)).select_from(User))
    user = Prepared(select(User.id, User.username, User.created_at).where(User.username == bindparam("username")))
    return users, user


def test_a_waiting_read_rides_on_the_next_one_in_one_statement(app, factory, backend):
    from authserver.store.database import read_with_next
    from authserver.store.database import reads_first
    from tests.statement_helpers import count_statements

    factory.user("alice")
    factory.user("bob")
    users, user = _reads()
    with app.test_request_context():
        reads_first()
        alone = user.first({"username": "bob"})
    seen = []
    statements, stop = count_statements(app)
    try:
        with app.test_request_context():
            reads_first()
            read_with_next(users, {}, seen.append)
            assert seen == []  # nothing sent yet
            assert user.first({"username": "bob"}) == alone  # the same row, its datetime UTC-aware as alone
            assert seen == [(2, "alice")]  # given before the other read's row came back
            read_with_next(users, {}, seen.append)
            assert user.first({"username": "nobody"}) is None  # no row: None, and the waiting read still has its own
            assert seen == [(2, "alice")] * 2
    finally:
        stop()
    assert len(statements) == 2
    assert alone.created_at.tzinfo is not None


def test_a_waiting_reads_verdict_comes_before_the_next_reads_row_or_any_write(app, factory, backend):
    from sqlalchemy import delete

    from authserver.store.database import begin_write
    from authserver.store.database import read_with_next
    from authserver.store.database import reads_first
    from authserver.store.database import rollback
    from authserver.store.database import settle_reads
    from authserver.store.models import SecurityEvent

    factory.user("alice")
    users, user = _reads()

    class Refused(Exception):
        pass

    def refuse(row):
        raise Refused(row)

    order = []
    with app.test_request_context():
        reads_first()
        read_with_next(users, {}, refuse)
        with pytest.raises(Refused):  # the next read's row is never handed out
            user.first({"username": "alice"})
        # A write comes first: the waiting read runs alone, before the transaction begins.
        read_with_next(users, {}, lambda row: order.append(("count", row[0])))
        begin_write()
        db.session.execute(delete(SecurityEvent))
        assert order == [("count", 1)]
        rollback()
    with app.test_request_context():
        reads_first()
        # Any other statement (here the ORM's) comes first: it runs before that one.
        read_with_next(users, {}, lambda row: order.append(("before the ORM's", row[0])))
        assert db.session.scalar(db.select(db.func.count()).select_from(SecurityEvent)) == 0
        assert order[-1] == ("before the ORM's", 1)
        # Nothing came: settle_reads runs it (an endpoint's answer waits for it).
        read_with_next(users, {}, refuse)
        with pytest.raises(Refused):
            settle_reads()
        settle_reads()  # once only
    with app.test_request_context():
        read_with_next(users, {}, refuse)
    with app.test_request_context():
        settle_reads()  # the request that left it waiting took it with it


def test_a_locking_read_never_carries_a_waiting_one(app, factory, backend):
    # PostgreSQL refuses FOR UPDATE on the nullable side of an outer join: the waiting read runs first, alone.
    from sqlalchemy import bindparam
    from sqlalchemy import select

    from authserver.store.database import Prepared
    from authserver.store.database import read_with_next
    from authserver.store.models import User
    from tests.statement_helpers import count_statements

    factory.user("alice")
    users, _ = _reads()
    lock = Prepared(select(User.username).where(User.username == bindparam("username")).with_for_update())
    seen = []
    statements, stop = count_statements(app)
    try:
        with app.test_request_context():  # not reads first: the transaction is begun at once
            read_with_next(users, {}, seen.append)
            assert lock.first({"username": "alice"}).username == "alice"
            assert seen == [(1, "alice")]
            db.session.rollback()
    finally:
        stop()
    assert len(statements) == 2
