"""Device sessions: the rules for opening, touching, expiring and ending them. No HTTP.

A device session is one sign-in on one device: the unit a user sees in "My devices" and can end.
It ends when someone ends it (the user, an operator, a revocation, reuse detection, disabling the
user), or by itself: unused for ``session_idle_timeout_seconds``, or ``session_max_age_seconds``
after sign-in however active. A session found past a deadline is ended on the spot, for the
deadline it reached first, so the record says why it really ended.

Its refresh-token chain lives in ``refresh_tokens.py``, the access-token deny list in
``denylist.py``, clean-up in ``retention.py``. Nothing here commits: the request or command that
called owns the transaction (``database.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import select
from sqlalchemy import update

from ..ops import metrics
from ..store import security_events
from ..store.database import begin_write
from ..store.database import db
from ..store.models import DeviceSession
from ..store.models import RevokedAccessToken
from ..store.models import User
from .user_agents import describe_user_agent

# Why a session ended (stored in device_sessions.ended_reason).
ENDED_BY_USER = "user"
ENDED_BY_ADMIN = "admin"
ENDED_BY_REVOCATION = "revocation"
ENDED_BY_REUSE = "refresh_token_reuse"
ENDED_IDLE = "idle_timeout"
ENDED_MAX_AGE = "max_age"
ENDED_USER_DISABLED = "user_disabled"
END_REASONS = (ENDED_BY_USER, ENDED_BY_ADMIN, ENDED_BY_REVOCATION, ENDED_BY_REUSE, ENDED_IDLE, ENDED_MAX_AGE,
               ENDED_USER_DISABLED)

BATCH = 500  # ids per UPDATE when ending many sessions (SQLite's bound-parameter limit is far above)

_sessions = DeviceSession.__table__
_users = User.__table__
_revoked = RevokedAccessToken.__table__

# The hot path of introspection and of the API protector's liveness check, as one indexed query:
# the session (by primary key), its user's state, and whether the token's `jti` is denied.
ACCESS_TOKEN_STATE = (
    select(_sessions.c.user_id, _sessions.c.client_id, _sessions.c.ended_at, _sessions.c.expires_at,
           _sessions.c.last_active_at, _users.c.username, _users.c.disabled_at,
           exists().where(_revoked.c.jti == bindparam("jti")).label("denied"))
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
    .where(_sessions.c.id == bindparam("sid"))
)


@dataclass(frozen=True)
class SessionUser:
    """The user a token is issued to, as read by the hot paths (no ORM object)."""

    id: str
    username: str
    is_admin: bool


@dataclass(frozen=True)
class SessionView:
    """A live session as read by the hot paths (``refresh_tokens.py``): what a token is issued from."""

    id: str
    user_id: str
    client_id: str
    scope: str
    user: SessionUser


class _Expired:
    """What access_token_state answers for a session past a deadline (never a username)."""

    def __repr__(self) -> str:
        return "EXPIRED"


EXPIRED = _Expired()


@dataclass(frozen=True)
class DeviceContext:
    """What the server observed about the device making a request."""

    ip: str | None = None
    user_agent: str | None = None
    device_name: str | None = None


class DeviceSessions:
    def __init__(self, settings, clock):
        self.settings = settings
        self.clock = clock

    def now(self) -> dt.datetime:
        return self.clock.now()

    # -- open and touch ------------------------------------------------------------------
    def open_session(self, user, client, scope: str, device: DeviceContext,
                     restricted: bool = False) -> DeviceSession:
        """Start a session (its refresh-token chain is started by ``refresh_tokens``)."""
        now = self.now()
        session = DeviceSession(
            user_id=user.id,
            client_id=client.client_id,
            scope=scope or "",
            device_name=device.device_name or describe_user_agent(device.user_agent).label,
            user_agent=device.user_agent,
            ip=device.ip,
            restricted=restricted,
            created_at=now,
            last_active_at=now,
            expires_at=now + dt.timedelta(seconds=self.settings.session_max_age_seconds),
        )
        db.session.add(session)
        db.session.flush()
        security_events.record_event(security_events.LOGIN_SUCCEEDED, now, user=user, session_id=session.id,
                           client_id=client.client_id, ip=device.ip)
        return session

    def touch_session(self, session: DeviceSession, device: DeviceContext) -> None:
        """Record that a live session was just used, and from where."""
        session.last_active_at = self.now()
        if device.ip:
            session.ip = device.ip
        if device.user_agent:
            session.user_agent = device.user_agent

    def lock_session(self, session_id: str) -> DeviceSession | None:
        """The session row, locked until the transaction ends (``SELECT ... FOR UPDATE``; on SQLite
        the transaction already holds the write lock) and read afresh."""
        return db.session.execute(
            select(DeviceSession)
            .where(DeviceSession.id == session_id)
            .with_for_update(of=DeviceSession)
            .execution_options(populate_existing=True)
        ).unique().scalar_one_or_none()

    # -- deadlines -----------------------------------------------------------------------
    def expiry_reason(self, session: DeviceSession, now) -> str | None:
        """Why the session has expired by ``now`` (the deadline it reached first), or None."""
        return self.reason_past_deadline(session.expires_at, session.last_active_at, now)

    def reason_past_deadline(self, expires_at, last_active_at, now) -> str | None:
        """:meth:`expiry_reason` for a session's two deadline columns read without the ORM."""
        idle_end = self._idle_end_of(last_active_at)
        if now < min(expires_at, idle_end):
            return None
        return ENDED_MAX_AGE if expires_at <= idle_end else ENDED_IDLE

    def ends_at(self, session: DeviceSession) -> dt.datetime:
        """When the session ends if it is not used again: idle timeout or max age, whichever is first."""
        return min(session.expires_at, self._idle_end_of(session.last_active_at))

    def _idle_end_of(self, last_active_at: dt.datetime) -> dt.datetime:
        return last_active_at + dt.timedelta(seconds=self.settings.session_idle_timeout_seconds)

    # -- look up -------------------------------------------------------------------------
    def live_session(self, session_id: str) -> DeviceSession | None:
        """The session if it is still usable; a session found expired is ended on the spot."""
        session = db.session.get(DeviceSession, session_id)
        if session is None or session.is_ended or session.user.is_disabled:
            return None
        now = self.now()
        if self.expiry_reason(session, now):
            # Ended for the deadline it reached, as prune would (one UPDATE, re-checked there).
            session_id = session.id
            begin_write()
            self.end_expired(now, DeviceSession.id == session_id)
            return None
        return session

    def access_token_state(self, session_id: str, jti: str, user_id: str, client_id: str):
        """For a verified access token: the username if its session is live, belongs to ``user_id``
        and ``client_id``, its user is enabled and its ``jti`` not denied; None if not; EXPIRED if
        the session is past a deadline but not yet ended (the caller ends it: ``live_session``).
        One query, no write, no ORM object."""
        row = db.session.connection().execute(ACCESS_TOKEN_STATE, {"sid": session_id, "jti": jti}).first()
        if (row is None or row.denied or row.ended_at is not None or row.disabled_at is not None
                or row.user_id != user_id or row.client_id != client_id):
            return None
        if self.reason_past_deadline(row.expires_at, row.last_active_at, self.now()):
            return EXPIRED
        return row.username

    def list_sessions(self, user_id: str) -> list[DeviceSession]:
        """The user's live sessions, most recently used first; expired ones are ended on the way."""
        self.end_expired(self.now(), DeviceSession.user_id == user_id)
        query = (
            select(DeviceSession)
            .where(DeviceSession.user_id == user_id, DeviceSession.ended_at.is_(None))
            .order_by(DeviceSession.last_active_at.desc())
        )
        return list(db.session.scalars(query).unique())

    def find_user_session(self, session_id: str, user_id: str | None = None) -> DeviceSession | None:
        session = db.session.get(DeviceSession, session_id)
        if session is None or (user_id is not None and session.user_id != user_id):
            return None
        return session

    # -- end -----------------------------------------------------------------------------
    def end_session(self, session_id: str, reason: str, actor: str | None, ip: str | None = None) -> bool:
        """End one session (its refresh tokens die with it). True if it was live."""
        return bool(self._end_live_where(reason, actor, ip, DeviceSession.id == session_id))

    def end_user_sessions(self, user_id: str, reason: str, actor: str | None, ip: str | None = None,
                          keep_session_id: str | None = None, client_id: str | None = None) -> int:
        """End every live session of a user (of one client, if given), optionally but one. Returns how many."""
        conditions = [DeviceSession.user_id == user_id]
        if keep_session_id:
            conditions.append(DeviceSession.id != keep_session_id)
        if client_id:
            conditions.append(DeviceSession.client_id == client_id)
        return len(self._end_live_where(reason, actor, ip, *conditions))

    def end_locked_session(self, session: DeviceSession, reason: str, actor: str | None = None) -> None:
        """End a session whose row the caller holds locked (``lock_session``)."""
        now = self.now()
        session.ended_at = now
        session.ended_reason = reason
        session.ended_by = actor
        security_events.record_event(security_events.SESSION_ENDED, now, user=session.user, session_id=session.id,
                           client_id=session.client_id, actor=actor, reason=reason)
        metrics.count("sessions_ended", cause=reason)

    def _end_live_where(self, reason, actor, ip, *conditions) -> list:
        """End the sessions matching ``conditions`` for ``reason``. Those that had already expired
        unnoticed end for their expiry instead: the log says why they really ended, and nobody
        is told they ended a session that was already over."""
        now = self.now()
        self.end_expired(now, *conditions)
        return self._end_where(now, reason, actor, ip, *conditions)

    def end_expired(self, now, *conditions) -> int:
        """End the sessions matching ``conditions`` that are past a deadline, each for the deadline
        it reached first. Returns how many."""
        idle_cutoff = now - dt.timedelta(seconds=self.settings.session_idle_timeout_seconds)
        past_deadline = (DeviceSession.expires_at <= now) | (DeviceSession.last_active_at <= idle_cutoff)
        expired = db.session.execute(
            select(DeviceSession.id, DeviceSession.expires_at, DeviceSession.last_active_at)
            .where(DeviceSession.ended_at.is_(None), past_deadline, *conditions)
        ).all()
        by_reason = {}
        for session_id, expires_at, last_active_at in expired:
            by_reason.setdefault(self.reason_past_deadline(expires_at, last_active_at, now), []).append(session_id)
        ended = 0
        # The deadline is checked again in the UPDATE, so a session refreshed meanwhile survives.
        for reason, ids in by_reason.items():
            for start in range(0, len(ids), BATCH):
                batch = DeviceSession.id.in_(ids[start:start + BATCH])
                ended += len(self._end_where(now, reason, None, None, batch, past_deadline))
        return ended

    def _end_where(self, now, reason, actor, ip, *conditions) -> list:
        rows = db.session.execute(
            update(DeviceSession)
            .where(DeviceSession.ended_at.is_(None), *conditions)
            .values(ended_at=now, ended_reason=reason, ended_by=actor)
            .returning(DeviceSession.id, DeviceSession.user_id, DeviceSession.client_id)
            .execution_options(synchronize_session="fetch")
        ).all()
        usernames = {}  # the log names the user too, so it reads on its own
        if rows:
            query = select(User.id, User.username).where(User.id.in_({user_id for _, user_id, _ in rows}))
            usernames = dict(db.session.execute(query).all())
        for session_id, user_id, client_id in rows:
            security_events.record_event(security_events.SESSION_ENDED, now, session_id=session_id, client_id=client_id, ip=ip,
                               actor=actor, user_id=user_id, username=usernames.get(user_id), reason=reason)
        if rows:
            metrics.count("sessions_ended", len(rows), cause=reason)
        return rows
