"""Device sessions and their refresh-token chains in the database: the statements the session rules
(``sessions/device_sessions.py``) and the chains (``sessions/refresh_tokens.py``) run, one named
operation each, and the one place that tells SQLite from PostgreSQL for them. No rules here: which
session is usable, which token is reuse, is decided above, over the plain rows read here.

Reads take no lock: in a request that reads first they run outside a transaction (``database.py``),
and the hot ones (:func:`token_state`, :func:`access_token_state`) are one prebuilt statement each.
The hot statements (those two reads, the rotation write, and the long way's) run on the driver's
connection of the request's unit of work (:class:`.database.Prepared`): built here once in Core,
compiled once per dialect.
Every write begins the write transaction itself (:func:`.database.begin_write`: on SQLite the
database's write lock, on PostgreSQL a transaction whose statements take row locks); callers never
manage the transaction. Nothing here commits: the request's unit of work does.

The rotation write (:func:`write_rotation`), shared by the fast and the long way of a refresh, is
conditional: the presented token marked used only if still unused, the session touched only if not
ended, the successor added only if both held. On SQLite it is three statements under the write
lock; on PostgreSQL one statement of three data-modifying CTEs (one round trip), locking the
session row before the token's, as the long way (:func:`lock_session`) and the endings do. Which
of the two runs is chosen here (:func:`write_rotation`), and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from .database import Prepared
from .database import UTCDateTime
from .database import begin_write
from .database import db
from .database import held
from .models import DeviceSession
from .models import RefreshToken
from .models import RevokedAccessToken
from .models import User

BATCH = 500  # ids per UPDATE when ending many sessions (SQLite's bound-parameter limit is far above)

_sessions = DeviceSession.__table__
_tokens = RefreshToken.__table__
_users = User.__table__
_revoked = RevokedAccessToken.__table__

# -- reads -----------------------------------------------------------------------------------
# A refresh token of any generation with what the rules need of its session and user: the
# rotation's one read, and introspection's. `client_id` is the client the token was issued to;
# `resources`, those the session's grant was authorized for (RFC 8707), ride on the same read.
TOKEN_STATE = (
    select(_tokens.c.id, _tokens.c.session_id, _tokens.c.client_id, _tokens.c.generation, _tokens.c.issued_at,
           _tokens.c.used_at, _sessions.c.user_id, _sessions.c.scope, _sessions.c.ended_at, _sessions.c.expires_at,
           _sessions.c.last_active_at, _sessions.c.resources, _sessions.c.dpop_jkt, _users.c.username,
           _users.c.is_admin, _users.c.disabled_at)
    .select_from(_tokens.join(_sessions, _sessions.c.id == _tokens.c.session_id)
                 .join(_users, _users.c.id == _sessions.c.user_id))
    .where(_tokens.c.token_hash == bindparam("token_hash"))
)
# An access token's session (by primary key), its user's state, and whether its `jti` is denied.
ACCESS_TOKEN_STATE = (
    select(_sessions.c.id.label("session_id"), _sessions.c.user_id, _sessions.c.client_id, _sessions.c.ended_at,
           _sessions.c.expires_at, _sessions.c.last_active_at, _users.c.username, _users.c.disabled_at,
           exists().where(_revoked.c.jti == bindparam("jti")).label("denied"))
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
    .where(_sessions.c.id == bindparam("sid"))
)
SUCCESSOR = select(_tokens.c.id, _tokens.c.used_at).where(_tokens.c.parent_id == bindparam("token_id"))
LOCK_SESSION = select(_sessions.c.id).where(_sessions.c.id == bindparam("sid")).with_for_update()

# -- the rotation's writes -------------------------------------------------------------------
_now = bindparam("now", type_=UTCDateTime())
MARK_USED = (update(_tokens).where(_tokens.c.id == bindparam("token_id"), _tokens.c.used_at.is_(None))
             .values(used_at=_now))
TOUCH_SESSION = (
    update(_sessions).where(_sessions.c.id == bindparam("sid"), _sessions.c.ended_at.is_(None))
    .values(last_active_at=_now, ip=func.coalesce(bindparam("ip"), _sessions.c.ip),
            user_agent=func.coalesce(bindparam("ua"), _sessions.c.user_agent),
            # A session not yet bound to a DPoP key is bound by the first refresh that brings one (RFC 9449 §5).
            dpop_jkt=func.coalesce(_sessions.c.dpop_jkt, bindparam("bind_jkt", type_=_sessions.c.dpop_jkt.type)))
)
ADD_TOKEN = insert(_tokens).values({column: bindparam(column, type_=_tokens.c[column].type) for column in (
    "session_id", "token_hash", "parent_id", "generation", "client_id", "issued_at")})
_touched = TOUCH_SESSION.returning(_sessions.c.id).cte("touched")
_used = (update(_tokens)
         .where(_tokens.c.id == bindparam("token_id"), _tokens.c.used_at.is_(None), exists(select(_touched.c.id)))
         .values(used_at=_now).returning(_tokens.c.id).cte("used"))
# (No parameter is named after a column: Core would add it to each UPDATE's SET.)
_added = (insert(_tokens).from_select(
    ["session_id", "token_hash", "parent_id", "generation", "client_id", "issued_at"],
    select(bindparam("sid", type_=_tokens.c.session_id.type),
           bindparam("successor_hash", type_=_tokens.c.token_hash.type), _used.c.id,
           bindparam("successor_generation", type_=_tokens.c.generation.type),
           bindparam("successor_client_id", type_=_tokens.c.client_id.type), _now),
).returning(_tokens.c.id).cte("added"))
# PostgreSQL: the three writes as one statement, answering 1 if the successor was added, 0 if not.
ROTATE_POSTGRESQL = select(func.count()).select_from(_added)

# The statements above as the hot paths run them, on the driver's connection.
_token_state, _access_token_state, _successor, _lock_session = (
    Prepared(TOKEN_STATE), Prepared(ACCESS_TOKEN_STATE), Prepared(SUCCESSOR), Prepared(LOCK_SESSION))
_mark_used, _touch_session, _add_token, _rotate_postgresql = (
    Prepared(MARK_USED), Prepared(TOUCH_SESSION), Prepared(ADD_TOKEN), Prepared(ROTATE_POSTGRESQL))


@dataclass(frozen=True)
class RotationWrite:
    """What one rotation writes: the presented token used, its session touched, the successor added."""

    token_id: int
    session_id: str
    client_id: str
    generation: int  # the successor's
    successor_hash: str
    now: dt.datetime
    ip: str | None
    user_agent: str | None
    bind_jkt: str | None = None  # the DPoP key to bind the session to, if it is not bound yet


@dataclass(frozen=True)
class EndedSession:
    id: str
    user_id: str
    client_id: str
    username: str | None


def token_state(token_hash: str):
    """The :data:`TOKEN_STATE` row of the token with this digest, or None. No lock."""
    return _token_state.first({"token_hash": token_hash})


def access_token_state(session_id: str, jti: str):
    """The :data:`ACCESS_TOKEN_STATE` row of an access token's session, or None. No lock."""
    return _access_token_state.first({"sid": session_id, "jti": jti})


