"""Device sessions: the rules for opening, touching, expiring and ending them. No HTTP, no SQL.

A device session is one sign-in on one device: the unit a user sees in "My devices" and can end.
It ends when someone ends it (the user, an operator, a revocation, reuse detection, disabling the
user), or by itself: unused for ``session_idle_timeout_seconds``, or ``session_max_age_seconds``
after sign-in however active.

Whether a session may be used is one rule, :func:`usability`, over a plain row
(:class:`SessionState`, or a row of ``store/sessions.py`` with the same columns), applied by every
reader: refresh rotation (both ways), introspection, the API protector (through
``tokens/access_tokens.py``), the browser's session (:meth:`DeviceSessions.live_session`). A
session a reader finds past a deadline but not yet ended is ended on the spot, for the deadline it
reached first, so the record says why it really ended: :meth:`DeviceSessions.check` applies the
rule and does that, through one store operation.

Its refresh-token chain lives in ``refresh_tokens.py``, the statements in ``store/sessions.py``,
the access-token deny list in ``store/denylist.py``, clean-up in ``store/retention.py``. Nothing
here commits or begins a transaction: the store's writes begin it, the request or command that
called commits (``store/database.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..store import security_events
from ..store import sessions as store
from ..store.models import END_REASONS  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_BY_ADMIN  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_BY_REUSE  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_BY_REVOCATION  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_BY_USER  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_IDLE  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_MAX_AGE  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import ENDED_USER_DISABLED  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import DeviceContext  # noqa: F401 (re-exported: the session vocabulary)
from ..store.models import DeviceSession
from .user_agents import describe_user_agent


# -- the rule --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionState:
    """What :func:`usability` reads of a session and its user. The store's rows for the hot paths
    (``store/sessions.py``: ``TOKEN_STATE``, ``ACCESS_TOKEN_STATE``) carry the same columns."""

    session_id: str
    user_id: str
    client_id: str  # the client the session's tokens are issued to
    ended_at: dt.datetime | None
    disabled_at: dt.datetime | None  # the user's
    expires_at: dt.datetime  # the max age, fixed at sign-in
    last_active_at: dt.datetime

    @classmethod
    def of(cls, session: DeviceSession) -> SessionState:
        return cls(session.id, session.user_id, session.client_id, session.ended_at, session.user.disabled_at,
                   session.expires_at, session.last_active_at)


@dataclass(frozen=True)
class Usability:
    """The rule's answer: whether the session may be used, and if not, what the reader learns."""

    usable: bool
    foreign: bool = False  # another client's (or user's) session: tells the caller nothing about it
    expired_for: str | None = None  # past this deadline but not ended yet: the reader ends it for it


USABLE = Usability(True)
FOREIGN = Usability(False, foreign=True)
OVER = Usability(False)  # ended, or its user disabled
EXPIRED = {reason: Usability(False, expired_for=reason) for reason in (ENDED_IDLE, ENDED_MAX_AGE)}


def ends_at(expires_at: dt.datetime, last_active_at: dt.datetime, idle_timeout: dt.timedelta) -> dt.datetime:
    """When a session ends if it is not used again: idle timeout or max age, whichever is first."""
    return min(expires_at, last_active_at + idle_timeout)


def deadline_reached(expires_at: dt.datetime, last_active_at: dt.datetime, now: dt.datetime,
                     idle_timeout: dt.timedelta) -> str | None:
    """The deadline a session has reached by ``now`` (the one it reached first), or None."""
    idle_end = last_active_at + idle_timeout
    if now < expires_at and now < idle_end:
        return None
    return ENDED_MAX_AGE if expires_at <= idle_end else ENDED_IDLE


def usability(session, now: dt.datetime, idle_timeout: dt.timedelta, *, client_id: str | None = None,
              user_id: str | None = None) -> Usability:
    """Whether ``session`` (a :class:`SessionState` or a row with its columns) may be used at
    ``now`` by ``client_id`` for ``user_id`` (None: not asked). In this order: another client's or
    user's session is :data:`FOREIGN`; an ended one, or one of a disabled user, :data:`OVER`; one
    past a deadline, ``EXPIRED[the deadline]``; otherwise :data:`USABLE`."""
    if (client_id is not None and session.client_id != client_id) or (user_id is not None
                                                                       and session.user_id != user_id):
        return FOREIGN
    if session.ended_at is not None or session.disabled_at is not None:
        return OVER
    reason = deadline_reached(session.expires_at, session.last_active_at, now, idle_timeout)
    return USABLE if reason is None else EXPIRED[reason]


