"""Tables: users, OAuth clients, device sessions, refresh tokens, consents, authorization codes, the
access-token deny list, the append-only security event log, the outbox and initial access tokens. Secrets
are never stored: client secrets, registration and initial access tokens, refresh tokens and authorization
codes are kept as SHA-256 digests (they are high-entropy, so a fast hash is enough and keeps the token
endpoint cheap); passwords as argon2id hashes (see ``passwords.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import BigInteger
from sqlalchemy import Index
from sqlalchemy import Integer

from ..redirect_uris import matches
from ..scopes import requested_of_client
from ..scopes import within
from .database import UTCDateTime
from .database import db

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

GRANT_REFRESH_TOKEN = "refresh_token"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
# Room for a Client ID Metadata Document's URL (an https URL as client id), not only our own ids.
CLIENT_ID_LENGTH = 255
CLIENT_ID = db.String(CLIENT_ID_LENGTH)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_user_id() -> str:
    return str(uuid.uuid4())


def new_client_id() -> str:
    # The "client_" prefix keeps client ids disjoint from user ids (UUIDs), so a token's `sub`
    # can never be mistaken for a client.
    return "client_" + secrets.token_urlsafe(18)


class User(db.Model):
    __tablename__ = "users"

    id = db.Column(db.String(36), primary_key=True, default=new_user_id)
    username = db.Column(db.String(150), nullable=False, unique=True)
    email = db.Column(db.String(254))
    password_hash = db.Column(db.String(255), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(UTCDateTime, nullable=False)
    disabled_at = db.Column(UTCDateTime)

    def get_user_id(self) -> str:
        return self.id

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None


class Client(db.Model, ClientMixin):
    __tablename__ = "clients"

    client_id = db.Column(CLIENT_ID, primary_key=True, default=new_client_id)
    name = db.Column(db.String(200), nullable=False)
    secret_digest = db.Column(db.String(64))
    auth_method = db.Column(db.String(32), nullable=False)
    grant_types = db.Column(db.Text, nullable=False, default="")
    scope = db.Column(db.Text, nullable=False, default="")
    redirect_uris = db.Column(db.Text, nullable=False, default="")
    can_introspect = db.Column(db.Boolean, nullable=False, default=False)
    # The server's own apps: the authorization endpoint skips the consent page for them.
    first_party = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())
    created_at = db.Column(UTCDateTime, nullable=False)
    # OpenID Connect logout (RP-Initiated Logout 1.0 §3, Back-Channel Logout 1.0 §2.2): where to send the
    # browser after a logout (space-separated, like redirect_uris), and where to POST logout tokens.
    post_logout_redirect_uris = db.Column(db.Text, nullable=False, default="", server_default="")
    backchannel_logout_uri = db.Column(db.Text)

    @property
    def grant_type_list(self) -> list[str]:
        return self.grant_types.split()

    @property
    def scope_list(self) -> list[str]:
        return self.scope.split()

    @property
    def redirect_uri_list(self) -> list[str]:
        return self.redirect_uris.split()

    # -- authlib ClientMixin --------------------------------------------------------------
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        uris = self.redirect_uri_list
        return uris[0] if uris else None

    def get_allowed_scope(self, scope):
        # Authlib asks this at the authorization endpoint (before the user is known). The scope a
        # grant issues is decided by scopes.granted_scope alone, so no Authlib default widens it:
        # beyond the client's is refused; nothing requested stays nothing.
        return " ".join(requested_of_client(self, scope))

    def check_redirect_uri(self, redirect_uri):
        # Exactly as registered; a loopback one on any port (RFC 8252 §7.3): redirect_uris.py.
        return any(matches(registered, redirect_uri) for registered in self.redirect_uri_list)

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        """Registered with --post-logout-redirect-uri (RP-Initiated Logout 1.0 §3: exactly)."""
        return uri in self.post_logout_redirect_uris.split()

    def check_client_secret(self, client_secret):
        if not self.secret_digest:
            return False
        return hmac.compare_digest(self.secret_digest, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        # Each client authenticates with the one method it was registered with, everywhere.
        if method != self.auth_method:
            return False
        if endpoint == "introspection":
            return self.can_introspect and method != "none"
        return True

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_type_list

    def check_response_type(self, response_type):
        return response_type == "code" and self.check_grant_type("authorization_code")

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


class BrowserSignIn:
    """The browser sign-in behind an authorization code and the session its exchange opens: when the
    user really signed in (OpenID Connect's ``auth_time``; None on a session: at ``created_at``), and
    that browser's web session (My devices lists the apps each browser signed in to)."""

    auth_time = db.Column(UTCDateTime)
    browser_session_id = db.Column(db.String(36))


class DeviceSession(BrowserSignIn, db.Model):
    """One sign-in on one device: the unit a user sees in "My devices" and can end."""

    __tablename__ = "device_sessions"

    id = db.Column(db.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    user_id = db.Column(db.String(36), db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    client_id = db.Column(CLIENT_ID, db.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False)
    scope = db.Column(db.Text, nullable=False, default="")
    device_name = db.Column(db.String(200))
    user_agent = db.Column(db.String(512))
    ip = db.Column(db.String(64))
    restricted = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(UTCDateTime, nullable=False)
    last_active_at = db.Column(UTCDateTime, nullable=False)
    expires_at = db.Column(UTCDateTime, nullable=False)
    ended_at = db.Column(UTCDateTime)
    ended_reason = db.Column(db.String(32))
    ended_by = db.Column(db.String(150))

    user = db.relationship(User, lazy="joined")
    client = db.relationship(Client, lazy="joined")

    __table_args__ = (Index("ix_device_sessions_user_ended", "user_id", "ended_at"),)

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None

    @property
    def signed_in_at(self):
        return self.auth_time or self.created_at


class RefreshToken(db.Model):
    """One generation of a session's refresh-token chain. Used rows stay as tombstones (hash only)
    so a replayed token is recognised as reuse for as long as the session could live."""

    __tablename__ = "refresh_tokens"

    id = db.Column(BigId, primary_key=True, autoincrement=True)
    session_id = db.Column(
        db.String(36), db.ForeignKey("device_sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    parent_id = db.Column(BigId, db.ForeignKey("refresh_tokens.id", ondelete="CASCADE"), index=True)
    generation = db.Column(db.Integer, nullable=False, default=0)
    client_id = db.Column(CLIENT_ID, nullable=False)
    issued_at = db.Column(UTCDateTime, nullable=False)
    used_at = db.Column(UTCDateTime)


class Consent(db.Model):
    """What a user let a client do: the scopes granted so far (one row per user and client)."""

    __tablename__ = "consents"

    user_id = db.Column(db.String(36), db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_id = db.Column(CLIENT_ID, db.ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True)
    scope = db.Column(db.Text, nullable=False, default="")
    granted_at = db.Column(UTCDateTime, nullable=False)

    client = db.relationship(Client, lazy="joined")

    def covers(self, scope: str) -> bool:
        return within(scope, self.scope)


class AuthorizationCode(BrowserSignIn, db.Model):
    """An authorization code (RFC 6749 §4.1.2), stored as a digest. Single use: ``used_at`` is set
    by the exchange, which records the session it opened so a second use can end it (§4.1.2)."""

    __tablename__ = "authorization_codes"

    code_hash = db.Column(db.String(64), primary_key=True)
    client_id = db.Column(CLIENT_ID, db.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False)
    user_id = db.Column(db.String(36), db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    redirect_uri = db.Column(db.Text)
    scope = db.Column(db.Text, nullable=False, default="")
    code_challenge = db.Column(db.String(128))
    code_challenge_method = db.Column(db.String(10))
    # The browser that approved: the device of the session the exchange opens.
    user_agent = db.Column(db.String(512))
    ip = db.Column(db.String(64))
    created_at = db.Column(UTCDateTime, nullable=False)
    expires_at = db.Column(UTCDateTime, nullable=False, index=True)
    used_at = db.Column(UTCDateTime)
    session_id = db.Column(db.String(36))
    # OpenID Connect (Core 1.0 §3.1.2.1): the request's `nonce`, returned in the ID token.
    nonce = db.Column(db.String(255))

    user = db.relationship(User, lazy="joined")

    __table_args__ = (Index("ix_authorization_codes_client_nonce", "client_id", "nonce"),)

    # authlib's AuthorizationCodeMixin (oidc.core's, for the ID token)
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return int(self.auth_time.timestamp()) if self.auth_time else None

    def get_acr(self):
        return None

    def get_amr(self):
        return None

    @property
    def is_used(self) -> bool:
        return self.used_at is not None


class DeviceAuthorization(db.Model):
    """A device authorization request (RFC 8628 §3.1) awaiting, or given, the user's decision.

    The device code and the user code are stored as digests. ``status`` moves pending → approved or
    denied → used (tokens issued once); ``interval`` grows by 5 s each time the device polls too fast."""

    __tablename__ = "device_authorizations"

    device_code_hash = db.Column(db.String(64), primary_key=True)
    user_code_hash = db.Column(db.String(64), nullable=False, unique=True)
    client_id = db.Column(CLIENT_ID, db.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False)
    scope = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(16), nullable=False, default="pending")
    user_id = db.Column(db.String(36), db.ForeignKey("users.id", ondelete="CASCADE"))
    # The device that asked: the device of the restricted session an approval opens.
    device_name = db.Column(db.String(200))
    user_agent = db.Column(db.String(512))
    ip = db.Column(db.String(64))
    interval = db.Column(db.Integer, nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False)
    expires_at = db.Column(UTCDateTime, nullable=False, index=True)
    last_polled_at = db.Column(UTCDateTime)
    decided_at = db.Column(UTCDateTime)
    session_id = db.Column(db.String(36))

    client = db.relationship(Client, lazy="joined")
    user = db.relationship(User, lazy="joined")


class RevokedAccessToken(db.Model):
    """The `jti` deny list: kept until the token would have expired anyway, then pruned."""

    __tablename__ = "revoked_access_tokens"

    jti = db.Column(db.String(64), primary_key=True)
    expires_at = db.Column(UTCDateTime, nullable=False, index=True)
    revoked_at = db.Column(UTCDateTime, nullable=False)


class SecurityEvent(db.Model):
    """Append-only log: sign-ins, failures, reuse detections, ended sessions, disabled users."""

    __tablename__ = "security_events"

    id = db.Column(BigId, primary_key=True, autoincrement=True)
    kind = db.Column(db.String(40), nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False, index=True)
    user_id = db.Column(db.String(36), index=True)
    username = db.Column(db.String(150))
    session_id = db.Column(db.String(36))
    client_id = db.Column(CLIENT_ID)
    ip = db.Column(db.String(64))
    actor = db.Column(db.String(150))
    detail = db.Column(db.Text)
    # A failed sign-in from a browser holding a valid device cookie for that username: the SHA-256
    # of the cookie's nonce (never the cookie), counted by the per-device budget (throttle.py).
    device_cookie = db.Column(db.String(64))

    __table_args__ = (Index("ix_security_events_username_created", "username", "created_at"),
                      # A user's own sign-ins, found without walking the failures a guessing attack adds.
                      Index("ix_security_events_username_kind_created", "username", "kind", "created_at"))


class OutboxMessage(db.Model):
    """One outbound HTTP POST waiting to be delivered (``store/outbox.py``, ``outbound/``). Written in
    the transaction of the change it announces; deleted once acknowledged or given up.

    ``next_attempt_at`` is also the lease: claiming a message moves it past the longest a delivery can
    take, so no other worker takes it meanwhile, and one whose worker died becomes due again by itself.
    ``attempts`` counts the claims and fences the outcome: only the claim that is still the latest
    may record one."""

    __tablename__ = "outbox"

    id = db.Column(BigId, primary_key=True, autoincrement=True)
    kind = db.Column(db.String(40), nullable=False)
    url = db.Column(db.Text, nullable=False)
    body = db.Column(db.LargeBinary, nullable=False)
    content_type = db.Column(db.String(100), nullable=False)
    headers = db.Column(db.Text)  # JSON object of extra request headers, or NULL
    # The statuses that acknowledge it: space-separated codes or classes ("2xx", "202").
    acknowledge = db.Column(db.String(100), nullable=False)
    # Messages sharing a key are delivered one at a time, oldest first (a stream's security events).
    ordering_key = db.Column(db.String(200))
    client_id = db.Column(CLIENT_ID)
    created_at = db.Column(UTCDateTime, nullable=False)
    next_attempt_at = db.Column(UTCDateTime, nullable=False)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    last_error = db.Column(db.String(300))

    __table_args__ = (Index("ix_outbox_next_attempt_at", "next_attempt_at"),
                      # "Is an older message of this key still waiting?", asked for each keyed candidate.
                      Index("ix_outbox_ordering_key_id", "ordering_key", "id"),
                      Index("ix_outbox_created_at", "created_at"))


# Why a session ended (stored in device_sessions.ended_reason).
ENDED_BY_USER = "user"
ENDED_BY_ADMIN = "admin"
ENDED_BY_REVOCATION = "revocation"
ENDED_BY_REUSE = "refresh_token_reuse"
ENDED_IDLE = "idle_timeout"
ENDED_MAX_AGE = "max_age"
ENDED_USER_DISABLED = "user_disabled"
END_REASONS = (ENDED_BY_USER, ENDED_BY_ADMIN, ENDED_BY_REVOCATION, ENDED_BY_REUSE, ENDED_IDLE, ENDED_MAX_AGE,
               ENDED_USER_DISABLED)


@dataclass(frozen=True)
class DeviceContext:
    """What the server observed about the device making a request."""

    ip: str | None = None
    user_agent: str | None = None
    device_name: str | None = None


# -- clients that register themselves (RFC 7591, RFC 7592, Client ID Metadata Documents) ----------
# How a client came to be: None for one an operator created (`clients create`), or one of these.
REGISTERED_DYNAMICALLY = "dynamic"  # RFC 7591, at the registration endpoint
REGISTERED_BY_DOCUMENT = "metadata_document"  # its client id is the URL of its metadata document
Client.registration = db.Column(db.String(20))
# RFC 7592: the digest of the registration access token that reads, updates and deletes it.
Client.registration_token_digest = db.Column(db.String(64), unique=True)
# RFC 7591 §2 metadata kept only to be echoed (client_uri, logo_uri, software_id…), a JSON object.
Client.registration_metadata = db.Column(db.Text)
# A metadata document's client: its cached document is fresh until then (Cache-Control, a day at most).
Client.document_expires_at = db.Column(UTCDateTime)
Client.is_self_registered = property(lambda client: client.registration is not None)


class RegistrationToken(db.Model):
    """An initial access token (RFC 7591 §3): lets its holder register clients while
    ``AUTHSERVER_CLIENT_REGISTRATION=token``, ``uses_left`` more times (None: no limit), until
    ``expires_at`` (None: never). Stored as a digest; each use is counted atomically."""

    __tablename__ = "registration_tokens"

    token_digest = db.Column(db.String(64), primary_key=True)
    uses_left = db.Column(db.Integer)
    created_at = db.Column(UTCDateTime, nullable=False)
    expires_at = db.Column(UTCDateTime)


# -- protected resources (RFC 8707) --------------------------------------------------------------
class Resource(db.Model):
    """A protected API or MCP server registered with ``authserver resources add``: a token asked for
    with ``resource`` = its URI has ``aud`` = that URI, and only scopes within ``scope`` (NULL: no
    limit beyond the client's). Grants remember the resources they were authorized for in a
    space-separated ``resources`` column (codes, device authorizations, device sessions)."""

    __tablename__ = "resources"

    uri = db.Column(db.String(2048), primary_key=True)
    name = db.Column(db.String(200))
    scope = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False)

    @property
    def scope_limit(self) -> set[str] | None:
        return None if self.scope is None else set(self.scope.split())


AuthorizationCode.resources = db.Column(db.Text)
DeviceAuthorization.resources = db.Column(db.Text)
DeviceSession.resources = db.Column(db.Text)
