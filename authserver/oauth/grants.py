"""Grants (RFC 6749 §4.3 password, §6 refresh) that open and rotate device sessions.

Authlib runs the protocol steps; the session rules live in ``sessions.py`` and the refresh-token
chain (who may refresh, reuse detection, the grace window, locking) in ``refresh_tokens.py``, run
inside ``authenticate_refresh_token``. The request's unit of work commits (``database.py``).
"""

from __future__ import annotations

from contextlib import contextmanager

from authlib.oauth2.rfc6749 import grants

from .. import accounts
from .. import throttle
from ..database import reads_first
from ..errors import InvalidGrantError
from ..errors import InvalidScopeError
from ..models import AUTH_METHODS
from ..models import GRANT_REFRESH_TOKEN
from ..openapi import schema
from ..refresh_tokens import RefreshTokenInvalid
from ..refresh_tokens import RefreshTokenUnknown
from ..refresh_tokens import ScopeNotGranted
from ..request_context import client_ip
from ..request_context import device_context
from ..request_log import annotate
from ..scopes import granted_scope
from ..services import current_services
from .access_tokens import TokenSubject
from .client_auth import FORM_FIELDS

SCOPE_FIELD = {"type": "string", "description": "Space-separated scopes (RFC 6749 §3.3); a subset of the client's."}


TOKEN_RESPONSE = schema("TokenResponse", {
    "description": "RFC 6749 §5.1. `refresh_token` for clients registered with the refresh_token grant.",
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "An RS256 JWT (RFC 9068), `typ` `at+jwt`."},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 1},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
    "additionalProperties": False,
})


def grant_form(name: str, grant_type: str, description: str, required=(), **properties) -> dict:
    """The OpenAPI schema of one grant's token request form: its own fields and the client's."""
    return schema(name, {
        "description": description,
        "type": "object",
        "required": ["grant_type", *required],
        "properties": {"grant_type": {"const": grant_type}, **properties, **FORM_FIELDS},
    })


def issue_session_tokens(grant, user, session, refresh_token: str, scope: str) -> dict:
    """Sign an access token for the session and attach the session's refresh token."""
    token = grant.generate_token(user=TokenSubject(user, session.id), scope=scope, include_refresh_token=False)
    if grant.request.client.check_grant_type(GRANT_REFRESH_TOKEN):
        token["refresh_token"] = refresh_token
    return token


class ReadsBeforeWriting:
    """A grant whose checks only read: they run outside a transaction (no write lock on SQLite, no
    BEGIN/COMMIT round trips), and its first write begins one (``database.begin_write``), after
    the slow steps (an argon2 check, signing)."""

    def validate_token_request(self):
        reads_first()
        super().validate_token_request()


class PasswordGrant(ReadsBeforeWriting, grants.ResourceOwnerPasswordCredentialsGrant):
    """First-party apps only: a client must be registered with the password grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    FORM = grant_form(
        "PasswordGrantForm", "password", "RFC 6749 §4.3.2. Opens a device session.", ("username", "password"),
        username={"type": "string", "minLength": 1}, password={"type": "string", "minLength": 1}, scope=SCOPE_FIELD,
        device_name={"type": "string", "description": "A name for the device, shown in My devices; "
                                                      "otherwise one is made from the User-Agent."})

    def validate_token_request(self):
        super().validate_token_request()
        self.request.granted_scope = granted_scope(self.request.client, self.request.user,
                                                    self.request.payload.scope)

    def authenticate_token_endpoint_client(self):
        # Authlib sets request.client only after authenticate_user, which needs it first: a client
        # that signed the user in from this address before is exempt from the account budget.
        self.authenticated_client = super().authenticate_token_endpoint_client()
        return self.authenticated_client

    def authenticate_user(self, username, password):
        services = current_services()
        ip = client_ip()
        throttle.check_login(services, username, ip, client_id=self.authenticated_client.client_id)
        user = accounts.authenticate_user(services, username, password, ip=ip)
        if user is None:
            # Same answer for an unknown user, a wrong password and a disabled account.
            raise InvalidGrantError("The username or password is incorrect.")
        return user

    def create_token_response(self):
        user, client, scope = self.request.user, self.request.client, self.request.granted_scope
        services = current_services()
        session = services.sessions.open_session(user, client, scope, device_context(self.request.form.get("device_name")))
        annotate(session_id=session.id)
        refresh_token = services.refresh_tokens.start_chain(session)
        token = issue_session_tokens(self, user, session, refresh_token, scope)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RotatedRefreshToken:
    """The presented refresh token, already rotated, as Authlib's grant expects to see it."""

    def __init__(self, rotation):
        self.rotation = rotation

    def check_client(self, client):
        return True  # checked before rotating, inside the lock

    def get_scope(self):
        return self.rotation.session.scope


class RefreshGrant(ReadsBeforeWriting, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True
    FORM = grant_form(
        "RefreshTokenGrantForm", "refresh_token", "RFC 6749 §6. Rotates the refresh token: keep the new one.",
        ("refresh_token",), refresh_token={"type": "string", "minLength": 1},
        scope={**SCOPE_FIELD, "description": "Less than the session's, for this access token only."})

    def authenticate_refresh_token(self, refresh_token):
        services = current_services()
        with refresh_token_errors(services, self.request.client.client_id):
            rotation = services.refresh_tokens.prepare_rotation(
                refresh_token, self.request.client.client_id, device_context(), requested_scope=self.request.payload.scope)
        annotate(session_id=rotation.session.id)
        return RotatedRefreshToken(rotation)

    def authenticate_user(self, refresh_token):
        return refresh_token.rotation.session.user

    def _validate_token_scope(self, refresh_token):
        # Instead of Authlib's check: the one rule, with the session's scope as the ceiling (a
        # refresh never widens). The store refused a scope beyond the session's before writing.
        session = refresh_token.rotation.session
        self.request.granted_scope = granted_scope(self.request.client, session.user, self.request.payload.scope,
                                                   granted_before=session.scope)

    def issue_token(self, user, refresh_token):
        # Signed first, the rotation written after: the write lock is held for the writes only.
        # A narrowed refresh narrows the access token only; the successor keeps the session's scope.
        rotation = refresh_token.rotation
        token = issue_session_tokens(self, user, rotation.session, rotation.refresh_token, self.request.granted_scope)
        with refresh_token_errors(current_services(), self.request.client.client_id):
            # The successor and session stay the same whichever way it completes (a parallel
            # rotation makes this one a grace-window retry) or it raises.
            current_services().refresh_tokens.complete_rotation(rotation)
        return token

    def revoke_old_credential(self, refresh_token):
        pass  # complete_rotation marked it used, in the same transaction


@contextmanager
def refresh_token_errors(services, client_id: str):
    """The refresh-token chain's refusals as the token endpoint answers them."""
    try:
        yield
    except ScopeNotGranted:
        raise InvalidScopeError("The requested scope exceeds the scope originally granted.") from None
    except RefreshTokenUnknown:
        # Not a token of this client's at all: scanning counts against the lookup budgets.
        throttle.record_lookup_failure(services, client_id, client_ip(), "token")
        raise InvalidGrantError("The refresh token is invalid, expired or revoked.") from None
    except RefreshTokenInvalid:
        raise InvalidGrantError("The refresh token is invalid, expired or revoked.") from None