def successor_state(token_id: int):
    """The (id, used_at) of the token issued in exchange for this one, or None."""
    return _successor.first({"token_id": token_id})


def find_token(token_hash: str) -> RefreshToken | None:
    """The row of any generation of any chain, by the token's digest."""
    return db.session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_hash)).scalar_one_or_none()


def get_session(session_id: str) -> DeviceSession | None:
    """The session (live or not) with its user and client."""
    return db.session.get(DeviceSession, session_id)


def live_sessions_of(user_id: str) -> list[DeviceSession]:
    """The user's sessions not ended, most recently used first."""
    query = (
        select(DeviceSession)
        .where(DeviceSession.user_id == user_id, DeviceSession.ended_at.is_(None))
        .order_by(DeviceSession.last_active_at.desc())
    )
    return list(db.session.scalars(query).unique())


def _which(session_id=None, user_id=None, client_id=None, except_session_id=None) -> list:
    conditions = []
    if session_id is not None:
        conditions.append(DeviceSession.id == session_id)
    if user_id is not None:
        conditions.append(DeviceSession.user_id == user_id)
    if client_id is not None:
        conditions.append(DeviceSession.client_id == client_id)
    if except_session_id is not None:
        conditions.append(DeviceSession.id != except_session_id)
    return conditions


def _past_deadline(now: dt.datetime, idle_timeout: dt.timedelta):
    """SQL for "past its max age or idle for ``idle_timeout``", the rule's deadlines on the columns."""
    return (DeviceSession.expires_at <= now) | (DeviceSession.last_active_at <= now - idle_timeout)


def expired_sessions(now: dt.datetime, idle_timeout: dt.timedelta, **which) -> list:
    """(id, expires_at, last_active_at) of the sessions not ended but past a deadline by ``now``,
    among those ``which`` names (``session_id``, ``user_id``, ``client_id``, ``except_session_id``)."""
    return db.session.execute(
        select(DeviceSession.id, DeviceSession.expires_at, DeviceSession.last_active_at)
        .where(DeviceSession.ended_at.is_(None), _past_deadline(now, idle_timeout), *_which(**which))
    ).all()


