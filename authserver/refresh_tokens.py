"""A device session's refresh-token chain: start it, rotate it, detect reuse. No HTTP.

Every refresh marks the presented token used and issues its successor. The successor is derived
from the parent with a server-side HMAC key, so a client that lost a response can re-present the
immediate predecessor inside the grace window (``refresh_grace_seconds``) and receive the *same*
successor, while nothing but SHA-256 digests is ever stored. Any other replay (an older
generation, or the predecessor after the window) is reuse: the whole session ends.

A rotation runs in one transaction that first locks the session row (``SELECT ... FOR UPDATE`` on
PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), so parallel presentations of one token serialise and
yield at most one successor. Used rows stay as tombstones (hash only) so a replay is recognised for
as long as the session could live. Nothing here commits: a refusal that ended the session
(:class:`RefreshTokenReused`, an expired session) is made durable by the request's unit of work,
which commits every answer below 500 (``database.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from . import audit
from . import metrics
from .database import db
from .models import DeviceSession
from .models import RefreshToken
from .models import sha256_hex
from .sessions import ENDED_BY_REUSE
from .sessions import DeviceContext
from .sessions import DeviceSessions


class RefreshTokenInvalid(Exception):
    """Unknown, foreign, expired or dead refresh token (the client sees invalid_grant)."""


class RefreshTokenUnknown(RefreshTokenInvalid):
    """No generation of any chain, or one issued to another client: to this client, not a token at all."""


class RefreshTokenReused(RefreshTokenInvalid):
    """A rotated token was presented again; its session has been ended."""


class ScopeNotGranted(Exception):
    """A refresh asked for scope beyond what the session was granted."""


@dataclass
class Rotation:
    session: DeviceSession
    refresh_token: str  # the successor: new, or the existing one for a grace-window retry


class RefreshTokens:
    def __init__(self, settings, sessions: DeviceSessions, refresh_key: bytes):
        self.settings = settings
        self.sessions = sessions
        self._refresh_key = refresh_key

    def start_chain(self, session: DeviceSession) -> str:
        """The first refresh token of a new session."""
        refresh_token = secrets.token_urlsafe(32)
        db.session.add(RefreshToken(session_id=session.id, token_hash=sha256_hex(refresh_token), generation=0,
                                    client_id=session.client_id, issued_at=session.created_at))
        return refresh_token

    def rotate_refresh_token(self, refresh_token: str, client_id: str, device: DeviceContext,
                             requested_scope: str | None = None) -> Rotation:
        now = self.sessions.now()
        token = self.find(refresh_token)
        # The client check comes first: another client presenting a stolen token must not be
        # able to end the owner's session by triggering reuse detection.
        if token is None or token.client_id != client_id:
            raise RefreshTokenUnknown("unknown refresh token")
        session = self.sessions.lock_session(token.session_id)
        # Read again under the lock: a parallel request may have rotated it meanwhile.
        token = db.session.execute(
            select(RefreshToken).where(RefreshToken.id == token.id).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if session is None or token is None:  # pruned between the lookup and the lock
            raise RefreshTokenInvalid("session deleted")
        self._check_session(session, now)
        fresh = token.used_at is None
        if not fresh and not self._is_grace_retry(token, now):
            # Reuse is decided before anything else about the request (e.g. its scope), so a
            # replayed token always ends the session, whatever else it asks for.
            self.sessions.end_locked_session(session, ENDED_BY_REUSE)
            audit.record_event(audit.REFRESH_TOKEN_REUSED, now, user=session.user, session_id=session.id,
                               client_id=client_id, ip=device.ip, generation=token.generation)
            metrics.count("refresh_reuse_detections")
            raise RefreshTokenReused("refresh token reused")
        if requested_scope and not set(requested_scope.split()) <= set(session.scope.split()):
            raise ScopeNotGranted()

        successor = self.successor_of(refresh_token)
        if fresh:
            token.used_at = now
            db.session.add(RefreshToken(session_id=session.id, token_hash=sha256_hex(successor), parent_id=token.id,
                                        generation=token.generation + 1, client_id=client_id, issued_at=now))
        metrics.count("refresh_rotations" if fresh else "refresh_grace_retries")
        self.sessions.touch_session(session, device)
        db.session.flush()
        return Rotation(session=session, refresh_token=successor)

    def _check_session(self, session: DeviceSession, now) -> None:
        """Refuse a token whose session is over; one found past its deadline is ended for it."""
        if session.is_ended or session.user.is_disabled:
            raise RefreshTokenInvalid("session ended")
        reason = self.sessions.expiry_reason(session, now)
        if reason:
            self.sessions.end_locked_session(session, reason)
            raise RefreshTokenInvalid("session expired")

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

    def find(self, refresh_token: str) -> RefreshToken | None:
        """The row of any generation of any chain, by the token's digest."""
        return db.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(refresh_token))
        ).scalar_one_or_none()

    def find_with_session(self, refresh_token: str) -> tuple[RefreshToken, DeviceSession] | None:
        """The token's row and its session (live or not), for revocation."""
        token = self.find(refresh_token)
        if token is None:
            return None
        return token, db.session.get(DeviceSession, token.session_id)

    def live_token(self, refresh_token: str) -> tuple[RefreshToken, DeviceSession] | None:
        """(row, session) for the current, unused token of a live session; None otherwise (introspection)."""
        token = self.find(refresh_token)
        if token is None or token.used_at is not None:
            return None
        session = self.sessions.live_session(token.session_id)
        return None if session is None else (token, session)
