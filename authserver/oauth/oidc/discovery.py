"""OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3, §4) at ``/.well-known/openid-configuration``.

The RFC 8414 document (``endpoints/metadata.py``: the same issuer, endpoints, grants, scopes and
client authentication methods) plus what an OpenID Connect relying party needs besides: UserInfo,
ID-token signing, subject types, claims, ``prompt`` values, and logout (RP-Initiated and
Back-Channel Logout 1.0). Authlib's ``OpenIDProviderMetadata`` holds it; ``oauth/views.py`` serves it.
"""

from __future__ import annotations

from authlib.oidc.discovery import OpenIDProviderMetadata

from ...http import paths
from ...tokens.access_tokens import ALGORITHM
from ..endpoints.metadata import server_metadata
from .claims import ID_TOKEN_CLAIMS
from .claims import USER_CLAIMS
from .prompt import PROMPT_VALUES


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
