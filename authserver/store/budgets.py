"""Failure budgets' storage (the rules are ``accounts/throttle.py``): failures are rows of the
security event log, so every node on the database shares the same counts. One statement, built
once per set of budgets, counts inside a window the failures that spend each budget and finds the
oldest of them; the hot endpoints run it on every request, on the driver's connection
(:class:`.database.Prepared`), joined to the request's token read when one follows
(:meth:`FailureCounts.count_with_next_read`). Nothing here commits."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import type_coerce

from . import security_events
from .database import Prepared
from .database import UTCDateTime
from .database import db
from .database import read_with_next
from .models import SecurityEvent

# The caller's values a failure must share to count against a budget, by column.
CALLER_COLUMNS = ("username", "ip", "device_cookie", "user_id", "client_id")


def _same(column: str):
    if column not in CALLER_COLUMNS:
        raise ValueError(f"a budget cannot match the caller's {column}")
    if column == "ip":
        # IS NOT DISTINCT FROM: an unknown address (None) counts with the other unknown ones.
        return SecurityEvent.ip.is_not_distinct_from(bindparam("ip"))
    return getattr(SecurityEvent, column) == bindparam(column)  # no value (None) matches no row


def _kind_is(kinds) -> object:
    return or_(*(SecurityEvent.kind == kind for kind in kinds))


class FailureCounts:
    """Counts, for several budgets at once, the failures inside a window: each budget is (the event
    kinds that spend it, the ``CALLER_COLUMNS`` a failure must share with the caller)."""

    def __init__(self, budgets: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]):
        kinds = tuple(dict.fromkeys(kind for budget_kinds, _ in budgets for kind in budget_kinds))
        conditions = []
        for budget_kinds, same in budgets:
            condition = [_same(column) for column in same]
            if set(budget_kinds) != set(kinds):
                condition.insert(0, _kind_is(budget_kinds))
            conditions.append(and_(*condition) if len(condition) > 1 else condition[0])
        columns = []
        for condition in conditions:
            columns += [func.count().filter(condition),
                        type_coerce(func.min(SecurityEvent.created_at).filter(condition), UTCDateTime)]
        self.statement = select(*columns).where(
            _kind_is(kinds), SecurityEvent.created_at > bindparam("since", type_=UTCDateTime()), or_(*conditions))
        self._prepared = Prepared(self.statement)

    def count(self, since: dt.datetime, **caller) -> list[tuple[int, dt.datetime | None]]:
        """(failures, the oldest one's time) per budget, in order, younger than ``since``."""
        return self._pairs(self._prepared.first({"since": since, **caller}))

    def count_with_next_read(self, since: dt.datetime, then, **caller) -> None:
        """:meth:`count`, run with the request's next read (:func:`.database.read_with_next`): ``then``
        gets what :meth:`count` returns."""
        read_with_next(self._prepared, {"since": since, **caller}, lambda row: then(self._pairs(row)))

    @staticmethod
    def _pairs(row) -> list[tuple[int, dt.datetime | None]]:
        return [(row[index], row[index + 1]) for index in range(0, len(row), 2)]


# A sign-in of this username through this client from this address (any grant that opened a session).
SIGNED_IN_BEFORE = select(SecurityEvent.id).where(
    SecurityEvent.username == bindparam("username"), SecurityEvent.kind == security_events.LOGIN_SUCCEEDED,
    SecurityEvent.created_at > bindparam("since", type_=UTCDateTime()),
    SecurityEvent.client_id == bindparam("client_id"), SecurityEvent.ip == bindparam("ip"),
).limit(1)


def signed_in_since(username: str, client_id: str, ip: str, since: dt.datetime) -> bool:
    params = {"username": username, "client_id": client_id, "ip": ip, "since": since}
    return db.session.connection().execute(SIGNED_IN_BEFORE, params).first() is not None


def record_failure(kind: str, now: dt.datetime, client_id: str | None, ip: str | None, endpoint: str) -> None:
    """A failed client authentication or token lookup (``kind``), counted by the lookup budgets."""
    security_events.record_event(kind, now, client_id=client_id, ip=ip, endpoint=endpoint)
