"""The JSON shapes of dynamic client registration (RFC 7591 §2, §3.2) and its management (RFC 7592 §3),
which ``oauth/registration/views.py`` declares its operations with; kept here so that the protocol code
holds no OpenAPI."""

from __future__ import annotations

from .document import INITIAL_ACCESS_TOKEN
from .document import REGISTRATION_ACCESS_TOKEN
from .document import schema

URL = {"type": "string", "format": "uri"}
TEXT = {"type": "string", "maxLength": 200}
URLS = {"type": "array", "items": {"type": "string"}}
GRANTS = {"type": "array", "items": {"enum": ["authorization_code", "refresh_token",
                                              "urn:ietf:params:oauth:grant-type:device_code"]}}
METADATA_MEMBERS = {
    "redirect_uris": {**URLS, "description": "https, http on loopback (any port matches), or a private-use "
                                             "scheme in reverse-domain form; no fragment."},
    "client_name": TEXT,
    "grant_types": GRANTS,
    "response_types": {"type": "array", "items": {"const": "code"}},
    "token_endpoint_auth_method": {"enum": ["none", "client_secret_basic", "client_secret_post"]},
    "scope": {"type": "string", "description": "Within `AUTHSERVER_REGISTRATION_SCOPES` (all of them by default)."},
    "client_uri": URL,
    "logo_uri": URL,
    "software_id": TEXT,
    "software_version": TEXT,
    "post_logout_redirect_uris": URLS,
    "backchannel_logout_uri": URL,
}
CLIENT_METADATA = schema("ClientMetadata", {
    "description": "RFC 7591 §2; other members are ignored. At most 8 KiB.",
    "type": "object",
    "properties": METADATA_MEMBERS,
})
REGISTERED_CLIENT = schema("RegisteredClient", {
    "description": "RFC 7591 §3.2.1 / RFC 7592 §3: the metadata as stored, and what the server issued.",
    "type": "object",
    "required": ["client_id", "client_id_issued_at", "client_secret_expires_at", "registration_access_token",
                 "registration_client_uri", "redirect_uris", "grant_types", "token_endpoint_auth_method", "scope"],
    "properties": {
        "client_id": {"type": "string"},
        "client_secret": {"type": "string", "description": "Not for `none`; only in the registration's answer."},
        "client_id_issued_at": {"type": "integer"},
        "client_secret_expires_at": {"const": 0},
        "registration_access_token": {"type": "string"},
        "registration_client_uri": URL,
        **METADATA_MEMBERS,
    },
})
CLIENT_UPDATE = schema("ClientUpdate", {
    "description": "RFC 7592 §2.2: the whole metadata, with the client's own `client_id`.",
    "type": "object",
    "required": ["client_id"],
    "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}, **METADATA_MEMBERS},
})


def json_body(body_schema, description: str) -> dict:
    return {"required": True, "description": description, "content": {"application/json": {"schema": body_schema}}}


def registration_security() -> list:
    """An initial access token in `token` mode, nothing in `open` mode."""
    return [{INITIAL_ACCESS_TOKEN: []}, {}]


def configuration_security() -> list:
    return [{REGISTRATION_ACCESS_TOKEN: []}]
