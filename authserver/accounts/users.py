"""Users: creating them, checking their passwords, disabling them. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import AccountError
from ..ops import metrics
from ..sessions.device_sessions import ENDED_USER_DISABLED
from ..store import security_events
from ..store.database import begin_write
from ..store.database import db
from ..store.database import release_reads
from ..store.models import User

# Why a sign-in failed (the `reason` of a login_failed event); callers are told neither.
FAILED_BAD_CREDENTIALS = "bad_credentials"
FAILED_DISABLED = "disabled"
FAILURE_REASONS = (FAILED_BAD_CREDENTIALS, FAILED_DISABLED)


def check_email(email: str | None) -> None:
    if email is None:
        return
    local, at, domain = email.partition("@")
    if not (at and local and domain) or len(email) > 254 or not email.isprintable() or " " in email:
        raise AccountError(f"{email!r} is not an email address")


def find_user(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def search_users(fragment: str, limit: int = 20) -> list[User]:
    """Users whose name contains the fragment (case-insensitive), for the operators' console."""
    pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(User).where(User.username.ilike(pattern, escape="\\")).order_by(User.username).limit(limit)
    return list(db.session.scalars(query))


def create_user(services, username: str, password: str, email: str | None = None, admin: bool = False) -> User:
    username = username.strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username) or not username.isprintable():
        raise AccountError("usernames are 1 to 150 printable characters without spaces")
    check_email(email)
    if not password:
        raise AccountError("the password must not be empty")
    if find_user(username) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(username=username, email=email, password_hash=services.passwords.hash(password),
                is_admin=admin, created_at=services.clock.now())
    db.session.add(user)
    db.session.flush()
    return user


def authenticate_user(services, username: str, password: str, ip: str | None = None,
                      device_cookie: str | None = None) -> User | None:
    """The user if the password is right and the account enabled; failures are recorded as security events.

    ``device_cookie`` names the browser's valid device cookie for this username (``web/device_cookie.py``),
    whose own budget a failure spends (``throttle.py``).

    An unknown username costs the same argon2 verification as a wrong password, and neither holds
    a transaction (on SQLite, the write lock) through it: the reads end before the check, the
    writes (a rehash, the failure's security event, then the caller's session) begin after it."""
    user = find_user(username)
    password_hash = user.password_hash if user else None
    release_reads()
    ok = services.passwords.verify(password_hash, password)
    begin_write()
    if ok and not user.is_disabled:
        if services.passwords.needs_rehash(user.password_hash):
            user.password_hash = services.passwords.hash(password)
        return user
    reason = FAILED_DISABLED if ok else FAILED_BAD_CREDENTIALS
    security_events.record_event(security_events.LOGIN_FAILED, services.clock.now(), user=user, username=username[:150], ip=ip,
                       device_cookie=device_cookie, reason=reason)
    metrics.count("failed_signins", reason=reason)
    return None


def disable_user(services, user: User, actor: str | None, ip: str | None = None) -> int:
    """Disable a user and end every session of theirs at once. Returns how many sessions ended."""
    now = services.clock.now()
    if user.disabled_at is None:
        user.disabled_at = now
        security_events.record_event(security_events.USER_DISABLED, now, user=user, actor=actor, ip=ip)
    return services.sessions.end_user_sessions(user.id, ENDED_USER_DISABLED, actor=actor, ip=ip)
