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
due only when no older message of its key is still waiting or in flight. Others have no order. The
messages of a key can be **held** (:func:`hold`: a paused stream's; their ``next_attempt_at`` is
:data:`HELD`, never due) until :func:`release`, or dropped (:func:`discard`: a disabled or deleted stream).

Delivered and given-up messages are deleted: the table only ever holds what is still to be sent, which
keeps the claim's index scans short; counters (``ops/metrics.py``) and the ``outbound_given_up``
security event keep the record. Nothing here commits; the worker, a request's unit of work or a
command does.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
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
# The next attempt of a held message (a paused stream's): never due until released.
HELD = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)
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
# A message held while its attempt was in flight (its stream paused meanwhile) stays held.
RESCHEDULE = (update(_outbox).where(*_this_claim)
              .values(next_attempt_at=case((_outbox.c.next_attempt_at == HELD, HELD),
                                           else_=bindparam("next_attempt_at", type_=_outbox.c.next_attempt_at.type)),
                      last_error=bindparam("last_error")))
BACKLOG = (select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
           .group_by(OutboxMessage.kind))
ORDERED_BACKLOG = (select(OutboxMessage.ordering_key, func.count(), func.min(OutboxMessage.created_at))
                   .where(OutboxMessage.ordering_key.is_not(None)).group_by(OutboxMessage.ordering_key))


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


def enqueue_all(now: dt.datetime, messages: list[dict], *, kind: str, content_type: str,
                acknowledge: str = ACKNOWLEDGE_2XX) -> None:
    """:func:`enqueue` for many messages of one kind in one INSERT (an ending that announces itself to
    every stream costs one statement, not one per stream). Each message is a dict of ``url``, ``body``
    and optionally ``headers``, ``ordering_key``, ``client_id`` and ``held`` (true: :data:`HELD` until
    :func:`release`). They are numbered, and so delivered per key, in the order given."""
    if not messages:
        return
    statuses(acknowledge)
    begin_write()
    rows = [{"kind": kind, "url": message["url"], "body": message["body"], "content_type": content_type,
             "headers": json.dumps(message["headers"], sort_keys=True) if message.get("headers") else None,
             "acknowledge": acknowledge, "ordering_key": message.get("ordering_key"),
             "client_id": message.get("client_id"), "created_at": now,
             "next_attempt_at": HELD if message.get("held") else now, "attempts": 0, "last_error": None}
            for message in messages]
    db.session.execute(insert(OutboxMessage), rows)


def hold(ordering_key: str) -> int:
    """Hold every waiting message of ``ordering_key`` (a paused stream) until :func:`release`. One in
    flight finishes its attempt. Returns how many are held."""
    begin_write()
    return db.session.execute(update(_outbox).where(_outbox.c.ordering_key == ordering_key)
                              .values(next_attempt_at=HELD)).rowcount


def release(ordering_key: str, now: dt.datetime) -> int:
    """Make the held messages of ``ordering_key`` due at once (a stream enabled again), still in order."""
    begin_write()
    return db.session.execute(update(_outbox).where(_outbox.c.ordering_key == ordering_key,
                                                    _outbox.c.next_attempt_at == HELD)
                              .values(next_attempt_at=now)).rowcount


def retarget(ordering_key: str, url: str, headers: dict | None) -> int:
    """Send the waiting messages of ``ordering_key`` to ``url`` with ``headers`` instead (a stream's
    endpoint changed: what it is still owed goes where it now receives)."""
    begin_write()
    return db.session.execute(update(_outbox).where(_outbox.c.ordering_key == ordering_key).values(
        url=url, headers=json.dumps(headers, sort_keys=True) if headers else None)).rowcount


def discard(ordering_key: str) -> int:
    """Drop every message of ``ordering_key`` (a stream disabled or deleted: it is owed nothing)."""
    begin_write()
    return db.session.execute(delete(_outbox).where(_outbox.c.ordering_key == ordering_key)).rowcount


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


def ordered_backlog() -> dict[str, tuple[int, dt.datetime]]:
    """For each ordering key with messages waiting (held and in flight included): how many, and when
    the oldest was enqueued: a security-event stream's lag."""
    return {key: (count, oldest) for key, count, oldest in db.session.execute(ORDERED_BACKLOG)}


def waiting(limit: int = 100) -> list[OutboxMessage]:
    """The messages still to be delivered, next due first (``authserver outbox list``)."""
    query = select(OutboxMessage).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    return list(db.session.scalars(query))


def url_without_query(url: str) -> str:
    """A target as logs and events show it: a query string may carry a secret of the receiver's."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _fence(message) -> dict:
    return {"message_id": message.id, "attempt": message.attempts}
