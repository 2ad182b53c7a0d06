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

An app registered with authserver as a resource (``authserver resources add URI``, RFC 8707) passes
``resource=URI``: only tokens whose ``aud`` holds that URI are accepted, ``require_oauth.init_app(app)``
serves its Protected Resource Metadata (RFC 9728) at ``/.well-known/oauth-protected-resource<path>``,
and every 401 and 403 carries ``WWW-Authenticate: Bearer resource_metadata="<that URL>"`` (with
``error``, and on 403 the ``scope`` needed), which is how an AI agent finds where to get a token::

    require_oauth = resource_protector(issuer="https://auth.example.com",
                                       jwks_uri="https://auth.example.com/oauth/jwks",
                                       resource="https://notes.example/api", scopes_supported=["notes"])
    require_oauth.init_app(app)

Or let the server tell you: with a security event stream (``authserver streams create``) pushing to
:func:`security_event_receiver`, a token whose session ended is refused from the moment the event
arrives, offline (``revoked_sessions=``; see ``security_events``).

Modules: ``validators`` (the offline checks, on Authlib's ``JWTBearerTokenValidator``), ``dpop``
(``Authorization: DPoP`` with a proof, RFC 9449 §7), ``jwks``
(the key cache), ``introspection`` (on Authlib's ``IntrospectTokenValidator``), ``metadata``
(RFC 9728), ``mcp`` (a token verifier for the official MCP Python SDK), ``security_events`` (the
RFC 8935 receiver of the server's security events), ``errors``.
"""

from __future__ import annotations

import json

import requests
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.integrations.flask_oauth2.errors import raise_http_exception
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from flask import jsonify

from .dpop import DEFAULT_WINDOW_SECONDS
from .dpop import DPoPTokenValidator
from .errors import AuthorizationServerUnavailable
from .introspection import IntrospectionValidator
from .jwks import DEFAULT_TIMEOUT_SECONDS
from .jwks import RemoteJWKS
from .metadata import challenge
from .metadata import metadata_path
from .metadata import resource_metadata
from .security_events import RevokedSessions
from .security_events import security_event_receiver
from .validators import AccessTokenClaims
from .validators import RemoteTokenValidator

__all__ = [
    "AccessTokenClaims",
    "AuthorizationServerUnavailable",
    "DPoPTokenValidator",
    "IntrospectionValidator",
    "ProtectedResource",
    "RemoteJWKS",
    "RemoteTokenValidator",
    "RevokedSessions",
    "current_token",
    "resource_protector",
    "security_event_receiver",
]


class ProtectedResource(ResourceProtector):
    """``require_oauth`` for a registered resource (RFC 8707): its metadata (RFC 9728) served by
    :meth:`init_app`, and its 401s and 403s pointing at it (RFC 9728 §5.1)."""

    def __init__(self, resource: str, authorization_server: str, scopes_supported: list[str] | None = None):
        super().__init__()
        self.resource = resource
        self.metadata = resource_metadata(resource, [authorization_server], scopes_supported)

    def init_app(self, app, max_age_seconds: int = 3600) -> None:
        """Serve the metadata document on ``app`` (its path is the resource's, §3.1)."""

        def protected_resource_metadata():
            response = jsonify(self.metadata)
            response.headers["Cache-Control"] = f"public, max-age={max_age_seconds}"
            return response

        app.add_url_rule(metadata_path(self.resource), "oauth_protected_resource", protected_resource_metadata)

    def raise_error_response(self, error):
        if error.status_code not in (401, 403):
            super().raise_error_response(error)
        if isinstance(error, MissingAuthorizationError):
            value = challenge(self.resource)  # no token at all: no error code (RFC 6750 §3.1)
        elif isinstance(error, InsufficientScopeError):
            value = challenge(self.resource, error.error, error.get_error_description(), getattr(error, "scope", None))
        else:
            value = challenge(self.resource, error.error, error.get_error_description())
        headers = [(name, value) for name, value in error.get_headers() if name != "WWW-Authenticate"]
        raise_http_exception(error.status_code, json.dumps(dict(error.get_body())),
                             [*headers, ("WWW-Authenticate", value)])


def resource_protector(issuer: str, jwks_uri: str, *, audience: str | None = None, resource: str | None = None,
                       scopes_supported: list[str] | None = None,
                       introspection_endpoint: str | None = None, client_id: str | None = None,
                       client_secret: str | None = None, jwks_max_age_seconds: float = 300,
                       jwks_min_refetch_seconds: float = 30, leeway_seconds: int = 30,
                       timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                       http: requests.Session | None = None,
                       revoked_sessions: RevokedSessions | None = None, public_url: str | None = None,
                       dpop_window_seconds: int = DEFAULT_WINDOW_SECONDS) -> ResourceProtector:
    """A ``require_oauth`` for another Flask app; ``current_token`` is then the verified claims
    (``current_token.introspection`` holds the introspection answer when introspection is on).

    ``audience`` defaults to the issuer (authserver's ``AUTHSERVER_AUDIENCE`` default), for an app
    that takes the tokens authserver issues without ``resource``. ``resource``: this app's URI as
    registered with ``authserver resources add`` (RFC 8707); tokens must then have it in ``aud``, and
    the protector is a :class:`ProtectedResource` (RFC 9728 metadata with ``scopes_supported``).
    ``http`` is the ``requests.Session`` for the JWKS and introspection calls; ``revoked_sessions``
    the sessions a :func:`security_event_receiver` was told ended, whose tokens are then refused.
    DPoP-bound tokens (``Authorization: DPoP``, ``dpop.py``) are taken with a proof naming
    ``public_url`` plus the path (default: the request's URL), at most ``dpop_window_seconds`` old."""
    if resource is not None and audience not in (None, resource):
        raise ValueError("a resource's tokens have its URI as their audience: give resource or audience, not both")
    introspection = None
    if introspection_endpoint:
        if not client_id or not client_secret:
            raise ValueError("introspection needs the client_id and client_secret of an introspecting client")
        introspection = IntrospectionValidator(introspection_endpoint, client_id, client_secret,
                                               timeout_seconds=timeout_seconds, http=http)
    jwks = RemoteJWKS(jwks_uri, max_age_seconds=jwks_max_age_seconds, min_refetch_seconds=jwks_min_refetch_seconds,
                      timeout_seconds=timeout_seconds, http=http)
    protector = ResourceProtector() if resource is None else ProtectedResource(resource, issuer, scopes_supported)
    protector.register_token_validator(
        RemoteTokenValidator(issuer, jwks, audience=resource or audience, introspection=introspection,
                             leeway_seconds=leeway_seconds, revoked_sessions=revoked_sessions))
    protector.register_token_validator(
        DPoPTokenValidator(issuer, jwks, audience=resource or audience, introspection=introspection,
                           leeway_seconds=leeway_seconds, revoked_sessions=revoked_sessions,
                           public_url=public_url, window_seconds=dpop_window_seconds))
    return protector
