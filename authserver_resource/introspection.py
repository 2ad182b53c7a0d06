"""Asking the authorization server whether a token is live (RFC 7662), on Authlib's
``IntrospectTokenValidator``."""

from __future__ import annotations

import logging
from urllib.parse import quote_plus

import requests
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc7662 import IntrospectTokenValidator

from .errors import AuthorizationServerUnavailable
from .errors import invalid_token
from .jwks import DEFAULT_TIMEOUT_SECONDS

log = logging.getLogger(__name__)


class IntrospectionValidator(IntrospectTokenValidator):
    """Introspects bearer tokens as a client registered with ``--introspect``.

    :class:`~authserver_resource.validators.RemoteTokenValidator` calls :meth:`confirm` for tokens
    that passed its offline checks. When the server cannot be asked (unreachable, an error status,
    not a JSON object, or our own client credentials refused) the caller gets 503
    ``temporarily_unavailable``: the token may well be good."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str, *,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, http: requests.Session | None = None,
                 realm=None):
        super().__init__(realm=realm)
        self.endpoint = endpoint
        # RFC 6749 §2.3.1: form-urlencode both before HTTP Basic.
        self._auth = (quote_plus(client_id), quote_plus(client_secret))
        self.timeout_seconds = timeout_seconds
        self._http = http or requests.Session()

    def introspect_token(self, token_string: str) -> dict:
        try:
            response = self._http.post(self.endpoint, data={"token": token_string, "token_type_hint": "access_token"},
                                       auth=self._auth, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            log.error("introspection at %s failed: %s", self.endpoint, type(error).__name__)
            raise AuthorizationServerUnavailable() from None
        if response.status_code != 200:
            # 401 here means our own client credentials are wrong: an operator's problem, not the caller's.
            log.error("introspection at %s answered %s", self.endpoint, response.status_code)
            raise AuthorizationServerUnavailable()
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.error("introspection at %s answered something other than a JSON object", self.endpoint)
            raise AuthorizationServerUnavailable()
        return answer

    def validate_token(self, token, scopes, request, **kwargs):
        # Stricter than Authlib's truthiness test: `active` must be the JSON true, and the token an
        # access token (authserver describes a live refresh token too, as token_type refresh_token).
        if (not isinstance(token, dict) or token.get("active") is not True
                or str(token.get("token_type", "")).lower() != "bearer"):
            raise invalid_token(self)
        if self.scope_insufficient(token.get("scope"), scopes):
            raise InsufficientScopeError()

    def confirm(self, token_string: str, jti: str) -> dict:
        """The server's answer for a token that verified offline: active, and about that very token
        (its ``jti``); otherwise 401 ``invalid_token``. Revoked, logged out or disabled answers
        ``{"active": false}``."""
        answer = self.authenticate_token(token_string)
        self.validate_token(answer, None, None)
        if answer.get("jti") != jti:
            raise invalid_token(self)
        return answer

