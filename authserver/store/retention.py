"""Clean-up (``authserver sessions prune``): end sessions past their deadline, then delete what is
past ``retention_seconds``: ended sessions with their refresh-token tombstones, authorization codes
and device authorizations expired that long ago (until then a reused code is still recognised),
security events (kept at least as long as a throttling window, whose counts they are), and
deny-list entries of access tokens that have expired anyway. Nothing here commits; the command does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from .database import begin_write
from .database import db
from .models import AuthorizationCode
from .models import DeviceAuthorization
from .models import DeviceSession
from .models import RefreshToken
from .models import RevokedAccessToken
from .models import SecurityEvent


def prune(services) -> dict:
    begin_write()
    now = services.clock.now()
    ended = services.sessions.end_expired(now)
    cutoff = now - dt.timedelta(seconds=services.settings.retention_seconds)
    old_tokens = RefreshToken.session_id.in_(select(DeviceSession.id).where(DeviceSession.ended_at <= cutoff))
    # Counted first: deleting a parent token cascades to its child, which rowcount misses.
    tokens = db.session.scalar(select(func.count()).select_from(RefreshToken).where(old_tokens))
    db.session.execute(delete(RefreshToken).where(old_tokens))
    sessions = db.session.execute(delete(DeviceSession).where(DeviceSession.ended_at <= cutoff)).rowcount
    denied = db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= now)).rowcount
    codes = db.session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= cutoff)).rowcount
    codes += db.session.execute(delete(DeviceAuthorization).where(DeviceAuthorization.expires_at <= cutoff)).rowcount
    settings = services.settings
    kept = max(settings.retention_seconds, settings.login_failure_window_seconds,
               settings.lookup_failure_window_seconds)
    events = db.session.execute(
        delete(SecurityEvent).where(SecurityEvent.created_at <= now - dt.timedelta(seconds=kept))).rowcount
    return {
        "ended": ended,
        "deleted_sessions": sessions,
        "deleted_refresh_tokens": tokens,
        "deleted_denied_access_tokens": denied,
        "deleted_codes": codes,
        "deleted_security_events": events,
    }