class DeviceSessions:
    def __init__(self, settings, clock, metrics=None, on_ended=None):
        self.settings = settings
        self.clock = clock
        # Handed in (ops/ sits above sessions/): counts once the transaction commits. None counts nothing.
        self.metrics = metrics
        # Handed in (oauth/ and ssf/ sit above sessions/): each is told of every batch of ended sessions and
        # why, in the ending's transaction -- back-channel logout tokens and security events are queued there.
        self.on_ended = tuple(on_ended or ())
        self.idle_timeout = dt.timedelta(seconds=settings.session_idle_timeout_seconds)

    def now(self) -> dt.datetime:
        return self.clock.now()

    def count(self, name: str, amount: float = 1, **labels) -> None:
        """A metric, counted once the transaction commits (``ops/metrics.py``)."""
        if self.metrics is not None:
            self.metrics.count(name, amount, **labels)

    # -- open and touch ------------------------------------------------------------------
    def open_session(self, user, client, scope: str, device: DeviceContext,
                     restricted: bool = False, resources: str | None = None,
                     first_seen_at: dt.datetime | None = None, dpop_jkt: str | None = None) -> DeviceSession:
        """Start a session (its refresh-token chain is started by ``refresh_tokens``); ``resources``:
        those its grant was authorized for (RFC 8707, space-separated), which its refreshes may name.
        ``first_seen_at``: a session carried over from an older store keeps when it began there
        (``legacy_sessions.py``); its max age still counts from now. ``dpop_jkt`` binds its refresh
        tokens to a DPoP key (RFC 9449 §5)."""
        now = self.now()
        session = store.add_session(
            user_id=user.id,
            client_id=client.client_id,
            scope=scope or "",
            device_name=device.device_name or describe_user_agent(device.user_agent).label,
            user_agent=device.user_agent,
            ip=device.ip,
            restricted=restricted,
            resources=resources,
            dpop_jkt=dpop_jkt,
            created_at=min(first_seen_at, now) if first_seen_at else now,
            last_active_at=now,
            expires_at=now + dt.timedelta(seconds=self.settings.session_max_age_seconds),
        )
        security_events.record_event(security_events.LOGIN_SUCCEEDED, now, user=user, session_id=session.id,
                                     client_id=client.client_id, ip=device.ip)
        return session

    def touch_session(self, session: DeviceSession, device: DeviceContext) -> None:
        """Record that a live session was just used, and from where."""
        store.touch_held_session(session, self.now(), device.ip, device.user_agent)

    # -- the rule, applied ---------------------------------------------------------------
    def usability(self, session, now: dt.datetime | None = None, **who) -> Usability:
        """:func:`usability` with this server's idle timeout, at ``now`` (default: the clock's)."""
        return usability(session, now or self.now(), self.idle_timeout, **who)

    def check(self, session, now: dt.datetime | None = None, **who) -> Usability:
        """:meth:`usability` for a reader: a session found past a deadline is ended for it here (the
        caller holds its row locked, or the ending re-checks the deadline in its UPDATE)."""
        now = now or self.now()
        verdict = usability(session, now, self.idle_timeout, **who)
        if verdict.expired_for is not None:
            self._end(now, verdict.expired_for, None, None, session_id=session.session_id, still_past=self.idle_timeout)
        return verdict

    def ends_at(self, session) -> dt.datetime:
        """When the session ends if it is not used again (a session or a row with its columns)."""
        return ends_at(session.expires_at, session.last_active_at, self.idle_timeout)

    # -- look up -------------------------------------------------------------------------
    def live_session(self, session_id: str) -> DeviceSession | None:
        """The session if it is still usable (:meth:`check`: one found expired is ended)."""
        session = store.get_session(session_id)
        if session is None or not self.check(SessionState.of(session)).usable:
            return None
        return session

    def list_sessions(self, user_id: str) -> list[DeviceSession]:
        """The user's live sessions, most recently used first; expired ones are ended on the way."""
        self.end_expired(self.now(), user_id=user_id)
        return store.live_sessions_of(user_id)

    def find_user_session(self, session_id: str, user_id: str | None = None) -> DeviceSession | None:
        session = store.get_session(session_id)
        if session is None or (user_id is not None and session.user_id != user_id):
            return None
        return session

    # -- end -----------------------------------------------------------------------------
    def end_session(self, session_id: str, reason: str, actor: str | None, ip: str | None = None) -> bool:
        """End one session (its refresh tokens die with it). True if it was live."""
        return bool(self._end_live(reason, actor, ip, session_id=session_id))

    def end_user_sessions(self, user_id: str, reason: str, actor: str | None, ip: str | None = None,
                          keep_session_id: str | None = None, client_id: str | None = None) -> int:
        """End every live session of a user (of one client, if given), optionally but one. Returns how many."""
        return len(self._end_live(reason, actor, ip, user_id=user_id, except_session_id=keep_session_id,
                                  client_id=client_id))

    def end_client_sessions(self, client_id: str, reason: str, actor: str | None, ip: str | None = None) -> int:
        """End every live session of a client, whoever's (a self-registered client deleting itself)."""
        return len(self._end_live(reason, actor, ip, client_id=client_id))

    def end_checked_session(self, session_id: str, reason: str, now: dt.datetime) -> None:
        """End a session the caller holds locked and has just found usable (reuse detection)."""
        self._end(now, reason, None, None, session_id=session_id)

    def _end_live(self, reason, actor, ip, **which) -> list:
        """End the sessions ``which`` names for ``reason``. Those that had already expired
        unnoticed end for their expiry instead: the log says why they really ended, and nobody
        is told they ended a session that was already over."""
        now = self.now()
        self.end_expired(now, **which)
        return self._end(now, reason, actor, ip, **which)

    def end_expired(self, now, **which) -> int:
        """End the sessions ``which`` names (all, by default) that are past a deadline, each for
        the deadline it reached first. Returns how many."""
        by_reason = {}
        for session_id, expires_at, last_active_at in store.expired_sessions(now, self.idle_timeout, **which):
            by_reason.setdefault(deadline_reached(expires_at, last_active_at, now, self.idle_timeout), []).append(
                session_id)
        # The deadline is checked again in the UPDATE, so a session used meanwhile survives.
        return sum(len(self._end(now, reason, None, None, ids=ids, still_past=self.idle_timeout))
                   for reason, ids in by_reason.items())

    def _end(self, now, reason, actor, ip, **which) -> list:
        ended = store.end_sessions(now, reason, actor, **which)
        for session in ended:  # the log names the user too, so it reads on its own
            security_events.record_event(security_events.SESSION_ENDED, now, session_id=session.id,
                                         client_id=session.client_id, ip=ip, actor=actor, user_id=session.user_id,
                                         username=session.username, reason=reason)
        if ended:
            self.count("sessions_ended", len(ended), cause=reason)
            for listener in self.on_ended:
                listener(now, ended, reason)
        return ended
