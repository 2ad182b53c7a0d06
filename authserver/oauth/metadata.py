"""Authorization server metadata (RFC 8414), built from the single list of grants, endpoints and
client authentication methods in ``server.py``; every URL is the issuer plus the endpoint's path."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from ..database import db
from ..models import Client
from . import paths
from .authorization_code import S256
from .introspection import IntrospectionEndpoint
from .revocation import RevocationEndpoint
from .server import supported_auth_methods
from .server import supported_grant_types


def server_metadata(settings) -> AuthorizationServerMetadata:
    issuer = settings.issuer
    scopes = set()
    for (scope,) in db.session.execute(db.select(Client.scope).distinct()):
        scopes.update(scope.split())
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=issuer + paths.TOKEN,
        jwks_uri=issuer + paths.JWKS,
        grant_types_supported=supported_grant_types(),
        token_endpoint_auth_methods_supported=supported_auth_methods(),
        revocation_endpoint=issuer + paths.REVOCATION,
        revocation_endpoint_auth_methods_supported=supported_auth_methods(RevocationEndpoint.ENDPOINT_NAME),
        introspection_endpoint=issuer + paths.INTROSPECTION,
        introspection_endpoint_auth_methods_supported=supported_auth_methods(IntrospectionEndpoint.ENDPOINT_NAME),
        scopes_supported=sorted(scopes),
        authorization_endpoint=issuer + paths.AUTHORIZATION,
        device_authorization_endpoint=issuer + paths.DEVICE_AUTHORIZATION,
        response_types_supported=["code"],
        code_challenge_methods_supported=[S256],
        # RFC 9207: every authorization response carries `iss`.
        authorization_response_iss_parameter_supported=True,
    )
