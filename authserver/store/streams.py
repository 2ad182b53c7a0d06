"""Shared Signals Framework event streams (SSF 1.0 §8): their rows, and their events' place in the
outbox. The rules (what a stream may be, what each status means) are ``ssf/streams.py``; nothing
here commits.

A stream's events wait in the outbox (``outbox.py``) with the stream's id as their ordering key, so
pausing, enabling, disabling or deleting a stream is one statement over its messages there too.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from . import outbox
from .database import begin_write
from .database import db
from .database import insert
from .models import STREAM_DISABLED
from .models import Stream


def add_stream(stream: Stream) -> Stream:
    return insert(stream)


def find_stream(stream_id: str) -> Stream | None:
    return db.session.get(Stream, stream_id) if isinstance(stream_id, str) else None


def streams_of(client_id: str | None) -> list[Stream]:
    """The streams a client manages (None: the operator's, made with the command line), oldest first."""
    owner = Stream.client_id.is_(None) if client_id is None else Stream.client_id == client_id
    return list(db.session.scalars(select(Stream).where(owner).order_by(Stream.created_at, Stream.id)))


def all_streams() -> list[Stream]:
    return list(db.session.scalars(select(Stream).order_by(Stream.created_at, Stream.id)))


def receiving_streams() -> list[Stream]:
    """Every stream owed events now (enabled, or paused: held for it): one query, whatever their number."""
    return list(db.session.scalars(select(Stream).where(Stream.status != STREAM_DISABLED).order_by(Stream.id)))


def change_stream(stream: Stream, now: dt.datetime, **changes) -> Stream:
    """Write ``changes`` (columns) to the stream."""
    begin_write()
    for name, value in changes.items():
        setattr(stream, name, value)
    stream.updated_at = now
    db.session.flush()
    return stream


def hold_events(stream: Stream) -> int:
    return outbox.hold(stream.id)


def release_events(stream: Stream, now: dt.datetime) -> int:
    return outbox.release(stream.id, now)


def retarget_events(stream: Stream) -> int:
    """What the stream is still owed goes to its endpoint as it is now, with its authorization header."""
    headers = {"Authorization": stream.authorization_header} if stream.authorization_header else None
    return outbox.retarget(stream.id, stream.endpoint_url, headers)


def drop_events(stream: Stream) -> int:
    return outbox.discard(stream.id)


def delete_stream(stream: Stream) -> None:
    """Delete the stream and whatever it was still owed."""
    begin_write()
    outbox.discard(stream.id)
    db.session.delete(stream)
    db.session.flush()
