"""Device sessions: the rules for opening, touching, rotating, expiring and ending them. No HTTP.

A device session is one sign-in on one device. Its refresh tokens form a chain: every refresh
marks the presented token used and issues its successor. The successor is derived from the
parent with a server-side HMAC key, so a client that lost a response can re-present the
immediate predecessor inside the grace window and receive the *same* successor, while nothing
but SHA-256 digests is ever stored. Any other replay (an older generation, or the predecessor
after the window) is reuse: the whole session ends.

Every rotation runs in one transaction that first locks the session row (``SELECT ... FOR
UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), so parallel presentations of one token
serialise and yield at most one successor. Methods that open or rotate leave the transaction
open for the token endpoint to commit once the response is ready; methods that end sessions
commit themselves.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from . import audit
from .database import db
from .devices import describe_user_agent
from .models import DeviceSession
from .models import RefreshToken
from .models import RevokedAccessToken
from .models import User
from .models import sha256_hex

# Why a session ended (stored in device_sessions.ended_reason).
ENDED_BY_USER = "user"
ENDED_BY_ADMIN = "admin"
ENDED_BY_REVOCATION = "revocation"
ENDED_BY_REUSE = "refresh_token_reuse"
ENDED_IDLE = "idle_timeout"
ENDED_MAX_AGE = "max_age"
ENDED_USER_DISABLED = "user_disabled"


@dataclass(frozen=True)
class DeviceContext:
    """What the server observed about the device making a request."""

    ip: str | None = None
    user_agent: str | None = None
    device_name: str | None = None


class RefreshTokenInvalid(Exception):
    """Unknown, foreign, expired or dead refresh token (the client sees invalid_grant)."""


class RefreshTokenReused(RefreshTokenInvalid):
    """A rotated token was presented again; its session has been ended."""


class ScopeNotGranted(Exception):
    """A refresh asked for scope beyond what the session was granted."""


@dataclass
class Rotation:
    session: DeviceSession
    refresh_token: str  # the successor: new, or the existing one for a grace-window retry


class DeviceSessions:
    def __init__(self, settings, clock, refresh_key: bytes):
        self.settings = settings
        self.clock = clock
        self._refresh_key = refresh_key

    def now(self) -> dt.datetime:
        return self.clock.now()

    # -- open ----------------------------------------------------------------------------
    def open_session(self, user, client, scope: str, device: DeviceContext, restricted: bool = False):
        """Start a session and its first refresh token; returns (session, refresh token)."""
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
        refresh_token = secrets.token_urlsafe(32)
        db.session.add(
            RefreshToken(
                session_id=session.id,
                token_hash=sha256_hex(refresh_token),
                generation=0,
                client_id=client.client_id,
                issued_at=now,
            )
        )
        audit.record_event(audit.LOGIN_SUCCEEDED, now, user=user, session_id=session.id,
                           client_id=client.client_id, ip=device.ip)
        return session, refresh_token

    # -- rotate --------------------------------------------------------------------------
    def rotate_refresh_token(self, refresh_token: str, client_id: str, device: DeviceContext,
                             requested_scope: str | None = None) -> Rotation:
        now = self.now()
        token = self._find_token(refresh_token)
        # The client check comes first: another client presenting a stolen token must not be
        # able to end the owner's session by triggering reuse detection.
        if token is None or token.client_id != client_id:
            raise RefreshTokenInvalid("unknown refresh token")
        session = self._lock_session(token.session_id)
        # Read again under the lock: a parallel request may have rotated it meanwhile.
        token = db.session.execute(
            select(RefreshToken).where(RefreshToken.id == token.id).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if session is None or token is None:  # pruned between the lookup and the lock
            raise RefreshTokenInvalid("session deleted")
        if session.is_ended or session.user.is_disabled:
            raise RefreshTokenInvalid("session ended")
        reason = self.expiry_reason(session, now)
        if reason:
            self._end_locked(session, now, reason, actor=None)
            db.session.commit()
            raise RefreshTokenInvalid("session expired")
        fresh = token.used_at is None
        if not fresh and not self._is_grace_retry(token, now):
            # Reuse is decided before anything else about the request (e.g. its scope), so a
            # replayed token always ends the session, whatever else it asks for.
            self._end_locked(session, now, ENDED_BY_REUSE, actor=None)
            audit.record_event(audit.REFRESH_TOKEN_REUSED, now, user=session.user, session_id=session.id,
                               client_id=client_id, ip=device.ip, generation=token.generation)
            db.session.commit()
            raise RefreshTokenReused("refresh token reused")
        if requested_scope and not set(requested_scope.split()) <= set(session.scope.split()):
            raise ScopeNotGranted()

        successor = self.successor_of(refresh_token)
        if fresh:
            token.used_at = now
            db.session.add(
                RefreshToken(
                    session_id=session.id,
                    token_hash=sha256_hex(successor),
                    parent_id=token.id,
                    generation=token.generation + 1,
                    client_id=client_id,
                    issued_at=now,
                )
            )
        self._touch(session, device, now)
        db.session.flush()
        return Rotation(session=session, refresh_token=successor)

    def successor_of(self, refresh_token: str) -> str:
        digest = hmac.new(self._refresh_key, b"refresh-successor:" + refresh_token.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()

    def _is_grace_retry(self, token: RefreshToken, now) -> bool:
        grace = self.settings.refresh_grace_seconds
        if grace <= 0 or (now - token.used_at).total_seconds() > grace:
            return False
        child = db.session.execute(select(RefreshToken).where(RefreshToken.parent_id == token.id)).scalar_one_or_none()
        # Only the immediate predecessor of the live token qualifies: if the successor has been
        # used in turn, this is an older generation.
        return child is not None and child.used_at is None

    def _find_token(self, refresh_token: str) -> RefreshToken | None:
        return db.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(refresh_token))
        ).scalar_one_or_none()

    def _lock_session(self, session_id: str) -> DeviceSession | None:
        return db.session.execute(
            select(DeviceSession)
            .where(DeviceSession.id == session_id)
            .with_for_update(of=DeviceSession)
            .execution_options(populate_existing=True)
        ).unique().scalar_one_or_none()

    def _touch(self, session: DeviceSession, device: DeviceContext, now) -> None:
        session.last_active_at = now
        if device.ip:
            session.ip = device.ip
        if device.user_agent:
            session.user_agent = device.user_agent

    def touch_session(self, session: DeviceSession, device: DeviceContext) -> None:
        """Record that a live session was just used (a page load of the web client). Commits."""
        self._touch(session, device, self.now())
        db.session.commit()

    # -- look up -------------------------------------------------------------------------
    def expiry_reason(self, session: DeviceSession, now) -> str | None:
        """Why the session has expired by ``now`` (the deadline it reached first), or None."""
        return self._expiry_reason(session.expires_at, session.last_active_at, now)

    def _expiry_reason(self, expires_at, last_active_at, now) -> str | None:
        idle_end = self._idle_end_of(last_active_at)
        if now < min(expires_at, idle_end):
            return None
        return ENDED_MAX_AGE if expires_at <= idle_end else ENDED_IDLE

    def ends_at(self, session: DeviceSession) -> dt.datetime:
        """When the session ends if it is not used again: idle timeout or max age, whichever is first."""
        return min(session.expires_at, self._idle_end_of(session.last_active_at))

    def _idle_end_of(self, last_active_at: dt.datetime) -> dt.datetime:
        return last_active_at + dt.timedelta(seconds=self.settings.session_idle_timeout_seconds)

    def live_session(self, session_id: str) -> DeviceSession | None:
        """The session if it is still usable; a session found expired is ended on the spot."""
        session = db.session.get(DeviceSession, session_id)
        if session is None or session.is_ended or session.user.is_disabled:
            return None
        now = self.now()
        if self.expiry_reason(session, now):
            # Ended for the deadline it reached, as prune would (one UPDATE, re-checked there).
            self._end_expired(now, DeviceSession.id == session.id)
            db.session.commit()
            return None
        return session

    def session_for_refresh_token(self, refresh_token: str) -> tuple[RefreshToken, DeviceSession] | None:
        """The live session a current (unused) refresh token belongs to, for introspection/revocation."""
        token = self._find_token(refresh_token)
        if token is None:
            return None
        return token, db.session.get(DeviceSession, token.session_id)

    def list_sessions(self, user_id: str) -> list[DeviceSession]:
        """The user's live sessions, most recently used first; expired ones are ended on the way."""
        if self._end_expired(self.now(), DeviceSession.user_id == user_id):
            db.session.commit()
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
        """End one session (its refresh tokens die with it). True if it was live. Commits."""
        ended = self._end_live_where(reason, actor, ip, DeviceSession.id == session_id)
        db.session.commit()
        return bool(ended)

    def end_user_sessions(self, user_id: str, reason: str, actor: str | None, ip: str | None = None,
                          keep_session_id: str | None = None) -> int:
        """End every live session of a user, optionally but one. Returns how many. Commits."""
        conditions = [DeviceSession.user_id == user_id]
        if keep_session_id:
            conditions.append(DeviceSession.id != keep_session_id)
        ended = self._end_live_where(reason, actor, ip, *conditions)
        db.session.commit()
        return len(ended)

    def _end_live_where(self, reason, actor, ip, *conditions) -> list:
        """End the sessions matching ``conditions`` for ``reason``. Those that had already expired
        unnoticed end for their expiry instead: the log says why they really ended, and nobody
        is told they ended a session that was already over."""
        now = self.now()
        self._end_expired(now, *conditions)
        return self._end_where(now, reason, actor, ip, *conditions)

    def _end_expired(self, now, *conditions) -> int:
        """End the sessions matching ``conditions`` that are past a deadline, each for the deadline
        it reached first. Returns how many. The caller commits."""
        idle_cutoff = now - dt.timedelta(seconds=self.settings.session_idle_timeout_seconds)
        past_deadline = (DeviceSession.expires_at <= now) | (DeviceSession.last_active_at <= idle_cutoff)
        expired = db.session.execute(
            select(DeviceSession.id, DeviceSession.expires_at, DeviceSession.last_active_at)
            .where(DeviceSession.ended_at.is_(None), past_deadline, *conditions)
        ).all()
        by_reason = {}
        for session_id, expires_at, last_active_at in expired:
            by_reason.setdefault(self._expiry_reason(expires_at, last_active_at, now), []).append(session_id)
        ended = 0
        # The deadline is checked again in the UPDATE, so a session refreshed meanwhile survives.
        for reason, ids in by_reason.items():
            for start in range(0, len(ids), 500):
                batch = DeviceSession.id.in_(ids[start:start + 500])
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
            audit.record_event(audit.SESSION_ENDED, now, session_id=session_id, client_id=client_id, ip=ip,
                               actor=actor, user_id=user_id, username=usernames.get(user_id), reason=reason)
        return rows

    def _end_locked(self, session: DeviceSession, now, reason: str, actor: str | None) -> None:
        session.ended_at = now
        session.ended_reason = reason
        session.ended_by = actor
        audit.record_event(audit.SESSION_ENDED, now, user=session.user, session_id=session.id,
                           client_id=session.client_id, actor=actor, reason=reason)

    # -- access-token deny list ----------------------------------------------------------
    def deny_access_token(self, jti: str, expires_at: dt.datetime) -> None:
        now = self.now()
        if db.session.get(RevokedAccessToken, jti) is None:
            db.session.add(RevokedAccessToken(jti=jti, expires_at=expires_at, revoked_at=now))
        db.session.commit()

    def is_access_token_denied(self, jti: str) -> bool:
        return db.session.get(RevokedAccessToken, jti) is not None

    # -- clean-up ------------------------------------------------------------------------
    def prune(self) -> dict:
        """End sessions past their lifetime, then delete what is past retention. Commits."""
        now = self.now()
        ended = self._end_expired(now)
        cutoff = now - dt.timedelta(seconds=self.settings.retention_seconds)
        old_tokens = RefreshToken.session_id.in_(select(DeviceSession.id).where(DeviceSession.ended_at <= cutoff))
        # Counted first: deleting a parent token cascades to its child, which rowcount misses.
        tokens = db.session.scalar(select(func.count()).select_from(RefreshToken).where(old_tokens))
        db.session.execute(delete(RefreshToken).where(old_tokens))
        sessions = db.session.execute(delete(DeviceSession).where(DeviceSession.ended_at <= cutoff)).rowcount
        denied = db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= now)).rowcount
        db.session.commit()
        return {
            "ended": ended,
            "deleted_sessions": sessions,
            "deleted_refresh_tokens": tokens,
            "deleted_denied_access_tokens": denied,
        }
