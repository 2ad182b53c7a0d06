"""The database handle, the unit of work, and the engine settings that make concurrent refreshes safe.

Unit of work: domain code (``sessions/``, ``accounts/``...) only adds and flushes; each request
commits once, in :func:`register_unit_of_work`, and each command of the command line once when it
finishes. A request answered below 500 commits, refusals included: what a refused request wrote is
the record of its refusal (a failed sign-in that the throttle counts, a reused refresh token that
ended its session), and everything else refuses before it writes. A 5xx or an exception rolls back.
A failed statement or commit is classified here (:func:`failure_of`: lock contention, or the
database being unusable) and answered as that domain error by ``errors.py``.

SQLite: WAL journal, a busy timeout, and transactions opened with ``BEGIN IMMEDIATE`` so two
writers never both read a refresh token as unused (Python's sqlite3 would otherwise begin lazily,
after the read). That is the database-wide write lock. Writers queue on a lock file beside the
database (:class:`WriterLockedConnection`) before ``BEGIN IMMEDIATE``: SQLite's own busy handler
sleeps 1, 2, 5, 10... ms between tries, so a waiting writer would sleep on long after the lock
came free, and under load that idle handoff was a third of a refresh's time; the lock file is tried
every fraction of a millisecond instead. PostgreSQL: a ``lock_timeout`` so a contended
``SELECT ... FOR UPDATE`` gives up with a retryable answer instead of hanging the worker.

Reads first: the hot grants and endpoints (refresh, sign-in, client credentials, introspection)
declare that they start with reads (``READS_FIRST``, applied by ``oauth/server.py`` when it
dispatches the request, through :func:`reads_first`); those reads run outside a transaction
(autocommit: no write lock on SQLite, where readers never wait in WAL mode, and no
``BEGIN``/``COMMIT`` statements or round trips on either database). Every store operation that
writes calls :func:`begin_write` before its first write, which starts the transaction on the
connection the reads used, on SQLite with the write lock, so that the writes and every read after
them share it; a request that read first and never called it has nothing to commit, and its unit
of work does not, unless something waits for the commit (an introspection, a client-credentials
grant); :func:`release_reads`
ends the reads before a slow step such as an argon2 check (``store/users.py``). Outside this
package, nothing calls them. Everything else begins its transaction at once (``BEGIN IMMEDIATE``
on SQLite). A write statement met outside a transaction is a bug and raises
:class:`WriteOutsideTransaction`.

A read that rides on the next one (:func:`read_with_next`): the lookup budgets' count, which every
client authentication runs, is not a statement of its own when a read follows (a refresh token's,
an access token's state): both are sent as one statement (``SELECT w.*, n.* FROM (w) LEFT JOIN (n)
ON true``), one round trip on PostgreSQL, and the count's verdict is given before the other read's
row is used. If anything else comes first (a write, :func:`begin_write`, any other statement, the end
of the endpoint's answer: :func:`settle_reads`), the waiting read runs then, alone, so its verdict
always comes before anything is written or answered.

Statements on the driver's connection (:class:`Prepared`): the hot paths' statements (a refresh's
read and rotation write, an access token's state, the lookup budgets' count, a client's row) are
Core statements compiled once per dialect into the SQL text SQLAlchemy itself would send, then run
on the DB-API connection that the request's unit of work holds (so in its transaction, under its
locks), with SQLAlchemy's own bind and result processors (UTC datetimes, booleans) applied, but
without its execution machinery (compiled-cache lookups, parameter construction, result objects)
on every request. sqlite3 keeps each connection's prepared statements by SQL text; on PostgreSQL
psycopg prepares them server-side at their first use (``prepare=True``) and keeps them for the
connection's life: the pool's reset on return (a rollback) does not clear them, since the unit of
work has committed and psycopg's rollback of an idle connection sends nothing; only a real
rollback (a failed request) makes psycopg drop them, and they are prepared again at next use.
"""

from __future__ import annotations

import collections
import datetime as dt
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import DateTime
from sqlalchemy.types import TypeDecorator

from ..errors import DatabaseBusy
from ..errors import DatabaseUnavailable
from ..errors import DomainError
from ..errors import ValueNotStorable
from ..errors import answer
from ..settings import SettingsError
from ..settings import path_error
from .private_files import FILE_MODE
from .private_files import FOLDER_MODE
from .private_files import make_private_file
from .private_files import restrict

db = SQLAlchemy()

