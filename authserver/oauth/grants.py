"""Grants (RFC 6749 §4.3 password, §6 refresh) that open and rotate device sessions.

Authlib runs the protocol steps; the session rules (who may refresh, reuse detection, the grace
window, locking) live in ``sessions.py`` and run inside ``authenticate_refresh_token`` within
one transaction that ``save_token`` commits.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import g
from flask import request as http_request

from .. import accounts
from ..models import AUTH_METHODS
from ..models import GRANT_REFRESH_TOKEN
from ..services import current_services
from ..sessions import DeviceContext
from ..sessions import RefreshTokenInvalid
from ..sessions import ScopeNotGranted
from ..throttle import login_retry_after

ADMIN_SCOPE = "admin"


def device_context(device_name: str | None = None) -> DeviceContext:
    """What the current HTTP request tells about the device, cut to fit its columns (models.py):
    anyone can send a long User-Agent, and it must not stop them from signing in."""
    return DeviceContext(ip=storable(http_request.remote_addr, 64),
                         user_agent=storable(http_request.user_agent.string, 512),
                         device_name=storable(device_name, 200))


def storable(text: str | None, length: int) -> str | None:
    """Text as a column can hold it: no NUL, at most ``length`` characters; None if nothing is left."""
    return (text or "").replace("\x00", "").strip()[:length] or None


def scope_for_user(client, user, requested: str | None) -> str:
    """The scope to grant: the client's (or the requested subset), `admin` only for admins."""
    scope = client.get_allowed_scope(requested)  # raises invalid_scope beyond the client's
    scopes = scope.split()
    if ADMIN_SCOPE in scopes and not user.is_admin:
        if requested:
            raise InvalidScopeError("The 'admin' scope is only for administrators.")
        scopes.remove(ADMIN_SCOPE)
    return " ".join(scopes)


def issue_session_tokens(grant, user, session, refresh_token: str, scope: str) -> dict:
    """Sign an access token for the session and attach the session's refresh token."""
    g.device_session_id = session.id
    token = grant.generate_token(user=user, scope=scope, include_refresh_token=False)
    if grant.request.client.check_grant_type(GRANT_REFRESH_TOKEN):
        token["refresh_token"] = refresh_token
    return token


class TooManyFailedLogins(OAuth2Error):
    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__("Too many failed sign-ins; retry later.")
        self.retry_after = retry_after

    def get_headers(self):
        return super().get_headers() + [("Retry-After", str(self.retry_after))]


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """First-party apps only: a client must be registered with the password grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_user(self, username, password):
        services = current_services()
        retry_after = login_retry_after(services, username, http_request.remote_addr)
        if retry_after:
            raise TooManyFailedLogins(retry_after)
        user = accounts.authenticate_user(services, username, password, ip=http_request.remote_addr)
        if user is None:
            # Same answer for an unknown user, a wrong password and a disabled account.
            raise InvalidGrantError("The username or password is incorrect.")
        return user

    def validate_token_request(self):
        super().validate_token_request()
        self.request.granted_scope = scope_for_user(self.request.client, self.request.user,
                                                    self.request.payload.scope)

    def create_token_response(self):
        user, client, scope = self.request.user, self.request.client, self.request.granted_scope
        session, refresh_token = current_services().sessions.open_session(
            user, client, scope, device_context(self.request.form.get("device_name")))
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


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        try:
            rotation = current_services().sessions.rotate_refresh_token(
                refresh_token, self.request.client.client_id, device_context(),
                requested_scope=self.request.payload.scope)
        except ScopeNotGranted:
            raise InvalidScopeError("The requested scope exceeds the scope originally granted.") from None
        except RefreshTokenInvalid:
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.") from None
        return RotatedRefreshToken(rotation)

    def authenticate_user(self, refresh_token):
        return refresh_token.rotation.session.user

    def issue_token(self, user, refresh_token):
        # A narrowed refresh narrows the access token only; the successor keeps the session's scope.
        rotation = refresh_token.rotation
        scope = self.request.payload.scope or rotation.session.scope
        return issue_session_tokens(self, user, rotation.session, rotation.refresh_token, scope)

    def revoke_old_credential(self, refresh_token):
        pass  # rotate_refresh_token already marked it used, in the same transaction
