"""The console's last 24 hours: how many sign-ins, refreshes, reuse detections, failures and session
endings each hour, counted from rows the server keeps anyway (security events, refresh-token rows,
device sessions), one grouped statement per kind of row, each over an index on its time column.

An hour is the instant truncated to the hour, in UTC (the columns hold naive UTC): ``date_trunc`` on
PostgreSQL, ``strftime`` on SQLite (which stores the instant as ISO text), compiled per dialect below.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.expression import FunctionElement

from .database import UTCDateTime
from .database import db
from .models import DeviceSession
from .models import RefreshToken
from .models import SecurityEvent


class _hour(FunctionElement):
    """The hour an instant falls in (an instant itself), the same expression wherever it is written, so
    that PostgreSQL accepts it in GROUP BY (no bound parameter)."""

    inherit_cache = True
    name = "hour"


@compiles(_hour, "postgresql")
def _hour_postgresql(element, compiler, **kw):
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(_hour, "sqlite")
def _hour_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(element.clauses, **kw)})"


def hour_of(column) -> ColumnElement:
    return type_coerce(_hour(column), UTCDateTime)


SINCE = bindparam("since", type_=UTCDateTime())
_event_hour = hour_of(SecurityEvent.created_at)
EVENTS_BY_HOUR = (select(_event_hour, SecurityEvent.kind, func.count())
                  .where(SecurityEvent.created_at >= SINCE, SecurityEvent.kind.in_(bindparam("kinds", expanding=True)))
                  .group_by(_event_hour, SecurityEvent.kind))
_refresh_hour = hour_of(RefreshToken.issued_at)
# Every token after a chain's first was minted by a refresh (a rotation; grace retries mint nothing).
REFRESHES_BY_HOUR = (select(_refresh_hour, func.count())
                     .where(RefreshToken.issued_at >= SINCE, RefreshToken.generation > 0)
                     .group_by(_refresh_hour))
_ended_hour = hour_of(DeviceSession.ended_at)
ENDINGS_BY_HOUR = (select(_ended_hour, DeviceSession.ended_reason, func.count())
                   .where(DeviceSession.ended_at >= SINCE)
                   .group_by(_ended_hour, DeviceSession.ended_reason))


def events_by_hour(since: dt.datetime, kinds) -> list[tuple[dt.datetime, str, int]]:
    """(hour, kind, how many) of the security events of ``kinds`` since ``since``."""
    return [tuple(row) for row in db.session.execute(EVENTS_BY_HOUR, {"since": since, "kinds": list(kinds)})]


def refreshes_by_hour(since: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """(hour, refresh tokens minted by a refresh) since ``since``."""
    return [tuple(row) for row in db.session.execute(REFRESHES_BY_HOUR, {"since": since})]


def endings_by_hour(since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
    """(hour, why, sessions ended) since ``since``; sessions pruned since are no longer counted."""
    return [tuple(row) for row in db.session.execute(ENDINGS_BY_HOUR, {"since": since})]
