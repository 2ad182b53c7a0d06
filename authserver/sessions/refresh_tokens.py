"""A device session's refresh-token chain: start it, rotate it, detect reuse. No HTTP.

Every refresh marks the presented token used and issues its successor. The successor is derived
from the parent with a server-side HMAC key, so a client that lost a response can re-present the
immediate predecessor inside the grace window (``refresh_grace_seconds``) and receive the *same*
successor, while nothing but SHA-256 digests is ever stored. Any other replay (an older
generation, or the predecessor after the window) is reuse: the whole session ends.

A rotation is checked first and written last, so that the slow step between (signing the access
token) holds no lock: :meth:`RefreshTokens.prepare_rotation` reads the token, its session and its
user with one prebuilt statement and no write lock; the caller signs; :meth:`complete_rotation`
then writes with conditional statements (the token still unused, the session still not ended),
under SQLite's write lock or PostgreSQL's row locks, so parallel presentations of one token
serialise there and yield at most one successor. A write that finds the token used or the session
ended meanwhile, and every case but the common one (a used token, an ended, expired or disabled
session), goes the long way: through the ORM, the session row locked, in the same transaction.
Used rows stay as tombstones (hash only) so a replay is recognised for
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

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from ..errors import RefreshTokenInvalid
from ..errors import RefreshTokenReused
from ..errors import RefreshTokenUnknown
from ..errors import ScopeNotGranted
from ..ops import metrics
from ..store import security_events
from ..store.database import UTCDateTime
from ..store.database import begin_write
from ..store.database import db
from ..store.models import DeviceSession
from ..store.models import RefreshToken
from ..store.models import User
from ..store.models import sha256_hex
from .device_sessions import ENDED_BY_REUSE
from .device_sessions import DeviceContext
from .device_sessions import DeviceSessions
from .device_sessions import SessionUser
from .device_sessions import SessionView

_tokens = RefreshToken.__table__
_sessions = DeviceSession.__table__
_users = User.__table__

# The rotation's hot path: one read without locks, then conditional writes.
ROTATION_STATE = (
    select(_tokens.c.id, _tokens.c.session_id, _tokens.c.client_id, _tokens.c.generation, _tokens.c.used_at,
           _sessions.c.user_id, _sessions.c.scope, _sessions.c.ended_at, _sessions.c.expires_at,
           _sessions.c.last_active_at, _users.c.username, _users.c.is_admin, _users.c.disabled_at)
    .select_from(_tokens.join(_sessions, _sessions.c.id == _tokens.c.session_id)
                 .join(_users, _users.c.id == _sessions.c.user_id))
    .where(_tokens.c.token_hash == bindparam("token_hash"))
)
MARK_USED = (update(_tokens).where(_tokens.c.id == bindparam("token_id"), _tokens.c.used_at.is_(None))
             .values(used_at=bindparam("now")))
TOUCH_SESSION = (
    update(_sessions).where(_sessions.c.id == bindparam("sid"), _sessions.c.ended_at.is_(None))
    .values(last_active_at=bindparam("now"), ip=func.coalesce(bindparam("ip"), _sessions.c.ip),
            user_agent=func.coalesce(bindparam("ua"), _sessions.c.user_agent))
)
ADD_SUCCESSOR = insert(_tokens)
# PostgreSQL runs the three writes as one statement (one round trip instead of three): the session
# row is locked first (as the long way and the session endings do), then the token; the successor is
# added only if both were still live. It answers 1 if it was, 0 if not.
ROTATE_POSTGRESQL = text(
    "WITH touched AS (UPDATE device_sessions SET last_active_at = :now, ip = COALESCE(:ip, ip), "
    "user_agent = COALESCE(:ua, user_agent) WHERE id = :sid AND ended_at IS NULL RETURNING id), "
    "used AS (UPDATE refresh_tokens SET used_at = :now WHERE id = :token_id AND used_at IS NULL "
    "AND EXISTS (SELECT 1 FROM touched) RETURNING id), "
    "added AS (INSERT INTO refresh_tokens (session_id, token_hash, parent_id, generation, client_id, issued_at) "
    "SELECT :sid, :token_hash, :token_id, :generation, :client_id, :now FROM used RETURNING id) "
    "SELECT count(*) FROM added"
).bindparams(bindparam("now", type_=UTCDateTime()))


@dataclass
class Rotation:
    session: DeviceSession | SessionView  # what the token is issued from: id, scope, user
    refresh_token: str  # the successor: new, or the existing one for a grace-window retry
    presented: str
    client_id: str
    device: DeviceContext
    requested_scope: str | None
    now: object
    pending: dict | None = None  # the common case's writes, until complete_rotation makes them


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

    def prepare_rotation(self, refresh_token: str, client_id: str, device: DeviceContext,
                         requested_scope: str | None = None) -> Rotation:
        """Decide a rotation. The common case (an unused token of a live session) only reads, and
        :meth:`complete_rotation` writes it once the caller has signed; every other case is done
        here, the long way, or refused (``RefreshToken*`` errors, ``ScopeNotGranted``)."""
        now = self.sessions.now()
        rotation = Rotation(session=None, refresh_token="", presented=refresh_token, client_id=client_id,
                            device=device, requested_scope=requested_scope, now=now)
        row = db.session.connection().execute(ROTATION_STATE, {"token_hash": sha256_hex(refresh_token)}).first()
        # The client check comes first: another client presenting a stolen token must not be
        # able to end the owner's session by triggering reuse detection.
        if row is None or row.client_id != client_id:
            raise RefreshTokenUnknown("unknown refresh token")
        if (row.used_at is not None or row.ended_at is not None or row.disabled_at is not None
                or self.sessions.reason_past_deadline(row.expires_at, row.last_active_at, now)):
            return self._rotate_the_long_way(rotation)
        if requested_scope and not set(requested_scope.split()) <= set(row.scope.split()):
            raise ScopeNotGranted()
        rotation.refresh_token = self.successor_of(refresh_token)
        rotation.session = SessionView(id=row.session_id, user_id=row.user_id, client_id=client_id, scope=row.scope,
                                       user=SessionUser(id=row.user_id, username=row.username,
                                                                   is_admin=row.is_admin))
        rotation.pending = {"now": now, "token_id": row.id, "sid": row.session_id, "ip": device.ip,
                            "ua": device.user_agent, "token_hash": sha256_hex(rotation.refresh_token),
                            "generation": row.generation + 1, "client_id": client_id}
        return rotation

    def complete_rotation(self, rotation: Rotation) -> Rotation:
        """Write a prepared rotation if its token is still unused and its session not ended; if a
        parallel request changed either since :meth:`prepare_rotation` read them, decide again
        the long way (a grace-window retry, reuse, an ended session). A no-op for a rotation
        already done."""
        writes, rotation.pending = rotation.pending, None
        if writes is None:
            return rotation
        begin_write()
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            written = connection.execute(ROTATE_POSTGRESQL, writes).scalar_one() == 1
        else:
            # Only their own parameters: Core would SET any other that names a column.
            written = (connection.execute(MARK_USED, {"token_id": writes["token_id"], "now": writes["now"]}).rowcount == 1
                       and connection.execute(TOUCH_SESSION, {"sid": writes["sid"], "now": writes["now"], "ip": writes["ip"],
                                                              "ua": writes["ua"]}).rowcount == 1)
            if written:
                connection.execute(ADD_SUCCESSOR, {
                    "session_id": writes["sid"], "token_hash": writes["token_hash"], "parent_id": writes["token_id"],
                    "generation": writes["generation"], "client_id": writes["client_id"], "issued_at": writes["now"]})
        if not written:
            return self._rotate_the_long_way(rotation)
        metrics.count("refresh_rotations")
        return rotation

    def _rotate_the_long_way(self, rotation: Rotation) -> Rotation:
        """Every case but the common one: a grace-window retry, reuse, an ended or expired session."""
        begin_write()
        refresh_token, client_id, device, now = rotation.presented, rotation.client_id, rotation.device, rotation.now
        requested_scope = rotation.requested_scope
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
            security_events.record_event(security_events.REFRESH_TOKEN_REUSED, now, user=session.user, session_id=session.id,
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
        rotation.session, rotation.refresh_token = session, successor
        return rotation

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
