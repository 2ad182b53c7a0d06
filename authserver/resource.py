"""Protecting APIs with authserver's access tokens (RFC 6750 bearer, RFC 9068 JWT profile).

One validator, :class:`AccessTokenValidator`, serves authserver's own API and other Flask apps
alike. It takes the same steps for both, written once here: read the ``kid`` the token names (only
to pick keys), verify the JWT against those keys (``oauth/access_tokens.py``: RS256 only, ``typ``
at+jwt, ``iss``/``aud``/``exp`` right, every claim present), confirm the token is still live, then
check the scope. The two protectors differ only in where the keys come from and how liveness is
confirmed:

- ``require_oauth`` (:class:`SessionBoundTokenValidator`), for authserver's own ``/api/*`` (the
  sessions and admin API, ``api/bearer.py``): the keys of the in-process key ring, and liveness
  from the database by the rule introspection uses (``access_tokens.live_session_for``): its
  device session not ended, its ``jti`` not revoked, its user not disabled. A JWT that has not
  expired is still refused once its session is gone. Views find the caller's session as
  ``current_token.device_session``.
- ``resource_server.resource_protector`` (``RemoteTokenValidator``), for other Flask apps: the
  keys of the server's JWKS, fetched over HTTP and cached, and liveness, if configured, by
  introspection (RFC 7662).

This module is part of the core package: it must not import ``requests``, which only the
``resource-server`` extra installs.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError

from .oauth import access_tokens
from .oauth.access_tokens import AccessTokenClaims
from .services import current_services

__all__ = ["require_oauth", "current_token", "AccessTokenValidator", "SessionBoundTokenValidator"]


class AccessTokenValidator(BearerTokenValidator):
    """Bearer access tokens of authserver: the steps every protector takes, in this order.

    Subclasses say where the keys come from (:meth:`key_set_for`), which issuer, audience and clock
    leeway to expect (:meth:`claims_registry`) and how a verified token is confirmed to be live
    (:meth:`confirm_live`). ``current_token`` is then the verified claims
    (``access_tokens.AccessTokenClaims``)."""

    def authenticate_token(self, token_string):
        kid = access_tokens.unverified_kid(token_string)
        if kid is None:
            raise self.invalid_token()  # we always name the key; nothing to look up or fetch
        claims = access_tokens.decode_access_token(token_string, self.key_set_for(kid), self.claims_registry())
        if claims is None or not self.confirm_live(token_string, claims):
            raise self.invalid_token()
        return claims

    def validate_token(self, token, scopes, request, **kwargs):
        if self.scope_insufficient(token.get("scope"), scopes):
            raise InsufficientScopeError()

    def key_set_for(self, kid: str):
        """The keys that should verify a token naming ``kid`` (a joserfc ``KeySet``)."""
        raise NotImplementedError

    def claims_registry(self):
        """The ``access_tokens.claims_registry`` to check the claims against."""
        raise NotImplementedError

    def confirm_live(self, token_string: str, claims: AccessTokenClaims) -> bool:
        """Whether a token that verified offline is still live; may hang what it learnt on ``claims``."""
        return True

    def invalid_token(self) -> InvalidTokenError:
        return InvalidTokenError(realm=self.realm, description="The access token is invalid, expired or revoked.")


class SessionBoundTokenValidator(AccessTokenValidator):
    """authserver's own API: the key ring's keys, and live only while its device session is.

    Services are resolved per request, so one protector serves every app instance (tests build many)."""

    def key_set_for(self, kid):
        return current_services().keyring.verification_key_set()

    def claims_registry(self):
        return access_tokens.own_claims_registry(current_services().settings)

    def confirm_live(self, token_string, claims):
        session = access_tokens.live_session_for(current_services(), claims)
        if session is None:
            return False
        # Views read the session (and its user) from the token instead of querying again.
        claims.device_session = session
        return True


require_oauth = ResourceProtector()
require_oauth.register_token_validator(SessionBoundTokenValidator())