# Per thread (one request at a time): whether the next SQLite transaction may begin deferred.
_begin = threading.local()


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, hands back aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def register_unit_of_work(app) -> None:
    @app.after_request
    def commit_unit_of_work(response):
        if response.status_code >= 500:
            rollback()
            return response
        session = db.session()
        if getattr(_begin, "deferred", False) and not session.info and not _wrote(session):
            # It read first and never began writing: every statement ran outside a transaction (a
            # write there raises), so there is nothing to commit, and nothing waits for a commit
            # (what does, such as metrics counted in step with the database, waits in session.info);
            # the teardown ends the session.
            return response
        try:
            db.session.commit()
        except DBAPIError as error:
            # Lock contention or an outage at the very end: answered like one met earlier (409 or
            # 503, nothing kept), never a 500.
            rollback()
            return answer(failure_of(error))
        return response

    @app.errorhandler(DataError)
    def unstorable_value(error):
        rollback()
        return answer(ValueNotStorable(type(error.orig).__name__))

    @app.errorhandler(DBAPIError)
    def database_failed(error):
        rollback()
        return answer(failure_of(error))

    @app.teardown_request
    def back_to_immediate(_error=None):
        _begin.deferred = False
        _begin.waiting = None


@event.listens_for(OrmSession, "after_flush")
def _flushed(session, _context):
    session.info["flushed"] = True


@event.listens_for(OrmSession, "do_orm_execute")
def _note_statement_writes(execute_state):
    # An UPDATE / DELETE / INSERT statement writes without a flush: begin_write must not roll it back.
    if execute_state.is_update or execute_state.is_delete or execute_state.is_insert:
        execute_state.session.info["flushed"] = True


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _transaction_over(session):
    session.info.pop("flushed", None)


def reads_first() -> None:
    """This request starts with reads: they run outside a transaction until :func:`begin_write`
    (see the module docstring)."""
    _begin.deferred = True


def _wrote(session) -> bool:
    return bool(session.info.get("flushed") or session.new or session.dirty or session.deleted)


def release_reads() -> None:
    """End the current transaction if it has only read, so that what comes next (an argon2 check)
    holds no lock and no snapshot. Objects read so far reload on their next use."""
    session = db.session()
    if session.in_transaction() and not _wrote(session):
        session.rollback()


def begin_write() -> None:
    """From here on this request writes: the reads so far, made outside a transaction, are over,
    and the transaction that the writes and every read after them share begins (on SQLite
    ``BEGIN IMMEDIATE``, the write lock; on PostgreSQL with the next statement), on the connection
    the reads used if they used one (a read waiting for the next, :func:`read_with_next`, runs first).
    A no-op if the request did not read first, or already called it."""
    settle_reads()
    if not getattr(_begin, "deferred", False):
        return
    _begin.deferred = False
    session = db.session()
    if session.in_transaction() and not _wrote(session):
        # The reads' connection, out of any transaction, begins the write transaction itself (no
        # rollback, no second checkout from the pool); what was read reloads on its next use.
        session.expire_all()
        connection = session.connection()  # if it is new, its begin event has begun the write already
        _BEGIN_WRITE[connection.dialect.name](connection)


def insert(row):
    """Add a new row in the request's write transaction (begun here if it is not yet) and flush it,
    so its defaults and id are known on return; every store's ``add_*`` is this."""
    begin_write()
    db.session.add(row)
    db.session.flush()
    return row


class Held(NamedTuple):
    """The connection the request's unit of work holds: SQLAlchemy's, the driver's under it, its dialect."""

    session: OrmSession
    connection: Connection
    driver: object
    dialect: object


def held() -> Held:
    """The unit of work's connection (checked out, and its transaction begun, if it was not yet)."""
    session = db.session()
    connection = session.connection()
    return Held(session, connection, connection.connection.dbapi_connection, connection.dialect)


