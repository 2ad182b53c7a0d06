"""The statements the database receives, as the driver sees them: the hot statements run on the
driver's connection, past SQLAlchemy's events (SQLite: the connection's trace callback; PostgreSQL:
psycopg's cursor, which every statement passes, prepared or not)."""

from __future__ import annotations

import psycopg
from sqlalchemy import event

from authserver.store.database import db


def count_statements(app, first_words: tuple[str, ...] | None = None):
    """``(statements, stop)``: the SQL of every statement sent from now until ``stop()`` (only those
    whose first word is one of ``first_words``, if given; transaction control is never counted)."""
    statements, counting = [], [True]

    def note(statement):
        word = statement.lstrip().split(None, 1)[0].upper()
        if counting[0] and word not in ("BEGIN", "COMMIT", "ROLLBACK") and (first_words is None or word in first_words):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        def trace(dbapi_connection, _record, _proxy):
            dbapi_connection.set_trace_callback(note)

        event.listen(engine, "checkout", trace)

        def stop():
            counting[0] = False
            event.remove(engine, "checkout", trace)

        return statements, stop
    cursor_execute = psycopg.Cursor.execute

    def execute(self, query, params=None, **options):
        note(query if isinstance(query, str) else query.decode() if isinstance(query, bytes) else str(query))
        return cursor_execute(self, query, params, **options)

    psycopg.Cursor.execute = execute

    def stop():
        counting[0] = False
        psycopg.Cursor.execute = cursor_execute

    return statements, stop
