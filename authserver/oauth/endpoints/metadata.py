"""Authorization server metadata (RFC 8414), built from the single list of grants, endpoints and
client authentication methods in ``server.py`` and the scopes the server defines (``scopes.py``, not
every scope some client was registered with); every URL is the issuer plus the endpoint's path.

Each member is listed once, in :data:`MEMBERS`, with the JSON Schema of its value: the document
(:func:`server_metadata`) and its schema (:func:`metadata_schema`, for ``/openapi.json``) are both
built from that list."""

from __future__ import annotations

from typing import Callable
from typing import NamedTuple

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from ...http import paths
from ...scopes import SUPPORTED as SUPPORTED_SCOPES
from ...tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS
from ..grants.authorization_code import S256
from ..server import supported_auth_methods
from ..server import supported_grant_types
from .introspection import IntrospectionEndpoint
from .revocation import RevocationEndpoint

URL = {"type": "string", "format": "uri"}
STRINGS = {"type": "array", "items": {"type": "string"}}
BOOLEAN = {"type": "boolean"}


class Member(NamedTuple):
    name: str
    schema: dict
    value: Callable[[str], object]  # of the issuer
    required: bool = False  # RFC 8414 §2 REQUIRED (or RECOMMENDED and always sent here)
    listed: Callable[[object], bool] = lambda settings: True  # of the settings: whether the member is sent


def registration_on(settings) -> bool:
    return settings.client_registration != "off"


def at(path: str) -> Callable[[str], str]:
    return lambda issuer: issuer + path


MEMBERS = (
    Member("issuer", URL, lambda issuer: issuer, required=True),
    Member("token_endpoint", URL, at(paths.TOKEN), required=True),
    Member("jwks_uri", URL, at(paths.JWKS), required=True),
    Member("response_types_supported", STRINGS, lambda _: ["code"], required=True),
    Member("grant_types_supported", STRINGS, lambda _: supported_grant_types(), required=True),
    Member("token_endpoint_auth_methods_supported", STRINGS, lambda _: supported_auth_methods()),
    Member("revocation_endpoint", URL, at(paths.REVOCATION)),
    Member("revocation_endpoint_auth_methods_supported", STRINGS,
           lambda _: supported_auth_methods(RevocationEndpoint.ENDPOINT_NAME)),
    Member("introspection_endpoint", URL, at(paths.INTROSPECTION)),
    Member("introspection_endpoint_auth_methods_supported", STRINGS,
           lambda _: supported_auth_methods(IntrospectionEndpoint.ENDPOINT_NAME)),
    Member("scopes_supported", STRINGS, lambda _: sorted(SUPPORTED_SCOPES)),
    Member("service_documentation", URL, at(paths.DOCS)),
    Member("authorization_endpoint", URL, at(paths.AUTHORIZATION)),
    Member("device_authorization_endpoint", URL, at(paths.DEVICE_AUTHORIZATION)),
    Member("code_challenge_methods_supported", STRINGS, lambda _: [S256]),
    # RFC 9207: every authorization response carries `iss`.
    Member("authorization_response_iss_parameter_supported", BOOLEAN, lambda _: True),
    # RFC 7591 §3, while AUTHSERVER_CLIENT_REGISTRATION is not off.
    Member("registration_endpoint", URL, at(paths.REGISTRATION), listed=registration_on),
    # draft-ietf-oauth-client-id-metadata-document §5, while AUTHSERVER_CLIENT_ID_METADATA_DOCUMENTS is on.
    Member("client_id_metadata_document_supported", BOOLEAN, lambda _: True,
           listed=lambda settings: settings.client_id_metadata_documents),
    # RFC 9449 §5.1: the algorithms a DPoP proof may be signed with.
    Member("dpop_signing_alg_values_supported", STRINGS, lambda _: list(DPOP_ALGORITHMS)),
)


def server_metadata(settings) -> AuthorizationServerMetadata:
    return AuthorizationServerMetadata({member.name: member.value(settings.issuer) for member in MEMBERS
                                        if member.listed(settings)})


def metadata_schema() -> dict:
    return {
        "description": "RFC 8414 §2. Every URL is the issuer plus the endpoint's path.",
        "type": "object",
        "required": [member.name for member in MEMBERS if member.required],
        "properties": {member.name: member.schema for member in MEMBERS},
    }
