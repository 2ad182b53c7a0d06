"""Clean-up (``authserver sessions prune``): end sessions past their deadline, then delete what is
past ``retention_seconds``: ended sessions with their refresh-token tombstones, authorization codes
and device authorizations expired that long ago (until then a reused code is still recognised),
security events (kept at least as long as a throttling window, whose counts they are), and
deny-list entries of access tokens that have expired anyway, and the DPoP proofs too old to be
accepted again (``dpop_proofs.py``). Nothing here commits; the command does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from . import dpop_proofs
from .database import begin_write
from .database import db
from .models import AuthorizationCode
from .models import DeviceAuthorization
from .models import DeviceSession
from .models import RefreshToken
from .models import RevokedAccessToken
from .models import SecurityEvent

# The steps of a prune, in order, as a progress bar names them (each is one statement, however many rows).
STEPS = ("ending expired sessions", "deleting old refresh tokens", "deleting old sessions",
         "deleting expired deny-list entries", "deleting old codes", "deleting old security events")


def prune(services, on_step=None) -> dict:
    """``on_step(name)`` is called as each of :data:`STEPS` starts (the command's progress bar)."""
    step = on_step or (lambda name: None)
    begin_write()
    now = services.clock.now()
    step(STEPS[0])
    ended = services.sessions.end_expired(now)
    cutoff = now - dt.timedelta(seconds=services.settings.retention_seconds)
    old_tokens = RefreshToken.session_id.in_(select(DeviceSession.id).where(DeviceSession.ended_at <= cutoff))
    step(STEPS[1])
    # Counted first: deleting a parent token cascades to its child, which rowcount misses.
    tokens = db.session.scalar(select(func.count()).select_from(RefreshToken).where(old_tokens))
    db.session.execute(delete(RefreshToken).where(old_tokens))
    step(STEPS[2])
    sessions = db.session.execute(delete(DeviceSession).where(DeviceSession.ended_at <= cutoff)).rowcount
    step(STEPS[3])
    denied = db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= now)).rowcount
    proofs = dpop_proofs.prune(now)
    step(STEPS[4])
    codes = db.session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= cutoff)).rowcount
    codes += db.session.execute(delete(DeviceAuthorization).where(DeviceAuthorization.expires_at <= cutoff)).rowcount
    step(STEPS[5])
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
        "deleted_dpop_proofs": proofs,
        "deleted_codes": codes,
        "deleted_security_events": events,
    }
