"""Sessions imported from an older store (``legacy_sessions``), for token exchange (RFC 8693): the
import's batched insert, the exchange's read and its one-winner claim, and the counts of ``legacy
status`` and the migrated-share metric. Tokens are only ever handled here as digests. Nothing here
commits: ``legacy import`` commits each batch, a request its unit of work.

Idempotent import: each batch is one ``INSERT … ON CONFLICT (token_digest) DO NOTHING … RETURNING``
(SQLite and PostgreSQL both have it), so a re-run, or a token twice in one file, adds nothing and is
counted as a duplicate by what the statement did not return.

One winner: :func:`claim` is a conditional UPDATE (``exchanged_at`` still NULL) under SQLite's write
lock or PostgreSQL's row lock, so of two exchanges racing for one token exactly one sees its row
change; the other finds it exchanged.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from .database import UTCDateTime
from .database import begin_write
from .database import db
from .models import LegacySession

_legacy = LegacySession.__table__

_now = bindparam("now", type_=UTCDateTime())
CLAIM = (update(_legacy).where(_legacy.c.token_digest == bindparam("digest"), _legacy.c.exchanged_at.is_(None))
         .values(exchanged_at=_now))


# The import's statement, one per dialect, built once: executed with a batch's rows as parameters
# (SQLAlchemy's "insertmanyvalues": a few multi-row INSERTs, compiled once and cached).
INSERT_NEW = {name: dialect.insert(_legacy).on_conflict_do_nothing(index_elements=["token_digest"])
              .returning(_legacy.c.token_digest)
              for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


def insert_batch(rows: list[dict]) -> int:
    """Add the rows whose digest is not stored yet; how many were added (the rest are duplicates)."""
    if not rows:
        return 0
    begin_write()
    connection = db.session.connection()
    return len(connection.execute(INSERT_NEW[connection.dialect.name], rows).all())


def find(digest: str) -> LegacySession | None:
    """The imported session with this digest, with its user (one query, no lock)."""
    return db.session.get(LegacySession, digest)


def claim(digest: str, now: dt.datetime) -> bool:
    """Mark the imported session exchanged, if nobody has: True for the one caller that did."""
    begin_write()
    return db.session.connection().execute(CLAIM, {"digest": digest, "now": now}).rowcount == 1


def record_session(digest: str, session_id: str) -> None:
    """The device session the claim's exchange opened (same transaction as the claim)."""
    begin_write()
    db.session.execute(update(_legacy).where(_legacy.c.token_digest == digest).values(session_id=session_id))


def counts(first_seen_by: dt.datetime) -> dict[str, int]:
    """How many sessions are imported, exchanged, and unexchanged but first seen by ``first_seen_by``
    (too old to be exchanged now: expired)."""
    row = db.session.execute(select(
        func.count(),
        func.count(_legacy.c.exchanged_at),
        func.count().filter(_legacy.c.exchanged_at.is_(None), _legacy.c.created_at <= first_seen_by),
    ).select_from(_legacy)).one()
    return {"imported": row[0], "exchanged": row[1], "expired": row[2]}