class Prepared:
    """A Core statement that a hot path runs on the driver's connection (see the module docstring):
    compiled once per dialect, then each call is the driver's ``execute`` with SQLAlchemy's own
    conversions of the parameters and the row. Parameters are given by their bind names, as to
    ``Connection.execute``; a row comes back as a named tuple with the keys SQLAlchemy's row has.
    A write refuses to run outside a transaction (:class:`WriteOutsideTransaction`) and counts as
    the unit of work having written; a failure is raised as SQLAlchemy would raise it (a
    ``DBAPIError``, the connection invalidated if it was lost)."""

    def __init__(self, statement):
        self.statement = statement
        self._last = None  # the _Compiled of the dialect met last (a process has one engine; tests, many)
        self._compiled: dict = {}
        self._joined: dict = {}  # the next read's Prepared -> this one joined with it (read_with_next)

    def first(self, params: dict, on: Held | None = None):
        """The first row (a named tuple), or None; ``on``: the connection :func:`held` gave, if the
        caller runs several statements."""
        on = on or held()
        waiting = getattr(_begin, "waiting", None)
        if waiting is not None and self._compile(on.dialect).joinable:
            _begin.waiting = None
            return self._first_with(waiting, params, on)
        compiled, cursor = self._execute(params, on)
        row = cursor.fetchone()
        return None if row is None else compiled.row(row)

    def _first_with(self, waiting: _Waiting, params: dict, on: Held):
        """:meth:`first`, with the waiting read's row handed to its ``then`` before this one's is returned."""
        joined = waiting.prepared._joined.get(self)
        if joined is None:
            joined = waiting.prepared._joined[self] = Prepared(_joined_statement(waiting.prepared.statement,
                                                                                self.statement))
        arguments = {**waiting.params, **{_NEXT + name: value for name, value in params.items()}}
        _, cursor = joined._execute(arguments, on)
        row = cursor.fetchone()
        counted = waiting.prepared._compile(on.dialect)
        width = len(counted.columns)
        waiting.then(counted.row(row[:width]))
        found = row[-1] is not None  # the marker column: NULL when the next read found no row
        return self._compile(on.dialect).row(row[width:-1]) if found else None

    def scalar(self, params: dict, on: Held | None = None):
        """The first column of the first row, or None."""
        row = self.first(params, on)
        return None if row is None else row[0]

    def rowcount(self, params: dict, on: Held | None = None) -> int:
        """Run a write; the number of rows it changed."""
        return self._execute(params, on or held())[1].rowcount

    def _execute(self, params: dict, on: Held):
        settle_reads(on)  # a write, or a read that cannot carry a waiting one, comes first: that runs alone
        compiled = self._last
        if compiled is None or compiled.dialect is not on.dialect:
            compiled = self._compile(on.dialect)
        if compiled.writes:
            if not compiled.in_transaction(on.driver):
                raise WriteOutsideTransaction("a write while reading first, outside a transaction: call begin_write()")
            on.session.info["flushed"] = True
        arguments = compiled.arguments(params)
        try:
            return compiled, compiled.run(on.driver, compiled.sql, arguments)
        except compiled.driver_error as error:
            on.connection._handle_dbapi_exception(error, compiled.sql, arguments, None, None)

    def _compile(self, dialect):
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _Compiled(self.statement, dialect)
        self._last = compiled
        return compiled


