"""RFC 9068 JWT access tokens (RS256, `typ` at+jwt) carrying the device session id as `sid`."""

from __future__ import annotations

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import g


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, services):
        settings = services.settings
        super().__init__(
            issuer=settings.issuer,
            alg="RS256",
            expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds,
        )
        self._keyring = services.keyring
        self._audience = settings.token_audience

    def get_jwks(self):
        # Only the active key, so joserfc signs with it and writes its `kid` (see keys.py).
        return self._keyring.signing_key_set()

    def get_audiences(self, client, user, scope):
        return self._audience

    def get_extra_claims(self, client, grant_type, user, scope):
        # The claim hook cannot see the request: the grant opens the session first and leaves
        # its id here (see grants.issue_session_tokens).
        return {"sid": g.device_session_id}
