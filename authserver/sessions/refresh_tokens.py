"""A device session's refresh-token chain: start it, rotate it, detect reuse. No HTTP, no SQL.

Every refresh marks the presented token used and issues its successor. The successor is derived
from the parent with a server-side HMAC key, so a client that lost a response can re-present the
immediate predecessor inside the grace window (``refresh_grace_seconds``) and receive the *same*
successor, while nothing but SHA-256 digests is ever stored. Any other replay (an older
generation, or the predecessor after the window) is reuse: the whole session ends.

A rotation is checked first and written last, so that the slow step between (signing the access
token) holds no lock: :meth:`RefreshTokens.prepare_rotation` reads the token, its session and its
user with one prebuilt statement and no write lock (``store/sessions.py``), and applies the
session rule (``device_sessions.usability``); the caller signs; :meth:`complete_rotation` then
makes the store's conditional rotation write (the token still unused, the session still not
ended), under SQLite's write lock or PostgreSQL's row locks, so parallel presentations of one
token serialise there and yield at most one successor. A write that finds the token used or the
session ended meanwhile, and every case but the common one (a used token, an ended, expired or
disabled session), goes the long way: the session row locked, the token read again under the
lock, the same rule and the same write, in the same transaction. The client check comes before
reuse detection, and reuse is decided before the scope.

A session bound to a DPoP key (RFC 9449 §5: a public client signed in with a proof) rotates only for a
proof by that key (``dpop_jkt``, checked by ``tokens/dpop.py``): the key check comes right after the
client check, on the fast and the long way, so a grace-window retry needs the key too, and a thief
without the key can neither refresh nor end the owner's session by replaying an old token; with the
key, reuse detection fires as before. An unbound session of a public client is bound by its first
refresh with a proof (the rotation's session update). Used rows stay as tombstones (hash only)
so a replay is recognised for as long as the session could live. Nothing here commits: a refusal
that ended the session (:class:`RefreshTokenReused`, an expired session) is made durable by the
request's unit of work, which commits every answer below 500 (``store/database.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..accounts.resources import within_grant
from ..errors import RefreshTokenInvalid
from ..errors import RefreshTokenReused
from ..errors import RefreshTokenUnknown
from ..errors import ScopeNotGranted
from ..scopes import within
from ..store import security_events
from ..store import sessions as store
from ..store.models import DeviceSession
from ..store.models import RefreshToken
from ..store.models import sha256_hex
from .device_sessions import ENDED_BY_REUSE
from .device_sessions import DeviceContext
from .device_sessions import DeviceSessions


@dataclass(frozen=True)
class SessionUser:
    """The user a refreshed token is issued to, as the rotation read it (no ORM object)."""

    id: str
    username: str
    is_admin: bool


@dataclass(frozen=True)
class SessionView:
    """The session a refreshed token is issued from, as the rotation read it (no ORM object)."""

    id: str
    user_id: str
    client_id: str
    scope: str
    user: SessionUser
    resources: str | None = None  # what its grant was authorized for (RFC 8707), space-separated

    @classmethod
    def of(cls, state) -> SessionView:
        """From a ``store.token_state`` row."""
        return cls(id=state.session_id, user_id=state.user_id, client_id=state.client_id, scope=state.scope,
                   user=SessionUser(id=state.user_id, username=state.username, is_admin=state.is_admin),
                   resources=state.resources)


@dataclass
class Rotation:
    session: SessionView | None  # what the token is issued from: id, scope, user
    refresh_token: str  # the successor: new, or the existing one for a grace-window retry
    presented: str
    presented_hash: str
    client_id: str
    device: DeviceContext
    requested_scope: str | None
    now: object
    dpop_jkt: str | None = None  # the key of the request's DPoP proof, if it sent one
    bind: bool = False  # a public client: an unbound session is bound to dpop_jkt
    pending: store.RotationWrite | None = None  # the common case's write, until complete_rotation makes it
    requested_resources: tuple[str, ...] = ()
    resources: list[str] | None = None  # the access token's audience (RFC 8707): named, or all the grant's


class RefreshTokens:
    def __init__(self, settings, sessions: DeviceSessions, refresh_key: bytes):
        self.settings = settings
        self.sessions = sessions
        self._refresh_key = refresh_key

    def start_chain(self, session: DeviceSession) -> str:
        """The first refresh token of a new session."""
        refresh_token = secrets.token_urlsafe(32)
        store.add_first_token(session, sha256_hex(refresh_token))
        return refresh_token

    def prepare_rotation(self, refresh_token: str, client_id: str, device: DeviceContext,
                         requested_scope: str | None = None, requested_resources=(), dpop_jkt: str | None = None,
                         bind: bool = False) -> Rotation:
        """Decide a rotation. The common case (an unused token of a usable session) only reads, and
        :meth:`complete_rotation` writes it once the caller has signed; every other case is done
        here, the long way, or refused (``RefreshToken*`` errors, ``ScopeNotGranted``, ``TargetInvalid``
        for a resource the session's grant never had), before anything is written."""
        now = self.sessions.now()
        rotation = Rotation(session=None, refresh_token="", presented=refresh_token,
                            presented_hash=sha256_hex(refresh_token), client_id=client_id, device=device,
                            requested_scope=requested_scope, now=now,
                            requested_resources=tuple(requested_resources), dpop_jkt=dpop_jkt, bind=bind)
        state = store.token_state(rotation.presented_hash)
        # The client check comes first: another client presenting a stolen token must not be
        # able to end the owner's session by triggering reuse detection.
        if state is None:
            raise RefreshTokenUnknown("unknown refresh token")
        verdict = self.sessions.usability(state, now, client_id=client_id)
        if verdict.foreign:
            raise RefreshTokenUnknown("unknown refresh token")
        self._check_key(rotation, state)
        if not verdict.usable or state.used_at is not None:
            return self._rotate_the_long_way(rotation, state.session_id)
        self._check_scope(rotation, state)
        rotation.refresh_token = self.successor_of(refresh_token)
        rotation.session = SessionView.of(state)
        rotation.pending = self._write_of(rotation, state, rotation.refresh_token)
        return rotation

    def complete_rotation(self, rotation: Rotation) -> Rotation:
        """Write a prepared rotation if its token is still unused and its session not ended; if a
        parallel request changed either since :meth:`prepare_rotation` read them, decide again
        the long way (a grace-window retry, reuse, an ended session). A no-op for a rotation
        already done."""
        write, rotation.pending = rotation.pending, None
        if write is None:
            return rotation
        if not store.write_rotation(write):
            return self._rotate_the_long_way(rotation, write.session_id)
        self.sessions.count("refresh_rotations")
        return rotation

    def _rotate_the_long_way(self, rotation: Rotation, session_id: str) -> Rotation:
        """Every case but the common one, decided under the session's lock: a grace-window retry,
        reuse, an ended or expired session; the client was checked before."""
        now, device = rotation.now, rotation.device
        if not store.lock_session(session_id):
            raise RefreshTokenInvalid("session deleted")
        # Read again under the lock: a parallel request may have rotated it or ended the session.
        state = store.token_state(rotation.presented_hash)
        if state is None:  # pruned between the first read and the lock
            raise RefreshTokenInvalid("session deleted")
        verdict = self.sessions.check(state, now, client_id=rotation.client_id)  # ends an expired session
        if verdict.foreign:
            raise RefreshTokenUnknown("unknown refresh token")
        self._check_key(rotation, state)
        if not verdict.usable:
            raise RefreshTokenInvalid("session expired" if verdict.expired_for else "session ended")
        fresh = state.used_at is None
        if not fresh and not self._is_grace_retry(state, now):
            # Reuse is decided before anything else about the request (e.g. its scope), so a
            # replayed token always ends the session, whatever else it asks for.
            self.sessions.end_checked_session(state.session_id, ENDED_BY_REUSE, now)
            security_events.record_event(security_events.REFRESH_TOKEN_REUSED, now, user_id=state.user_id,
                                         username=state.username, session_id=state.session_id,
                                         client_id=rotation.client_id, ip=device.ip, generation=state.generation)
            self.sessions.count("refresh_reuse_detections")
            raise RefreshTokenReused("refresh token reused")
        self._check_scope(rotation, state)

        successor = self.successor_of(rotation.presented)
        if fresh:
            written = store.write_rotation(self._write_of(rotation, state, successor))
        else:
            written = store.touch_session(state.session_id, now, device.ip, device.user_agent)
        if not written:  # the lock held, the token unused and the session live: cannot happen
            raise RuntimeError("a rotation write under the session lock found its token or session changed")
        self.sessions.count("refresh_rotations" if fresh else "refresh_grace_retries")
        rotation.session, rotation.refresh_token = SessionView.of(state), successor
        return rotation

    @staticmethod
    def _write_of(rotation: Rotation, state, successor: str) -> store.RotationWrite:
        """The write that rotates ``state``'s token (a ``store.token_state`` row) to ``successor``."""
        return store.RotationWrite(token_id=state.id, session_id=state.session_id, client_id=rotation.client_id,
                                   generation=state.generation + 1, successor_hash=sha256_hex(successor),
                                   now=rotation.now, ip=rotation.device.ip, user_agent=rotation.device.user_agent,
                                   bind_jkt=rotation.dpop_jkt if rotation.bind and state.dpop_jkt is None else None)

    @staticmethod
    def _check_key(rotation: Rotation, state) -> None:
        """A session bound to a DPoP key rotates only for a proof by that key (RFC 9449 §5)."""
        if state.dpop_jkt is not None and rotation.dpop_jkt != state.dpop_jkt:
            raise RefreshTokenInvalid("refresh token bound to another DPoP key")

    @staticmethod
    def _check_scope(rotation: Rotation, state) -> None:
        """What the refresh asks for, within what the session's grant had: scope (a refresh never
        widens) and resources (RFC 8707: any of the grant's, never another)."""
        if not within(rotation.requested_scope, state.scope):
            raise ScopeNotGranted()
        rotation.resources = within_grant(list(rotation.requested_resources), state.resources)

    def successor_of(self, refresh_token: str) -> str:
        digest = hmac.new(self._refresh_key, b"refresh-successor:" + refresh_token.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()

    def _is_grace_retry(self, state, now) -> bool:
        grace = self.settings.refresh_grace_seconds
        if grace <= 0 or (now - state.used_at).total_seconds() > grace:
            return False
        child = store.successor_state(state.id)
        # Only the immediate predecessor of the live token qualifies: if the successor has been
        # used in turn, this is an older generation.
        return child is not None and child.used_at is None

    def find(self, refresh_token: str) -> RefreshToken | None:
        """The row of any generation of any chain, by the token's digest."""
        return store.find_token(sha256_hex(refresh_token))

    def find_with_session(self, refresh_token: str) -> tuple[RefreshToken, DeviceSession] | None:
        """The token's row and its session (live or not), for revocation."""
        token = self.find(refresh_token)
        if token is None:
            return None
        return token, store.get_session(token.session_id)

    def live_token(self, refresh_token: str):
        """The ``store.token_state`` row of the current, unused token of a usable session (one
        found expired is ended); None otherwise (introspection)."""
        state = store.token_state(sha256_hex(refresh_token))
        if state is None or state.used_at is not None or not self.sessions.check(state).usable:
            return None
        return state