class _Compiled:
    """A :class:`Prepared` statement for one dialect: its SQL text, its parameters in the driver's
    order with their defaults and bind processors, its row's keys and result processors. These are
    taken from SQLAlchemy's compiled statement with the helpers its own execution uses (private
    ones: ``_cached_bind_processor``, ``_result_columns``...), so that the conversions are its own;
    ``tests/store/test_sessions.py`` compares both ways. No result processor here depends on the
    driver's column type (none is known before the first row), which is given as None."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names:
            raise ValueError("a prepared statement binds every value as it is (no IN lists, no escaped names)")
        self.dialect = dialect
        self.sql = compiled.string
        self.writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        # A plain read, that a waiting one may ride on (read_with_next); never a write or a locking
        # read (PostgreSQL refuses FOR UPDATE on the nullable side of an outer join).
        self.joinable = not self.writes and getattr(statement, "_for_update_arg", None) is None
        self.in_transaction = IN_TRANSACTION[dialect.name]
        self.driver_error = dialect.loaded_dbapi.Error
        self.run = _RUN[dialect.name]
        # (bind name, the caller's key or None for a value the statement carries, that value, processor)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        order = compiled.positiontup if compiled.positional else list(binds)
        self._positional = compiled.positional
        self._binds = []
        for name in order:
            bind = binds[name]
            self._binds.append((name, bind.key if bind.required else None,
                                None if bind.required else bind.effective_value,
                                bind.type._cached_bind_processor(dialect)))
        columns = self.columns = compiled._result_columns
        self._row_type = collections.namedtuple("Row", [column.keyname for column in columns], rename=True)
        self._result = [(index, processor) for index, processor in (
            (index, column.type._cached_result_processor(dialect, None)) for index, column in enumerate(columns))
            if processor is not None]

    def arguments(self, params: dict):
        values = []
        for _name, key, value, processor in self._binds:
            if key is not None:
                value = params[key]
            values.append(value if processor is None else processor(value))
        if self._positional:
            return tuple(values)
        return {bind[0]: value for bind, value in zip(self._binds, values)}

    def row(self, row):
        if self._result:
            row = list(row)
            for index, processor in self._result:
                row[index] = processor(row[index])
        return self._row_type._make(row)


class _Waiting(NamedTuple):
    prepared: Prepared
    params: dict
    then: Callable


_NEXT = "next_"  # the next read's bind names, in a joined statement


def read_with_next(prepared: Prepared, params: dict, then: Callable) -> None:
    """Run ``prepared``, a read of exactly one row (a count), with the request's next prepared read
    that takes no lock (of at most one row, as a read by key is: a join does not keep the order of several), in one
    statement, and call ``then(row)`` (which may raise) before that read's row is used; or alone,
    before whatever else comes first (see the module docstring). One waits at a time: a second
    settles the first."""
    settle_reads()
    _begin.waiting = _Waiting(prepared, params, then)


def settle_reads(on: Held | None = None) -> None:
    """Run the read waiting for the next one now, alone, if there is one (its ``then`` may raise)."""
    waiting = getattr(_begin, "waiting", None)
    if waiting is not None:
        _begin.waiting = None
        waiting.then(waiting.prepared.first(waiting.params, on))


def _joined_statement(waiting, following):
    """``SELECT w.*, n.*, 1 FROM (waiting) w LEFT JOIN (following) n ON true``: one row whatever the
    following read finds (its columns NULL and the marker NULL when nothing), its binds renamed apart."""

    def renamed(element):
        if isinstance(element, BindParameter) and element.required:
            return bindparam(_NEXT + element.key, type_=element.type, required=True)
        return None

    first = waiting.subquery("w")
    then = visitors.replacement_traverse(following, {}, renamed).add_columns(
        literal_column("1").label("found")).subquery("n")
    return select(first, then).select_from(first.outerjoin(then, true()))


def _run_sqlite(driver, sql, arguments):
    return driver.execute(sql, arguments)  # sqlite3 keeps the prepared statement, by its text


def _run_psycopg(driver, sql, arguments):
    return driver.execute(sql, arguments, prepare=True)  # prepared server-side at its first use


# How a prepared statement runs on the driver's connection, by dialect name.
_RUN = {"sqlite": _run_sqlite, "postgresql": _run_psycopg}


class WriterLockedConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions first take an exclusive lock on a file beside
    the database, held until COMMIT or ROLLBACK (see the module docstring). ``lock_path`` and
    ``lock_timeout`` are set on a subclass per database (:func:`writer_locked_connection`)."""

    lock_path: str | None = None
    lock_timeout: float = 5.0
    _lock_fd: int | None = None
    _locked = False

    def lock_for_write(self) -> None:
        if self.lock_path is None or self._locked:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline, pause = None, 0.0001
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.lock_timeout
                elif now >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 1.5, 0.001)
        self._locked = True

    def unlock(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self):
        try:
            return super().commit()
        finally:
            self.unlock()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self.unlock()

    def close(self):
        self.unlock()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        return super().close()


def writer_locked_connection(database_file: str | None, timeout: float) -> type:
    return type("WriterLockedConnection", (WriterLockedConnection,),
                {"lock_path": database_file + "-writer.lock" if database_file else None, "lock_timeout": timeout})


def engine_options(settings) -> dict:
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        factory = writer_locked_connection(os.path.abspath(path) if path else None, settings.lock_timeout_seconds)
        return {"connect_args": {"timeout": settings.lock_timeout_seconds, "check_same_thread": False,
                                 "factory": factory}}
    lock_ms = settings.lock_timeout_seconds * 1000
    # No pool_pre_ping: it costs a round trip per request; see install_postgresql_hooks.
    return {"connect_args": {"options": f"-c lock_timeout={lock_ms}"}}


def database_uri(settings) -> str:
    """The SQLAlchemy URL to connect to. A relative SQLite path is relative to the working directory
    (Flask-SQLAlchemy would use instance/), and its folder is made."""
    url = settings.database_url
    path = sqlite_path(url)
    if not path:
        return url
    if not os.path.isabs(path):
        url = "sqlite:///" + os.path.abspath(path)
    prepare_sqlite_file(url)
    return url


def init_database(app, settings) -> None:
    db.init_app(app)
    with app.app_context():
        if settings.is_sqlite:
            install_sqlite_pragmas(db.engine)
        else:
            install_postgresql_hooks(db.engine)
        event.listen(db.engine, "before_cursor_execute", _settle_before_other_statements)
    register_unit_of_work(app)


def _settle_before_other_statements(*_args):
    # Any statement SQLAlchemy runs (ORM or Core) is one the waiting read cannot ride on: it runs first.
    settle_reads()


