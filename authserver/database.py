"""The database handle, the unit of work, and the engine settings that make concurrent refreshes safe.

Unit of work: domain code (``sessions.py``, ``refresh_tokens.py``, ``accounts.py``...) only adds
and flushes; each request commits once, in :func:`register_unit_of_work`, and each command of
the command line once when it finishes. A request answered below 500 commits, refusals included:
what a refused request wrote is the record of its refusal (a failed sign-in that the throttle
counts, a reused refresh token that ended its session), and everything else refuses before it
writes. A 5xx or an exception rolls back.

SQLite: WAL journal, a busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` so
two writers never both read a refresh token as unused (Python's sqlite3 would otherwise begin
lazily, after the read). PostgreSQL: a ``lock_timeout`` so a contended ``SELECT ... FOR UPDATE``
gives up with a retryable answer instead of hanging the worker.
"""

from __future__ import annotations

import datetime as dt
import os

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import DateTime
from sqlalchemy.types import TypeDecorator

from .private_files import FILE_MODE
from .private_files import FOLDER_MODE
from .private_files import make_private_file
from .private_files import restrict
from .settings import SettingsError
from .settings import path_error

db = SQLAlchemy()


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
        if response.status_code < 500:
            db.session.commit()
        else:
            db.session.rollback()
        return response


def engine_options(settings) -> dict:
    if settings.is_sqlite:
        return {"connect_args": {"timeout": settings.lock_timeout_seconds, "check_same_thread": False}}
    lock_ms = settings.lock_timeout_seconds * 1000
    return {
        "pool_pre_ping": True,
        "connect_args": {"options": f"-c lock_timeout={lock_ms}"},
    }


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
    if settings.is_sqlite:
        with app.app_context():
            install_sqlite_pragmas(db.engine)
    register_unit_of_work(app)


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


def install_sqlite_pragmas(engine) -> None:
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
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_lock_contention(error: DBAPIError) -> bool:
    """True when the database gave up waiting for a lock (the caller may retry)."""
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) in ("55P03", "40001", "40P01"):
        return True
    message = str(orig or error).lower()
    return "database is locked" in message or "database table is locked" in message
