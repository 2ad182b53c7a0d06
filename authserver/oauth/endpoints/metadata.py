"""Authorization server metadata (RFC 8414), built from the single list of grants, endpoints and
client authentication methods in ``server.py`` and the scopes the server defines (``scopes.py``, not
every scope some client was registered with); every URL is the issuer plus the endpoint's path."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from ...openapi.document import DOCS_PATH
from ...openapi.document import schema
from ...scopes import SUPPORTED as SUPPORTED_SCOPES
from .. import paths
from ..grants.authorization_code import S256
from ..server import supported_auth_methods
from ..server import supported_grant_types
from .introspection import IntrospectionEndpoint
from .revocation import RevocationEndpoint

URL = {"type": "string", "format": "uri"}
STRINGS = {"type": "array", "items": {"type": "string"}}

METADATA = schema("AuthorizationServerMetadata", {
    "description": "RFC 8414 §2. Every URL is the issuer plus the endpoint's path.",
    "type": "object",
    "required": ["issuer", "token_endpoint", "jwks_uri", "response_types_supported", "grant_types_supported"],
    "properties": {
        "issuer": URL,
        "token_endpoint": URL,
        "jwks_uri": URL,
        "revocation_endpoint": URL,
        "introspection_endpoint": URL,
        "service_documentation": URL,
        "authorization_endpoint": URL,
        "device_authorization_endpoint": URL,
        "code_challenge_methods_supported": STRINGS,
        "authorization_response_iss_parameter_supported": {"type": "boolean"},
        "grant_types_supported": STRINGS,
        "response_types_supported": STRINGS,
        "scopes_supported": STRINGS,
        "token_endpoint_auth_methods_supported": STRINGS,
        "revocation_endpoint_auth_methods_supported": STRINGS,
        "introspection_endpoint_auth_methods_supported": STRINGS,
    },
})


def server_metadata(settings) -> AuthorizationServerMetadata:
    issuer = settings.issuer
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
        scopes_supported=sorted(SUPPORTED_SCOPES),
        service_documentation=issuer + DOCS_PATH,
        authorization_endpoint=issuer + paths.AUTHORIZATION,
        device_authorization_endpoint=issuer + paths.DEVICE_AUTHORIZATION,
        response_types_supported=["code"],
        code_challenge_methods_supported=[S256],
        # RFC 9207: every authorization response carries `iss`.
        authorization_response_iss_parameter_supported=True,
    )
