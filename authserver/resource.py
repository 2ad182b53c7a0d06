"""Protecting APIs with authserver's access tokens (RFC 6750 bearer, RFC 9068 JWT profile).

``require_oauth`` is an Authlib ``ResourceProtector``. Inside authserver the validator checks the
JWT against the key ring and then asks the session service whether the token is still live (its
device session not ended, its `jti` not revoked, its user not disabled): a JWT that has not
expired is still refused once its session is gone.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator

from .services import current_services

__all__ = ["require_oauth", "current_token", "SessionBoundTokenValidator"]


class SessionBoundTokenValidator(JWTBearerTokenValidator):
    """Offline JWT checks (signature, `typ`, `iss`, `aud`, `exp`) plus the live-session check."""

    def __init__(self):
        super().__init__(issuer=None, resource_server=None)

    @property
    def services(self):
        # Resolved per request, so one protector serves every app instance (tests build many).
        return current_services()

    def validate_iss(self, claims, iss):
        return iss == self.services.settings.issuer

    @property
    def resource_server(self):  # the expected `aud`
        return self.services.settings.token_audience

    @resource_server.setter
    def resource_server(self, _value):
        pass  # fixed by settings

    def get_jwks(self):
        return self.services.keyring.verification_key_set()

    def authenticate_token(self, token_string):
        token = super().authenticate_token(token_string)
        if token.header.get("typ") != "at+jwt" or token.header.get("alg") != "RS256":
            raise InvalidTokenError(realm=self.realm)
        return token

    def validate_token(self, token, scopes, request, **kwargs):
        super().validate_token(token, scopes, request, **kwargs)
        session = self.services.sessions.live_session(token.get("sid") or "")
        if session is None or self.services.sessions.is_access_token_denied(token["jti"]):
            raise InvalidTokenError(realm=self.realm, description="The access token is no longer active.")
        # Views read the session (and its user) from the token instead of querying again.
        token.device_session = session


require_oauth = ResourceProtector()
require_oauth.register_token_validator(SessionBoundTokenValidator())
