"""Throttling of guesses, counted from the security event log so every node shares it.

Failed sign-ins: after too many wrong passwords for one username from one IP inside a window,
further attempts are refused without checking the password. Counting per (username, IP) slows
guessing without letting a stranger lock the real user out from their own address. Wrong device
user codes (RFC 8628 §5.1) are limited the same way, per user and per IP."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import select

from . import audit
from .database import db
from .models import SecurityEvent


def login_retry_after(services, username: str, ip: str | None) -> int | None:
    """Seconds until this username may be tried again from this IP, or None if not throttled."""
    return failures_retry_after(services, audit.LOGIN_FAILED, SecurityEvent.username == username[:150],
                                SecurityEvent.ip == ip)


def failures_retry_after(services, kind: str, *conditions) -> int | None:
    """Seconds until another attempt is allowed after too many ``kind`` failures matching
    ``conditions`` inside the window (the sign-in throttle's settings), or None if not throttled."""
    settings = services.settings
    since = services.clock.now() - dt.timedelta(seconds=settings.login_failure_window_seconds)
    count, oldest = db.session.execute(
        select(func.count(), func.min(SecurityEvent.created_at))
        .where(SecurityEvent.kind == kind, SecurityEvent.created_at > since, *conditions)
    ).one()
    if count < settings.login_max_failures:
        return None
    oldest = oldest.replace(tzinfo=dt.timezone.utc) if oldest.tzinfo is None else oldest
    return max(1, int((oldest - since).total_seconds()) + 1)
