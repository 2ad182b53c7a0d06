"""Users and OAuth clients: creating them, checking passwords, disabling users. Nothing here commits."""

from __future__ import annotations

import re
import secrets
import threading
import time
from urllib.parse import urlsplit

from sqlalchemy import bindparam
from sqlalchemy import select

from . import audit
from . import metrics
from .database import begin_write
from .database import db
from .database import release_reads
from .models import AUTH_METHODS
from .models import Client
from .models import User
from .models import new_client_id
from .models import sha256_hex
from .sessions import ENDED_USER_DISABLED

# Why a sign-in failed (the `reason` of a login_failed event); callers are told neither.
FAILED_BAD_CREDENTIALS = "bad_credentials"
FAILED_DISABLED = "disabled"
FAILURE_REASONS = (FAILED_BAD_CREDENTIALS, FAILED_DISABLED)


class AccountError(ValueError):
    """A request to create or change an account that cannot be honoured (message is for people)."""


# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), no quote, backslash or space.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
# Schemes a browser would run rather than navigate to: never a place to send a code or token.
EXECUTABLE_SCHEMES = {"javascript", "data", "vbscript", "file", "blob", "about"}


def check_email(email: str | None) -> None:
    if email is None:
        return
    local, at, domain = email.partition("@")
    if not (at and local and domain) or len(email) > 254 or not email.isprintable() or " " in email:
        raise AccountError(f"{email!r} is not an email address")


def check_scope(scope: str) -> None:
    for token in scope.split():
        if not SCOPE_TOKEN.fullmatch(token):
            raise AccountError(f"{token!r} is not a scope: RFC 6749 scopes are printable ASCII without '\"' or '\\'")


def check_redirect_uri(uri: str) -> None:
    """RFC 6749 §3.1.2: absolute, no fragment; RFC 8252 private-use schemes are fine for native apps."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if (parts is None or not parts.scheme or parts.fragment or "#" in uri or not uri.isprintable() or " " in uri
            or parts.scheme.lower() in EXECUTABLE_SCHEMES
            or (parts.scheme.lower() in ("http", "https") and not parts.hostname)):
        raise AccountError(f"{uri!r} is not a redirect URI: it must be absolute, without a fragment")


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
    audit.record_event(audit.LOGIN_FAILED, services.clock.now(), user=user, username=username[:150], ip=ip,
                       device_cookie=device_cookie, reason=reason)
    metrics.count("failed_signins", reason=reason)
    return None


CLIENT_CACHE_SECONDS = 5.0
CLIENT_ROW = select(Client.__table__).where(Client.__table__.c.client_id == bindparam("client_id"))


class ClientCache:
    """Clients by id, read from the database at most once every ``seconds`` per process.

    Every token, introspection and revocation request looks its client up; clients change
    rarely, and a cached one holds nothing to steal (secrets are digests). A client registered
    is found at once; one changed is seen within ``seconds``. Cached clients are transient objects,
    never attached to a database session, shared read-only by the process's threads."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float = CLIENT_CACHE_SECONDS, monotonic=time.monotonic):
        self.seconds = seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        now = self._monotonic()
        hit = self._entries.get(client_id)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        row = db.session.connection().execute(CLIENT_ROW, {"client_id": client_id}).mappings().first()
        with self._lock:
            if row is None:
                self._entries.pop(client_id, None)
                return None
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            client = Client(**row)
            self._entries[client_id] = (now, client)
        return client


def disable_user(services, user: User, actor: str | None, ip: str | None = None) -> int:
    """Disable a user and end every session of theirs at once. Returns how many sessions ended."""
    now = services.clock.now()
    if user.disabled_at is None:
        user.disabled_at = now
        audit.record_event(audit.USER_DISABLED, now, user=user, actor=actor, ip=ip)
    return services.sessions.end_user_sessions(user.id, ENDED_USER_DISABLED, actor=actor, ip=ip)


def create_client(services, name: str, grant_types: list[str], scope: str, auth_method: str,
                  redirect_uris: list[str] = (), introspect: bool = False,
                  client_id: str | None = None, first_party: bool = False) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret (shown once, stored only as a digest).

    ``client_id`` is for the server's own first-party clients; registered clients get a random one."""
    if auth_method not in AUTH_METHODS:
        raise AccountError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
    if not name.strip():
        raise AccountError("the client needs a name")
    if len(name.strip()) > 200 or not name.isprintable():
        raise AccountError("a client name is at most 200 printable characters")
    check_scope(scope)
    for uri in redirect_uris:
        check_redirect_uri(uri)
    if introspect and auth_method == "none":
        raise AccountError("a public client (auth method none) cannot introspect tokens")
    if "authorization_code" in grant_types and not redirect_uris:
        raise AccountError("the authorization_code grant needs at least one --redirect-uri")
    secret = None if auth_method == "none" else secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id or new_client_id(),
        name=name.strip(),
        secret_digest=sha256_hex(secret) if secret else None,
        auth_method=auth_method,
        grant_types=" ".join(dict.fromkeys(grant_types)),
        scope=" ".join(dict.fromkeys(scope.split())),
        redirect_uris=" ".join(redirect_uris),
        can_introspect=introspect,
        first_party=first_party,
        created_at=services.clock.now(),
    )
    db.session.add(client)
    db.session.flush()
    return client, secret
