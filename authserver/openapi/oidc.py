"""The JSON shapes of the OpenID Connect endpoints (``oauth/views.py`` declares their operations with
them): the OpenID Provider metadata (Discovery 1.0 §3) and the UserInfo response (Core 1.0 §5.3.2).
Declared here, like ``oauth.py``'s, so that ``oauth/oidc/`` holds no OpenAPI."""

from __future__ import annotations

from .document import Schema
from .document import schema

URL = {"type": "string", "format": "uri"}
STRINGS = {"type": "array", "items": {"type": "string"}}


def openid_provider_metadata_schema(rfc8414_metadata: Schema) -> Schema:
    """The discovery document's schema: the RFC 8414 metadata's (built in ``oauth/``) and the OpenID members."""
    return schema("OpenIDProviderMetadata", {
        "description": "OpenID Connect Discovery 1.0 §3: the RFC 8414 metadata and these members.",
        "allOf": [rfc8414_metadata, {
            "type": "object",
            "required": ["userinfo_endpoint", "id_token_signing_alg_values_supported", "subject_types_supported"],
            "properties": {
                "userinfo_endpoint": URL,
                "end_session_endpoint": URL,
                "id_token_signing_alg_values_supported": STRINGS,
                "subject_types_supported": STRINGS,
                "claims_supported": STRINGS,
                "prompt_values_supported": STRINGS,
                "response_modes_supported": STRINGS,
                "request_uri_parameter_supported": {"type": "boolean"},
                "backchannel_logout_supported": {"type": "boolean"},
                "backchannel_logout_session_supported": {"type": "boolean"},
            },
        }],
    })


USER_INFO = schema("UserInfo", {
    "description": "OpenID Connect Core 1.0 §5.3.2: `sub`, `preferred_username` with `profile`, `email` and "
                   "`email_verified` with `email` (when the user has an address).",
    "type": "object",
    "required": ["sub"],
    "properties": {
        "sub": {"type": "string", "description": "The user's id: `sub` of the user's tokens."},
        "preferred_username": {"type": "string"},
        "email": {"type": "string"},
        "email_verified": {"type": "boolean"},
    },
    "additionalProperties": False,
})
