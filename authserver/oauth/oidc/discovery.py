"""OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3, §4) at ``/.well-known/openid-configuration``.

The RFC 8414 document (``endpoints/metadata.py``: the same issuer, endpoints, grants, scopes and
client authentication methods) plus what an OpenID Connect relying party needs besides: UserInfo,
ID-token signing, subject types, claims, ``prompt`` values, and logout (RP-Initiated and
Back-Channel Logout 1.0). Authlib's ``OpenIDProviderMetadata`` holds it.
"""

from __future__ import annotations

from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import jsonify

from ...openapi.document import json_response
from ...openapi.document import operation
from ...openapi.document import schema
from ...services import current_services
from ...tokens.access_tokens import ALGORITHM
from .. import paths
from ..endpoints.metadata import METADATA
from ..endpoints.metadata import STRINGS
from ..endpoints.metadata import URL
from ..endpoints.metadata import server_metadata
from ..views import cacheable
from . import bp
from .claims import ID_TOKEN_CLAIMS
from .claims import USER_CLAIMS
from .prompt import PROMPT_VALUES

OPENID_PROVIDER_METADATA = schema("OpenIDProviderMetadata", {
    "description": "OpenID Connect Discovery 1.0 §3: the RFC 8414 metadata and these members.",
    "allOf": [METADATA, {
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


def openid_configuration(settings) -> OpenIDProviderMetadata:
    issuer = settings.issuer
    return OpenIDProviderMetadata(
        server_metadata(settings),
        userinfo_endpoint=issuer + paths.USERINFO,
        id_token_signing_alg_values_supported=[ALGORITHM],
        subject_types_supported=["public"],  # `sub` is the user's id, the same for every client
        claims_supported=[*USER_CLAIMS, *ID_TOKEN_CLAIMS],
        prompt_values_supported=list(PROMPT_VALUES),
        response_modes_supported=["query"],
        request_uri_parameter_supported=False,  # its default is true (§3)
        end_session_endpoint=issuer + paths.END_SESSION,
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,  # logout tokens carry `sid`
    )


@bp.route(paths.OPENID_CONFIGURATION)
@operation("get", summary="OpenID Provider metadata (OpenID Connect Discovery 1.0)", tags=["oauth"],
           responses={200: json_response("The RFC 8414 metadata, and what OpenID Connect relying parties need "
                                         "besides.", OPENID_PROVIDER_METADATA)})
def openid_provider_metadata():
    return cacheable(jsonify(openid_configuration(current_services().settings)), 300)
