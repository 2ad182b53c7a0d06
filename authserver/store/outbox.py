"""The outbox: outbound HTTP deliveries (back-channel logout tokens, pushed security events) stored in the
database until their receiver acknowledges them. No HTTP here: ``outbound/`` delivers.

A message is written by :func:`enqueue` inside the caller's transaction, so it exists exactly when the
change it announces was committed (a session that ended, an event that happened), and nothing is lost
across restarts or nodes. A worker then:

1. **claims** what is due (:func:`claim_due`): one statement moves each claimed message's
   ``next_attempt_at`` past the longest a delivery may take (the lease) and counts the attempt. On
   PostgreSQL the candidates are locked ``FOR UPDATE SKIP LOCKED``, so workers on several nodes claim
   disjoint sets without waiting for each other; SQLite has a single writer (``BEGIN IMMEDIATE``),
   which serialises claims. Either way a message is in flight at most once: another worker sees it as
   not due until the lease runs out, which only happens if its worker died.
2. **delivers** it outside any transaction, then records the outcome in a short one:
   :func:`mark_delivered` and :func:`give_up` delete it, :func:`reschedule` sets its next attempt.
   Each is fenced by the attempt number of the claim, so a worker whose lease ran out cannot
   overwrite what the worker that took over recorded.

Messages with an ``ordering_key`` (a security-event stream's) go one at a time, oldest first: one is
due only when no older message of its key is still waiting or in flight. Others have no order.

Delivered and given-up messages are deleted: the table only ever holds what is still to be sent, which
keeps the claim's index scans short; counters (``ops/metrics.py``) and the ``outbound_given_up``
security event keep the record. Nothing here commits; the worker, a request's unit of work or a
command does.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from .database import begin_write
from .database import db
from .models import OutboxMessage
from .security_events import OUTBOUND_GIVEN_UP
from .security_events import record_event

# What acknowledges a message unless its enqueuer says otherwise (a logout token: any 2xx).
ACKNOWLEDGE_2XX = "2xx"
# How much of a failure is kept on the message (the receiver's status line, a connection error).
LAST_ERROR_LENGTH = 300

_outbox = OutboxMessage.__table__
# Aliases, so that neither subquery correlates to the UPDATE's own table.
_candidate = _outbox.alias("candidate")
_older = _outbox.alias("older")
_due = (
    select(_candidate.c.id)
    .where(_candidate.c.next_attempt_at <= bindparam("now"),
           or_(_candidate.c.ordering_key.is_(None),
               ~exists().where(_older.c.ordering_key == _candidate.c.ordering_key, _older.c.id < _candidate.c.id)))
    .order_by(_candidate.c.next_attempt_at, _candidate.c.id)
    .limit(bindparam("limit"))
    # PostgreSQL only: SQLAlchemy renders nothing for SQLite, whose claim holds the database's write lock.
    .with_for_update(skip_locked=True)
)
CLAIM = (update(_outbox).where(_outbox.c.id.in_(_due.scalar_subquery()))
         .values(next_attempt_at=bindparam("lease_until"), attempts=_outbox.c.attempts + 1)
         .returning(*_outbox.c))
_this_claim = (_outbox.c.id == bindparam("message_id"), _outbox.c.attempts == bindparam("attempt"))
DELETE_CLAIMED = delete(_outbox).where(*_this_claim)
RESCHEDULE = (update(_outbox).where(*_this_claim)
              .values(next_attempt_at=bindparam("next_attempt_at"), last_error=bindparam("last_error")))
BACKLOG = (select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
           .group_by(OutboxMessage.kind))


def enqueue(now: dt.datetime, *, kind: str, url: str, body: bytes, content_type: str, headers: dict | None = None,
            acknowledge: str = ACKNOWLEDGE_2XX, ordering_key: str | None = None,
            client_id: str | None = None) -> OutboxMessage:
    """Add a POST of ``body`` to ``url`` to the current transaction (the caller commits): it is sent
    once that commits, never if it rolls back. ``acknowledge`` names the statuses that mean the
    receiver has it ("2xx", or e.g. "202" for an RFC 8935 push); ``ordering_key`` delivers the
    messages sharing it one at a time, in the order they were enqueued."""
    statuses(acknowledge)  # a malformed value fails here, in the enqueuer's request, not in the worker
    begin_write()  # a request that began with deferred reads (SQLite) takes the write lock first
    message = OutboxMessage(kind=kind, url=url, body=body, content_type=content_type,
                            headers=json.dumps(headers, sort_keys=True) if headers else None,
                            acknowledge=acknowledge, ordering_key=ordering_key, client_id=client_id,
                            created_at=now, next_attempt_at=now, attempts=0)
    db.session.add(message)
    return message


def statuses(acknowledge: str) -> set[int]:
    """The HTTP statuses an ``acknowledge`` value names: "2xx" is 200 to 299, "202" is 202."""
    codes = set()
    for part in acknowledge.split():
        if len(part) == 3 and part[0] in "12345" and part[1:].lower() == "xx":
            codes.update(range(int(part[0]) * 100, int(part[0]) * 100 + 100))
        elif part.isdigit() and 100 <= int(part) <= 599:
            codes.add(int(part))
        else:
            raise ValueError(f"not an HTTP status or class of statuses: {part!r}")
    if not codes:
        raise ValueError("no status acknowledges the message")
    return codes


def claim_due(now: dt.datetime, lease_until: dt.datetime, limit: int) -> list:
    """Claim up to ``limit`` due messages for one delivery attempt each (see the module docstring).
    Returns their rows; ``attempts`` is the attempt number, the fence of :func:`mark_delivered`,
    :func:`reschedule` and :func:`give_up`. The caller commits at once."""
    rows = db.session.execute(CLAIM, {"now": now, "lease_until": lease_until, "limit": limit}).all()
    return sorted(rows, key=lambda row: row.id)


def mark_delivered(message) -> bool:
    """The receiver acknowledged it: gone from the outbox. False if this claim was no longer the latest."""
    return db.session.execute(DELETE_CLAIMED, _fence(message)).rowcount == 1


def reschedule(message, next_attempt_at: dt.datetime, error: str) -> bool:
    """Not delivered this time: try again at ``next_attempt_at``. False if this claim was no longer the latest."""
    result = db.session.execute(RESCHEDULE, {**_fence(message), "next_attempt_at": next_attempt_at,
                                             "last_error": error[:LAST_ERROR_LENGTH]})
    return result.rowcount == 1


def give_up(message, now: dt.datetime, reason: str) -> bool:
    """Never to be delivered (too old, refused, rejected): deleted, with an ``outbound_given_up``
    security event saying what, to whom and why. False if this claim was no longer the latest."""
    if db.session.execute(DELETE_CLAIMED, _fence(message)).rowcount != 1:
        return False
    record_event(OUTBOUND_GIVEN_UP, now, client_id=message.client_id, message_id=message.id,
                 message_kind=message.kind, url=url_without_query(message.url), attempts=message.attempts,
                 queued_at=message.created_at.isoformat(), reason=reason[:LAST_ERROR_LENGTH])
    return True


def backlog() -> dict[str, tuple[int, dt.datetime]]:
    """For each kind of message waiting (in flight included): how many, and when the oldest was enqueued."""
    return {kind: (count, oldest) for kind, count, oldest in db.session.execute(BACKLOG)}


def waiting(limit: int = 100) -> list[OutboxMessage]:
    """The messages still to be delivered, next due first (``authserver outbox list``)."""
    query = select(OutboxMessage).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    return list(db.session.scalars(query))


def url_without_query(url: str) -> str:
    """A target as logs and events show it: a query string may carry a secret of the receiver's."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _fence(message) -> dict:
    return {"message_id": message.id, "attempt": message.attempts}
