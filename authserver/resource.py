"""Protecting authserver's own APIs with its access tokens (RFC 6750 bearer, RFC 9068 JWT profile).

``require_oauth`` is an Authlib ``ResourceProtector`` whose validator asks ``oauth/access_tokens.py``
(the same check introspection uses) whether the token is one of ours and still live: signed by a
published key, RS256, ``typ`` at+jwt, ``iss``/``aud``/``exp`` right, its device session not ended,
its ``jti`` not revoked, its user not disabled. A JWT that has not expired is still refused once
its session is gone. Views find the caller's session as ``current_token.device_session``.

Other Flask apps protect their APIs with ``resource_server.py`` instead (JWKS and introspection
over HTTP).
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError

from .oauth.access_tokens import live_access_token
from .services import current_services

__all__ = ["require_oauth", "current_token", "SessionBoundTokenValidator"]


class SessionBoundTokenValidator(BearerTokenValidator):
    """A bearer token is accepted only while ``access_tokens.live_access_token`` says it is live."""

    def authenticate_token(self, token_string):
        # Resolved per request, so one protector serves every app instance (tests build many).
        live = live_access_token(current_services(), token_string)
        if live is None:
            raise InvalidTokenError(realm=self.realm, description="The access token is invalid, expired or revoked.")
        token = live.claims
        # Views read the session (and its user) from the token instead of querying again.
        token.device_session = live.session
        return token

    def validate_token(self, token, scopes, request, **kwargs):
        if self.scope_insufficient(token.get("scope"), scopes):
            raise InsufficientScopeError()


require_oauth = ResourceProtector()
require_oauth.register_token_validator(SessionBoundTokenValidator())