# -- writes: each begins the write transaction -----------------------------------------------
def add_session(**columns) -> DeviceSession:
    """Insert a session (its id is known on return)."""
    begin_write()
    session = DeviceSession(**columns)
    db.session.add(session)
    db.session.flush()
    return session


def add_first_token(session: DeviceSession, token_hash: str) -> None:
    """The first generation of a new session's chain."""
    begin_write()
    db.session.add(RefreshToken(session_id=session.id, token_hash=token_hash, generation=0,
                                client_id=session.client_id, issued_at=session.created_at))


def touch_held_session(session: DeviceSession, now: dt.datetime, ip: str | None, user_agent: str | None) -> None:
    """Record a use of a session the caller has loaded (a browser's): written with the unit of work."""
    begin_write()
    session.last_active_at = now
    if ip:
        session.ip = ip
    if user_agent:
        session.user_agent = user_agent


def touch_session(session_id: str, now: dt.datetime, ip: str | None, user_agent: str | None) -> bool:
    """Record a use of a session not ended (a grace-window retry's). True if it was not ended."""
    begin_write()
    return _touch_session.rowcount({"sid": session_id, "now": now, "ip": ip, "ua": user_agent, "bind_jkt": None}) == 1


def lock_session(session_id: str) -> bool:
    """Lock the session's row until the transaction ends (``SELECT ... FOR UPDATE``; on SQLite the
    write transaction already holds the database's write lock). False if it is gone."""
    begin_write()
    return _lock_session.first({"sid": session_id}) is not None


def write_rotation(write: RotationWrite) -> bool:
    """Mark the presented token used, touch its session and add the successor, if the token is
    still unused and the session not ended; True if it did. If not, no successor is added and the
    caller decides again in the same transaction (the long way), which ends the session or touches
    it: SQLite's first statement may have marked the token used (then the session had ended),
    PostgreSQL's may have touched the session (then the token had been used)."""
    begin_write()
    on = held()
    if on.dialect.name == "postgresql":
        return _rotate_postgresql.scalar({
            "now": write.now, "sid": write.session_id, "ip": write.ip, "ua": write.user_agent,
            "bind_jkt": write.bind_jkt, "token_id": write.token_id, "successor_hash": write.successor_hash,
            "successor_generation": write.generation, "successor_client_id": write.client_id}, on) == 1
    if _mark_used.rowcount({"token_id": write.token_id, "now": write.now}, on) != 1:
        return False
    if _touch_session.rowcount({"sid": write.session_id, "now": write.now, "ip": write.ip, "ua": write.user_agent,
                                "bind_jkt": write.bind_jkt}, on) != 1:
        return False
    _add_token.rowcount({"session_id": write.session_id, "token_hash": write.successor_hash,
                         "parent_id": write.token_id, "generation": write.generation, "client_id": write.client_id,
                         "issued_at": write.now}, on)
    return True


def end_sessions(now: dt.datetime, reason: str, actor: str | None, *, ids: list[str] | None = None,
                 still_past: dt.timedelta | None = None, **which) -> list[EndedSession]:
    """End the sessions not yet ended that ``which`` names (see :func:`expired_sessions`), or
    those of ``ids``, for ``reason``; with ``still_past`` (the idle timeout) only those still past
    a deadline, so a session used meanwhile survives. Returns what was ended, with the usernames."""
    begin_write()
    conditions = _which(**which)
    if still_past is not None:
        conditions.append(_past_deadline(now, still_past))
    if ids is None:
        rows = _end_where(now, reason, actor, conditions)
    else:
        rows = []
        for start in range(0, len(ids), BATCH):
            rows += _end_where(now, reason, actor, [*conditions, DeviceSession.id.in_(ids[start:start + BATCH])])
    usernames = {}
    if rows:
        query = select(User.id, User.username).where(User.id.in_({user_id for _, user_id, _ in rows}))
        usernames = dict(db.session.execute(query).all())
    return [EndedSession(session_id, user_id, client_id, usernames.get(user_id))
            for session_id, user_id, client_id in rows]


def _end_where(now, reason, actor, conditions) -> list:
    # The ORM's UPDATE, so that sessions this request holds (a browser's, an API caller's) see it.
    return db.session.execute(
        update(DeviceSession)
        .where(DeviceSession.ended_at.is_(None), *conditions)
        .values(ended_at=now, ended_reason=reason, ended_by=actor)
        .returning(DeviceSession.id, DeviceSession.user_id, DeviceSession.client_id)
        .execution_options(synchronize_session="fetch")
    ).all()
