"""Failed sign-in throttling: after too many wrong passwords for one username from one IP inside a
window, further attempts are refused without checking the password. Counting per (username, IP)
slows guessing without letting a stranger lock the real user out from their own address."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import select

from . import audit
from .database import db
from .models import SecurityEvent


def login_retry_after(services, username: str, ip: str | None) -> int | None:
    """Seconds until this username may be tried again from this IP, or None if not throttled."""
    settings = services.settings
    now = services.clock.now()
    since = now - dt.timedelta(seconds=settings.login_failure_window_seconds)
    count, oldest = db.session.execute(
        select(func.count(), func.min(SecurityEvent.created_at)).where(
            SecurityEvent.username == username[:150],
            SecurityEvent.kind == audit.LOGIN_FAILED,
            SecurityEvent.ip == ip,
            SecurityEvent.created_at > since,
        )
    ).one()
    if count < settings.login_max_failures:
        return None
    oldest = oldest.replace(tzinfo=dt.timezone.utc) if oldest.tzinfo is None else oldest
    return max(1, int((oldest - since).total_seconds()) + 1)