def sqlite_path(url: str) -> str | None:
    """The file behind a sqlite:/// URL, or None for an in-memory database."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return None if path in ("", ":memory:") else path.split("?", 1)[0]


def prepare_sqlite_file(url: str) -> None:
    """Make the SQLite file's folder (0700 if we make it) and the file itself (0600, and its WAL and
    shared-memory files with it, see ``private_files.py``). A folder that cannot be made is a bad
    AUTHSERVER_DATABASE_URL (one line, not a traceback)."""
    path = sqlite_path(url)
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=FOLDER_MODE, exist_ok=True)
    except OSError as error:
        raise path_error("DATABASE_URL", error) from error
    if os.path.isdir(path):
        raise SettingsError(f"AUTHSERVER_DATABASE_URL names a folder, not a SQLite file: {path!r}")
    try:
        make_private_file(path)
    except OSError as error:
        raise path_error("DATABASE_URL", error) from error
    for suffix in ("-wal", "-shm"):
        restrict(path + suffix, FILE_MODE)


# Whether the driver's connection is inside a transaction, by dialect name.
IN_TRANSACTION = {"sqlite": lambda dbapi_connection: dbapi_connection.in_transaction,
                  "postgresql": lambda dbapi_connection: not dbapi_connection.autocommit}


def install_sqlite_pragmas(engine) -> None:
    refuse_writes_outside_transactions(engine, IN_TRANSACTION["sqlite"])

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Hand transaction control to us (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        if getattr(_begin, "deferred", False):
            return  # reads first: no transaction until begin_write (isolation_level None is autocommit)
        _begin_immediate(connection)


def _begin_immediate(connection) -> None:
    """SQLite's write transaction on this connection, if it has none: the lock file, then
    ``BEGIN IMMEDIATE`` (the driver's own error raised as SQLAlchemy's)."""
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection.in_transaction:
        return
    locked = isinstance(dbapi_connection, WriterLockedConnection)
    if locked:
        dbapi_connection.lock_for_write()
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    except BaseException as error:
        if locked:
            dbapi_connection.unlock()
        if isinstance(error, sqlite3.Error):
            connection._handle_dbapi_exception(error, "BEGIN IMMEDIATE", (), None, None)
        raise


def _end_autocommit(connection) -> None:
    """PostgreSQL's write transaction on this connection: psycopg begins it with the next statement."""
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


# How begin_write starts the write transaction on a connection that was reading outside one.
_BEGIN_WRITE = {"sqlite": _begin_immediate, "postgresql": _end_autocommit}


# A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 10.0


class WriteOutsideTransaction(RuntimeError):
    """A write statement while reading first, outside a transaction: begin_write() was not called."""


def refuse_writes_outside_transactions(engine, in_transaction) -> None:
    """Raise before a write statement that would commit on its own (``in_transaction`` tells, for
    the driver's connection), whatever came after it in the request."""

    @event.listens_for(engine, "before_cursor_execute")
    def refuse(connection, _cursor, _statement, _parameters, context, _executemany):
        if (context is not None and (context.isinsert or context.isupdate or context.isdelete)
                and not in_transaction(connection.connection.dbapi_connection)):
            raise WriteOutsideTransaction("a write while reading first, outside a transaction: call begin_write()")


def install_postgresql_hooks(engine) -> None:
    """Reads first in autocommit (see the module docstring), and a pooled connection pinged
    before use only if it sat idle (a database restart or an idle timeout may have closed it
    meanwhile): a ping on every checkout, as ``pool_pre_ping`` does, is one more round trip on
    every request. A dead connection is replaced, not handed out."""

    @event.listens_for(engine, "checkin")
    def note_idle(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the driver raises for a dead connection
            raise DisconnectionError() from error

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # psycopg begins a transaction lazily, with the first statement: it has not yet.
        dbapi_connection = connection.connection.dbapi_connection
        reading = bool(getattr(_begin, "deferred", False))
        if dbapi_connection.autocommit != reading:
            dbapi_connection.autocommit = reading

    refuse_writes_outside_transactions(engine, IN_TRANSACTION["postgresql"])


def rollback() -> None:
    """End the request's transaction keeping nothing (a failed request; ``errors.py`` calls it too)."""
    db.session.rollback()


def failure_of(error: DBAPIError) -> DomainError:
    """What a failed statement or commit means for the request: a lock not had in time is retryable
    (another request held it), anything else is the database failing."""
    return DatabaseBusy() if is_lock_contention(error) else DatabaseUnavailable()


def is_lock_contention(error: DBAPIError) -> bool:
    """True when the database gave up waiting for a lock (the caller may retry)."""
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) in ("55P03", "40001", "40P01"):
        return True
    message = str(orig or error).lower()
    return "database is locked" in message or "database table is locked" in message
