"""What a protected view answers besides its own response: 401 ``invalid_token`` (or, with the DPoP
scheme, ``invalid_dpop_proof``), or 503 when the authorization server could not be asked."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750.errors import InvalidTokenError

RETRY_AFTER_SECONDS = 5


class AuthorizationServerUnavailable(OAuth2Error):
    """The JWKS or introspection could not be fetched: retry later, the token may well be good.

    503 ``temporarily_unavailable`` with ``Retry-After``, never 401 ``invalid_token``, which would
    make a client throw a good token away."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "The authorization server cannot be reached; retry later."

    def get_headers(self):
        return [*super().get_headers(), ("Retry-After", str(RETRY_AFTER_SECONDS))]


class DPoPRefused(OAuth2Error):
    """401 for a request with the DPoP scheme (RFC 9449 §7.1): ``invalid_dpop_proof`` or
    ``invalid_token``, with a ``DPoP`` challenge naming the algorithms (``challenge`` builds it)."""

    status_code = 401

    def __init__(self, error: str, description: str, challenge):
        # Printable ASCII without quotes (RFC 6749 §5.2): it is quoted in the challenge.
        description = "".join(char for char in description if char.isascii() and char.isprintable()
                              and char not in '"\\')
        super().__init__(description, error=error)
        self.challenge = challenge(error, description)

    def get_headers(self):
        return [*super().get_headers(), ("WWW-Authenticate", self.challenge)]


def invalid_token(validator) -> InvalidTokenError:
    """401 ``invalid_token`` with the validator's realm (RFC 6750 §3.1): one description for every
    cause, so a caller learns nothing about why."""
    return InvalidTokenError(description="The access token is invalid, expired or revoked.", realm=validator.realm,
                             extra_attributes=validator.extra_attributes)
