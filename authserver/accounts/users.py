"""Users: the rules for creating them, checking and changing their passwords and disabling them (their rows
are ``store/users.py``). A password change and disabling a user are announced to the security event
streams (``services.shared_signals``: CAEP credential-change, RISC account-disabled) in the same
transaction. Nothing here commits."""

from __future__ import annotations

from ..errors import AccountError
from ..errors import UserNotFound
from ..sessions.device_sessions import ENDED_USER_DISABLED
from ..store import security_events
from ..store.models import User
from ..store.users import add_user
from ..store.users import check_password
from ..store.users import find_user
from .passwords import check_new_password

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


def require_user(username: str) -> User:
    """The user named ``username``; :class:`UserNotFound` if there is none."""
    user = find_user(username)
    if user is None:
        raise UserNotFound(username)
    return user


def create_user(services, username: str, password: str, email: str | None = None, admin: bool = False) -> User:
    username = username.strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username) or not username.isprintable():
        raise AccountError("usernames are 1 to 150 printable characters without spaces")
    check_email(email)
    if find_user(username) is not None:
        raise AccountError(f"user {username!r} already exists")
    check_new_password(password)
    return add_user(User(username=username, email=email, password_hash=services.passwords.hash(password),
                         is_admin=admin, created_at=services.clock.now()))


def set_password(services, user: User, password: str, actor: str | None, ip: str | None = None) -> None:
    """Give the user a new password (their sessions live on). Announced as a CAEP credential-change,
    initiated by the user themselves or, for anyone else (an operator, the command line), an admin."""
    check_new_password(password)  # the same rule as a new account's (NIST SP 800-63B)
    now = services.clock.now()
    user.password_hash = services.passwords.hash(password)
    security_events.record_event(security_events.PASSWORD_CHANGED, now, user=user, actor=actor, ip=ip)
    if services.shared_signals is not None:
        services.shared_signals.credential_changed(now, user.id, "user" if actor == user.username else "admin")


def authenticate_user(services, username: str, password: str, ip: str | None = None,
                      device_cookie: str | None = None) -> User | None:
    """The user if the password is right and the account enabled; failures are recorded as security events.

    ``device_cookie`` names the browser's valid device cookie for this username (``web/device_cookie.py``),
    whose own budget a failure spends (``throttle.py``).

    An unknown username costs the same argon2 verification as a wrong password, and neither holds
    a transaction (on SQLite, the write lock) through it (``store/users.py``)."""
    user, ok = check_password(username, lambda password_hash: services.passwords.verify(password_hash, password))
    if ok and not user.is_disabled:
        if services.passwords.needs_rehash(user.password_hash):
            user.password_hash = services.passwords.hash(password)
        return user
    reason = FAILED_DISABLED if ok else FAILED_BAD_CREDENTIALS
    security_events.record_event(security_events.LOGIN_FAILED, services.clock.now(), user=user, username=username[:150], ip=ip,
                       device_cookie=device_cookie, reason=reason)
    services.metrics.count("failed_signins", reason=reason)
    return None


def disable_user(services, user: User, actor: str | None, ip: str | None = None) -> int:
    """Disable a user and end every session of theirs at once. Returns how many sessions ended."""
    now = services.clock.now()
    if user.disabled_at is None:
        user.disabled_at = now
        security_events.record_event(security_events.USER_DISABLED, now, user=user, actor=actor, ip=ip)
        if services.shared_signals is not None:  # before its sessions' session-revoked events, in each stream
            services.shared_signals.account_disabled(now, user.id)
    return services.sessions.end_user_sessions(user.id, ENDED_USER_DISABLED, actor=actor, ip=ip)
