"""authserver_resource: protect another Flask app's API with authserver's access tokens (RFC 6750,
RFC 9068, RFC 7662, RFC 9449 DPoP). Install with ``pip install 'authserver[resource-server]'``; it
imports nothing from ``authserver`` but the DPoP proof rule (``authserver/tokens/dpop.py``, one copy
of it for the server and the resource servers) and needs only Authlib, joserfc, Flask and requests.

Tokens are checked offline against the server's published keys (``jwks_uri``, RFC 7517): RS256
only, header ``typ`` at+jwt and a ``kid``, ``iss``, ``aud``, ``exp`` and ``iat`` (with
``leeway_seconds`` of clock skew), ``sub``, ``client_id``, ``jti`` and, in a user's token, ``sid`` (a
client's own token, from the client credentials grant, has ``sub`` = ``client_id`` and no ``sid``). That is cheap, but a
revoked token or an ended device session stays accepted until the token expires (15 minutes by
default). Configure introspection as well and every token that passes offline is then confirmed
with the server (RFC 7662), which knows about revocation::

    from authserver_resource import current_token, resource_protector

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

``current_token`` is then the verified claims; ``current_token.introspection`` holds the server's
introspection answer (``username`` among it) when introspection is on, None otherwise.

A bad or dead token is 401 ``invalid_token``, a missing scope 403 ``insufficient_scope``. The key
set is cached for ``jwks_max_age_seconds``; a token naming a key the cache does not hold (the
server rotated its key) refetches it, at most once per ``jwks_min_refetch_seconds`` so that made-up
``kid`` values cannot turn this app into a flood of requests. When the server cannot be reached the
caller gets 503 ``temporarily_unavailable`` with ``Retry-After``, never a 500, and never an
"invalid token" that would make a client throw a good token away.

Modules: ``validators`` (the offline checks, on Authlib's ``JWTBearerTokenValidator``), ``dpop``
(``Authorization: DPoP`` with a proof, RFC 9449 §7), ``jwks``
(the key cache), ``introspection`` (on Authlib's ``IntrospectTokenValidator``), ``errors``.
"""

from __future__ import annotations

import requests
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token

from .dpop import DEFAULT_WINDOW_SECONDS
from .dpop import DPoPTokenValidator
from .errors import AuthorizationServerUnavailable
from .introspection import IntrospectionValidator
from .jwks import DEFAULT_TIMEOUT_SECONDS
from .jwks import RemoteJWKS
from .validators import AccessTokenClaims
from .validators import RemoteTokenValidator

__all__ = [
    "AccessTokenClaims",
    "AuthorizationServerUnavailable",
    "DPoPTokenValidator",
    "IntrospectionValidator",
    "RemoteJWKS",
    "RemoteTokenValidator",
    "current_token",
    "resource_protector",
]


def resource_protector(issuer: str, jwks_uri: str, *, audience: str | None = None,
                       introspection_endpoint: str | None = None, client_id: str | None = None,
                       client_secret: str | None = None, jwks_max_age_seconds: float = 300,
                       jwks_min_refetch_seconds: float = 30, leeway_seconds: int = 30,
                       timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                       http: requests.Session | None = None, public_url: str | None = None,
                       dpop_window_seconds: int = DEFAULT_WINDOW_SECONDS) -> ResourceProtector:
    """A ``require_oauth`` for another Flask app; ``current_token`` is then the verified claims
    (``current_token.introspection`` holds the introspection answer when introspection is on).

    ``audience`` defaults to the issuer (authserver's ``AUTHSERVER_AUDIENCE`` default);
    ``http`` is the ``requests.Session`` for the JWKS and introspection calls. DPoP-bound tokens
    (``Authorization: DPoP``, ``dpop.py``) are taken with a proof naming ``public_url`` plus the path
    (default: the request's URL), at most ``dpop_window_seconds`` old."""
    introspection = None
    if introspection_endpoint:
        if not client_id or not client_secret:
            raise ValueError("introspection needs the client_id and client_secret of an introspecting client")
        introspection = IntrospectionValidator(introspection_endpoint, client_id, client_secret,
                                               timeout_seconds=timeout_seconds, http=http)
    jwks = RemoteJWKS(jwks_uri, max_age_seconds=jwks_max_age_seconds, min_refetch_seconds=jwks_min_refetch_seconds,
                      timeout_seconds=timeout_seconds, http=http)
    protector = ResourceProtector()
    protector.register_token_validator(
        RemoteTokenValidator(issuer, jwks, audience=audience, introspection=introspection,
                             leeway_seconds=leeway_seconds))
    protector.register_token_validator(
        DPoPTokenValidator(issuer, jwks, audience=audience, introspection=introspection, leeway_seconds=leeway_seconds,
                           public_url=public_url, window_seconds=dpop_window_seconds))
    return protector
