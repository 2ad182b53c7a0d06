"""Protect another Flask app's API with authserver's access tokens (RFC 6750, RFC 9068, RFC 7662).

The validator is the one authserver's own API uses (``resource.AccessTokenValidator``: the same
steps and the same checks, ``oauth/access_tokens.py``: RS256 only, ``typ`` at+jwt, ``iss``,
``aud``, ``exp``); only where the keys come from and how liveness is confirmed differ. Here the
keys are the server's published ones (``jwks_uri``, RFC 7517), so a token is checked offline.
That is cheap, but a revoked token or an ended device session stays accepted until the token
expires (15 minutes by default). Configure introspection as well and every token that passes
offline is then confirmed with the server (RFC 7662), which knows about revocation::

    from authserver.resource_server import current_token, resource_protector

    require_oauth = resource_protector(
        issuer="https://auth.example.com",
        jwks_uri="https://auth.example.com/oauth/jwks",
        # optional, for revocation to take effect at once:
        introspection_endpoint="https://auth.example.com/oauth/introspect",
        client_id="client_...", client_secret="...",   # a client created with --introspect
    )

    @app.get("/api/notes")
    @require_oauth("notes")
    def notes():
        return {"user": current_token["sub"], "session": current_token["sid"]}

The key set is cached for ``jwks_max_age_seconds``; a token naming a key the cache does not hold
(the server rotated its key) refetches it, at most once per ``jwks_min_refetch_seconds`` so that
made-up ``kid`` values cannot turn this app into a flood of requests. When the server cannot be
reached the caller gets 503 ``temporarily_unavailable``, never a 500, and never an "invalid
token" that would make a client throw a good token away.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote_plus

import requests
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2 import OAuth2Error
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .oauth import access_tokens
from .resource import AccessTokenValidator

__all__ = ["resource_protector", "current_token", "RemoteJWKS", "IntrospectionClient", "RemoteTokenValidator",
           "AuthorizationServerUnavailable"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5


class AuthorizationServerUnavailable(OAuth2Error):
    """The JWKS or introspection could not be fetched: retry later, the token may well be good."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "The authorization server cannot be reached; retry later."

    def get_headers(self):
        return super().get_headers() + [("Retry-After", "5")]


class RemoteJWKS:
    """The server's public keys, fetched from ``jwks_uri`` and cached."""

    def __init__(self, jwks_uri: str, *, max_age_seconds: float = 300, min_refetch_seconds: float = 30,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, http: requests.Session | None = None,
                 now=time.monotonic):
        self.jwks_uri = jwks_uri
        self.max_age_seconds = max_age_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout_seconds = timeout_seconds
        self._http = http or requests.Session()
        self._now = now
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    def key_set_for(self, kid: str | None) -> KeySet:
        """Keys that should verify a token naming ``kid``; refetched if it is unknown (rate-limited)."""
        with self._lock:
            age = self._now() - self._fetched_at
            stale = self._keys is None or age >= self.max_age_seconds
            unknown = self._keys is not None and kid not in {key.kid for key in self._keys}
            if stale or (unknown and age >= self.min_refetch_seconds):
                self._fetch()
            return self._keys

    def _fetch(self) -> None:
        try:
            response = self._http.get(self.jwks_uri, timeout=self.timeout_seconds)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (requests.RequestException, ValueError, KeyError, TypeError, JoseError) as error:
            if self._keys is None:
                log.error("cannot fetch the JWKS from %s: %s", self.jwks_uri, error)
                raise AuthorizationServerUnavailable() from None
            # Keep the keys we have; try again once they are stale or a token names an unknown key.
            log.warning("cannot refresh the JWKS from %s, keeping the cached keys: %s", self.jwks_uri, error)
            self._fetched_at = self._now()
            return
        self._keys = keys
        self._fetched_at = self._now()


class IntrospectionClient:
    """Asks the server whether a token is active (RFC 7662), as a client allowed to introspect."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str, *,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, http: requests.Session | None = None):
        self.endpoint = endpoint
        # RFC 6749 §2.3.1: form-urlencode both before HTTP Basic.
        self._auth = (quote_plus(client_id), quote_plus(client_secret))
        self.timeout_seconds = timeout_seconds
        self._http = http or requests.Session()

    def introspect(self, token_string: str) -> dict:
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


class RemoteTokenValidator(AccessTokenValidator):
    """Bearer tokens checked offline against the JWKS, then (if configured) by introspection."""

    def __init__(self, issuer: str, jwks: RemoteJWKS, *, audience: str | None = None,
                 introspection: IntrospectionClient | None = None, leeway_seconds: int = 30, realm=None):
        super().__init__(realm=realm)
        self.issuer = issuer.rstrip("/")
        self.audience = audience or self.issuer
        self.jwks = jwks
        self.introspection = introspection
        # Clock skew between this host and the server: tolerated for `exp` and `iat`.
        self.leeway_seconds = leeway_seconds

    def key_set_for(self, kid):
        return self.jwks.key_set_for(kid)

    def claims_registry(self):
        return access_tokens.claims_registry(self.issuer, self.audience, leeway=self.leeway_seconds)

    def confirm_live(self, token_string, claims):
        claims.introspection = None
        if self.introspection is None:
            return True
        answer = self.introspection.introspect(token_string)
        # The same token, still active: revoked, logged out or disabled answers active false.
        if answer.get("active") is not True or answer.get("jti") != claims["jti"]:
            return False
        claims.introspection = answer
        return True


def resource_protector(issuer: str, jwks_uri: str, *, audience: str | None = None,
                       introspection_endpoint: str | None = None, client_id: str | None = None,
                       client_secret: str | None = None, jwks_max_age_seconds: float = 300,
                       jwks_min_refetch_seconds: float = 30, leeway_seconds: int = 30,
                       timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                       http: requests.Session | None = None) -> ResourceProtector:
    """A ``require_oauth`` for another Flask app; ``current_token`` is then the verified claims
    (``current_token.introspection`` holds the introspection answer when introspection is on)."""
    introspection = None
    if introspection_endpoint:
        if not client_id or not client_secret:
            raise ValueError("introspection needs the client_id and client_secret of an introspecting client")
        introspection = IntrospectionClient(introspection_endpoint, client_id, client_secret,
                                            timeout_seconds=timeout_seconds, http=http)
    jwks = RemoteJWKS(jwks_uri, max_age_seconds=jwks_max_age_seconds, min_refetch_seconds=jwks_min_refetch_seconds,
                      timeout_seconds=timeout_seconds, http=http)
    protector = ResourceProtector()
    protector.register_token_validator(
        RemoteTokenValidator(issuer, jwks, audience=audience, introspection=introspection,
                             leeway_seconds=leeway_seconds))
    return protector
