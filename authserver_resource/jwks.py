"""The authorization server's public keys (RFC 7517), fetched from its ``jwks_uri`` and cached."""

from __future__ import annotations

import logging
import threading
import time

import requests
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import AuthorizationServerUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5


class RemoteJWKS:
    """The server's public keys, fetched from ``jwks_uri`` and cached.

    The cache is refreshed once it is ``max_age_seconds`` old. A token naming a ``kid`` the cache
    does not hold (the server rotated its key) refetches at once, but at most once per
    ``min_refetch_seconds``, so that made-up ``kid`` values cannot turn the app into a flood of
    requests. A failed refresh keeps the cached keys; only with no keys at all is the failure the
    caller's 503 (:class:`AuthorizationServerUnavailable`)."""

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

    def key_set_for(self, kid: str | None = None) -> KeySet:
        """The keys that should verify a token naming ``kid``: the cached ones, refetched if they are
        stale or (rate-limited) if ``kid`` is not among them."""
        with self._lock:
            age = self._now() - self._fetched_at
            stale = self._keys is None or age >= self.max_age_seconds
            unknown = kid is not None and self._keys is not None and kid not in {key.kid for key in self._keys}
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
