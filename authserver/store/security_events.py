"""The append-only security event log (sign-ins, failures, reuse detections, ended sessions...)."""

from __future__ import annotations

import json

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import tuple_
from sqlalchemy.orm import aliased

from .database import begin_write
from .database import db
from .models import Client
from .models import SecurityEvent

LOGIN_SUCCEEDED = "login_succeeded"
LOGIN_FAILED = "login_failed"
REFRESH_TOKEN_REUSED = "refresh_token_reused"
AUTHORIZATION_CODE_REUSED = "authorization_code_reused"
USER_CODE_FAILED = "user_code_failed"
SESSION_ENDED = "session_ended"
USER_DISABLED = "user_disabled"
PASSWORD_CHANGED = "password_changed"
ACCESS_TOKEN_REVOKED = "access_token_revoked"
# Scanning for secrets and tokens (see throttle.py): a client that failed to authenticate (its
# claimed id, the IP), and a token that is not ours at all presented by an authenticated client:
# at introspection by a resource server (whose callers chose the token), or anywhere else.
CLIENT_AUTH_FAILED = "client_auth_failed"
TOKEN_LOOKUP_FAILED = "token_lookup_failed"
INTROSPECTION_LOOKUP_FAILED = "introspection_lookup_failed"
# A client registered itself (RFC 7591), counted per IP by the registration budget (throttle.py).
CLIENT_REGISTERED = "client_registered"
# An outbound delivery (store/outbox.py) that will never be made: refused, rejected or too old.
OUTBOUND_GIVEN_UP = "outbound_given_up"


def record_event(kind: str, now, *, user=None, user_id=None, username=None, session_id=None, client_id=None, ip=None,
                 actor=None, device_cookie=None, **detail) -> SecurityEvent:
    """Add an event to the current transaction (the caller commits)."""
    begin_write()  # a request that began with deferred reads (SQLite) takes the write lock first
    event = SecurityEvent(
        kind=kind,
        created_at=now,
        user_id=getattr(user, "id", None) or user_id,
        username=getattr(user, "username", None) or username,
        session_id=session_id,
        client_id=client_id,
        ip=ip,
        actor=actor,
        device_cookie=device_cookie,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
    )
    db.session.add(event)
    return event


def recent_events(user, limit: int = 50) -> list[SecurityEvent]:
    """A user's latest events, including failed sign-ins recorded only by username."""
    query = (
        select(SecurityEvent)
        .where(or_(SecurityEvent.user_id == user.id, SecurityEvent.username == user.username))
        .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def search_events(*, username: str | None = None, client_id: str | None = None, kind: str | None = None,
                  before_id: int | None = None, limit: int = 25) -> list[tuple[SecurityEvent, str | None]]:
    """The latest events (with their client's name), newest first, of this username, client and kind
    when given; ``before_id``: only those older than that event (the next page). One statement, over
    the index of whichever filter is given (username, client or kind, each with the time)."""
    query = (select(SecurityEvent, Client.name).outerjoin(Client, Client.client_id == SecurityEvent.client_id)
             .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(limit))
    if username:
        query = query.where(SecurityEvent.username == username)
    if client_id:
        query = query.where(SecurityEvent.client_id == client_id)
    if kind:
        query = query.where(SecurityEvent.kind == kind)
    if before_id is not None:
        # (time, id) after that event's, in the page's order: events recorded in the same instant stay in order.
        cursor = aliased(SecurityEvent)  # not correlated with the outer query's rows
        cursor_at = select(cursor.created_at).where(cursor.id == before_id).scalar_subquery()
        query = query.where(tuple_(SecurityEvent.created_at, SecurityEvent.id) < tuple_(cursor_at, before_id))
    return [tuple(row) for row in db.session.execute(query)]
