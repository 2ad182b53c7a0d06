"""authserver in front of an MCP server built with the official MCP Python SDK (PyPI ``mcp``, its
``MCPServer``, formerly ``FastMCP``): the SDK's server-side auth hook, a ``TokenVerifier``, backed
by this package's offline JWKS checks (and introspection, if configured).

The SDK does the rest of the MCP authorization profile: it serves the Protected Resource Metadata
(RFC 9728) for ``AuthSettings.resource_server_url`` naming authserver as the authorization server,
answers 401 with ``WWW-Authenticate: Bearer resource_metadata="…"`` and 403 for a missing
``required_scopes`` scope. This module checks the token: RS256 against authserver's JWKS, ``iss``,
``exp``, and ``aud`` holding the resource's URI (RFC 8707: a token asked for another resource, or
for authserver's own APIs, is refused)::

    verifier, auth = mcp_auth(issuer="https://auth.example.com", resource="https://notes.example/mcp",
                              scopes=["read"])
    server = MCPServer("Notes", token_verifier=verifier, auth=auth)

Needs ``pip install 'authserver[mcp]'`` (the ``mcp`` package).
"""

from __future__ import annotations

import anyio
from authlib.oauth2 import OAuth2Error
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from .errors import AuthorizationServerUnavailable
from .jwks import RemoteJWKS
from .validators import RemoteTokenValidator

__all__ = ["AuthserverTokenVerifier", "mcp_auth"]


class AuthserverTokenVerifier:
    """The SDK's ``TokenVerifier`` protocol: ``verify_token`` returns an ``AccessToken`` for a good
    token of this resource, None for any other (the SDK answers 401). The checks make blocking HTTP
    calls only when keys must be fetched (or to introspect), so they run in a worker thread.

    When authserver cannot be reached the error propagates (the SDK answers 500): never a 401 that
    would make the client throw a good token away."""

    def __init__(self, validator: RemoteTokenValidator, resource: str):
        self.validator = validator
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        return await anyio.to_thread.run_sync(self._verify, token)

    def _verify(self, token: str) -> AccessToken | None:
        try:
            claims = self.validator.authenticate_token(token)
        except AuthorizationServerUnavailable:
            raise
        except OAuth2Error:
            return None
        return AccessToken(token=token, client_id=claims["client_id"], scopes=(claims.get("scope") or "").split(),
                           expires_at=claims["exp"], resource=self.resource, subject=claims["sub"],
                           claims=dict(claims))


def mcp_auth(issuer: str, resource: str, scopes: list[str] | None = None, *, jwks_uri: str | None = None,
             **validator_options) -> tuple[AuthserverTokenVerifier, AuthSettings]:
    """The ``token_verifier`` and ``auth`` settings for ``MCPServer``: tokens of ``issuer`` for
    ``resource`` (the MCP endpoint's URL, as registered with ``authserver resources add``), each
    needing ``scopes``. ``jwks_uri`` defaults to authserver's (``<issuer>/oauth/jwks``);
    ``validator_options`` go to :class:`~authserver_resource.validators.RemoteTokenValidator`
    (``introspection``, ``leeway_seconds``)."""
    jwks = RemoteJWKS(jwks_uri or issuer.rstrip("/") + "/oauth/jwks")
    validator = RemoteTokenValidator(issuer, jwks, audience=resource, **validator_options)
    settings = AuthSettings(issuer_url=issuer, resource_server_url=resource, required_scopes=scopes or None,
                            validate_token_resource=True)
    return AuthserverTokenVerifier(validator, resource), settings
