"""Device authorizations (RFC 8628): start, look up by user code, decide, poll. No HTTP.

A device (TV, CLI, sensor) asks for authorization and gets a high-entropy device code (kept only as
a digest) and a short user code -- 8 letters from a 20-letter alphabet without vowels or
look-alikes, shown ``XXXX-XXXX``, read back case- and dash-insensitively (§6.1). The user enters
the user code on the verification page and approves or denies. Meanwhile the device polls: each
poll is answered pending, slow down (it polled faster than its interval, which then grows by 5 s,
§3.5), denied, expired, or -- once -- approved; a device code that has given its tokens is spent.
What a poll changes (its time, a longer interval) is written even when the answer is an error.
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import update

from ..errors import PollRefused
from .database import begin_write
from .database import db
from .models import DeviceAuthorization
from .models import DeviceContext
from .models import sha256_hex

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP_SECONDS = 5

PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"


def new_user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{letters[:4]}-{letters[4:]}"


def normalize_user_code(text: str) -> str | None:
    """What the user typed, as stored: upper case, no dash or space; None if it cannot be a code."""
    letters = "".join(char for char in (text or "").upper() if char not in "- \t")
    if len(letters) != USER_CODE_LENGTH or any(char not in USER_CODE_ALPHABET for char in letters):
        return None
    return letters


def start(settings, now, client, scope: str, device: DeviceContext,
          resources: str | None = None) -> tuple[str, str]:
    """A new pending authorization (``resources``: those asked for, RFC 8707); returns (device code, user code)."""
    begin_write()
    device_code = secrets.token_urlsafe(32)
    user_code = new_user_code()
    db.session.add(DeviceAuthorization(
        device_code_hash=sha256_hex(device_code), user_code_hash=sha256_hex(normalize_user_code(user_code)),
        client_id=client.client_id, scope=scope, status=PENDING, device_name=device.device_name,
        user_agent=device.user_agent, ip=device.ip, interval=settings.device_poll_interval_seconds,
        created_at=now, expires_at=now + dt.timedelta(seconds=settings.device_code_ttl_seconds),
        resources=resources))
    return device_code, user_code


def find_pending(user_code: str, now) -> DeviceAuthorization | None:
    """The pending, unexpired authorization a user code names; None for a wrong, expired or used one."""
    letters = normalize_user_code(user_code)
    if letters is None:
        return None
    row = db.session.execute(
        db.select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == sha256_hex(letters))
    ).scalar_one_or_none()
    if row is None or row.status != PENDING or now >= row.expires_at:
        return None
    return row


def decide(row: DeviceAuthorization, user, approved: bool, now) -> bool:
    """Record the user's decision; False if the authorization was decided or expired meanwhile."""
    begin_write()
    decided = db.session.execute(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash == row.device_code_hash, DeviceAuthorization.status == PENDING,
               DeviceAuthorization.expires_at > now)
        .values(status=APPROVED if approved else DENIED, user_id=user.id, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(decided)


def poll(device_code: str, client_id: str, now) -> DeviceAuthorization:
    """The approved authorization, now spent; otherwise raises ``PollRefused`` (``errors.py``)."""
    begin_write()
    # Lock only this row: the eagerly joined user is on the nullable side of an outer join, which
    # PostgreSQL refuses to lock ("FOR UPDATE cannot be applied to the nullable side of an outer join").
    row = db.session.get(DeviceAuthorization, sha256_hex(device_code), with_for_update={"of": DeviceAuthorization})
    if row is None or row.client_id != client_id or row.status == USED:
        raise PollRefused("invalid_grant")
    if now >= row.expires_at:
        raise PollRefused("expired_token")
    too_fast = row.last_polled_at is not None and (now - row.last_polled_at).total_seconds() < row.interval
    row.last_polled_at = now
    if row.status == DENIED:
        raise PollRefused("access_denied")
    if row.status == PENDING:
        if too_fast:
            row.interval += SLOW_DOWN_STEP_SECONDS
            raise PollRefused("slow_down")
        raise PollRefused("authorization_pending")
    row.status = USED
    return row
