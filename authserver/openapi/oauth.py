"""The JSON shapes and forms of the OAuth endpoints (``oauth/views.py`` declares their operations
with them): the token request of each grant, the token response, revocation and introspection,
device authorization, the JWKS. Declared here, beside the protocol code rather than inside it, so
that the grants and endpoints hold no OpenAPI."""

from __future__ import annotations

from .document import Schema
from .document import schema

SCOPE_FIELD = {"type": "string", "description": "Space-separated scopes (RFC 6749 §3.3); a subset of the client's."}
# RFC 8707 §2: the resource(s) the token is for; the one parameter that may be repeated.
RESOURCE_FIELD = {"type": "array", "items": {"type": "string", "format": "uri"},
                  "description": "RFC 8707: a registered resource the access token is for (`aud`); may be repeated. "
                                 "Unregistered, relative, with a fragment, or (refresh, code, device code) not one "
                                 "the grant was authorized for: `invalid_target`."}

# The form fields of client_secret_post and public clients (RFC 6749 §2.3.1), in every form the
# token, revocation and introspection endpoints take.
CLIENT_FIELDS = {
    "client_id": {"type": "string", "minLength": 1,
                  "description": "`client_secret_post` and public clients; with Basic, the same id or absent."},
    "client_secret": {"type": "string", "minLength": 1, "description": "`client_secret_post` only."},
}


# -- the token endpoint (RFC 6749 §3.2) ---------------------------------------------------------
TOKEN_RESPONSE = schema("TokenResponse", {
    "description": "RFC 6749 §5.1. `refresh_token` for clients registered with the refresh_token grant.",
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "An RS256 JWT (RFC 9068), `typ` `at+jwt`."},
        "token_type": {"enum": ["Bearer", "DPoP"],
                       "description": "`DPoP` when the request carried a DPoP proof (RFC 9449 §5): the access token "
                                      "is bound to its key (`cnf.jkt`)."},
        "expires_in": {"type": "integer", "minimum": 1},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "issued_token_type": {"const": "urn:ietf:params:oauth:token-type:access_token",
                              "description": "Token exchange (RFC 8693 §2.2.1) only."},
    },
    "additionalProperties": False,
})


# The token endpoint's optional header (RFC 9449 §4): with it, the tokens are bound to the proof's key.
DPOP_PROOF = {"DPoP": {"schema": {"type": "string"},
                       "description": "A DPoP proof (RFC 9449 §4): the tokens are then bound to its key."}}


def grant_form(name: str, grant_type: str, description: str, required=(), **properties) -> Schema:
    """The schema of one grant's token request form: its own fields and the client's."""
    return schema(name, {
        "description": description,
        "type": "object",
        "required": ["grant_type", *required],
        "properties": {"grant_type": {"const": grant_type}, **properties, **CLIENT_FIELDS},
    })


# Each grant's form, by its grant_type (the token endpoint takes those of the enabled grants).
GRANT_FORMS = {form.definition["properties"]["grant_type"]["const"]: form for form in (
    grant_form(
        "PasswordGrantForm", "password", "RFC 6749 §4.3.2. Opens a device session.", ("username", "password"),
        username={"type": "string", "minLength": 1}, password={"type": "string", "minLength": 1}, scope=SCOPE_FIELD,
        resource=RESOURCE_FIELD,
        device_name={"type": "string", "description": "A name for the device, shown in My devices; "
                                                      "otherwise one is made from the User-Agent."}),
    grant_form(
        "RefreshTokenGrantForm", "refresh_token", "RFC 6749 §6. Rotates the refresh token: keep the new one.",
        ("refresh_token",), refresh_token={"type": "string", "minLength": 1},
        scope={**SCOPE_FIELD, "description": "Less than the session's, for this access token only."},
        resource=RESOURCE_FIELD),
    grant_form(
        "AuthorizationCodeGrantForm", "authorization_code",
        "RFC 6749 §4.1.3 with PKCE (RFC 7636). Opens a device session; a code is single-use.", ("code",),
        code={"type": "string", "minLength": 1},
        redirect_uri={"type": "string", "description": "The one the authorization request named."},
        code_verifier={"type": "string", "minLength": 43, "maxLength": 128,
                       "description": "Required when the authorization request had a code_challenge."},
        resource=RESOURCE_FIELD),
    grant_form("ClientCredentialsGrantForm", "client_credentials",
               "RFC 6749 §4.4.2. A confidential client's own token: no user, no refresh token.",
               scope=SCOPE_FIELD, resource=RESOURCE_FIELD),
    grant_form(
        "DeviceCodeGrantForm", "urn:ietf:params:oauth:grant-type:device_code",
        "RFC 8628 §3.4: polling. Until the user decides: `authorization_pending` (or `slow_down`: poll 5 seconds "
        "less often); then tokens once, or `access_denied`, `expired_token`.", ("device_code",),
        device_code={"type": "string", "minLength": 1}, resource=RESOURCE_FIELD),
    grant_form(
        "TokenExchangeGrantForm", "urn:ietf:params:oauth:grant-type:token-exchange",
        "RFC 8693 §2.1. A legacy session token (`urn:authserver:token-type:legacy-session`, imported with "
        "`authserver legacy import`) becomes a device session, once; a user's access token "
        "(`urn:ietf:params:oauth:token-type:access_token`) becomes a delegated token for `audience` or `resource`, "
        "with `act` and at most its scopes, in the same device session.", ("subject_token", "subject_token_type"),
        subject_token={"type": "string", "minLength": 1},
        subject_token_type={"enum": ["urn:authserver:token-type:legacy-session",
                                     "urn:ietf:params:oauth:token-type:access_token"]},
        actor_token={"type": "string", "minLength": 1,
                     "description": "A live access token issued to the client itself."},
        actor_token_type={"const": "urn:ietf:params:oauth:token-type:access_token"},
        requested_token_type={"const": "urn:ietf:params:oauth:token-type:access_token"},
        audience={"type": "string", "minLength": 1,
                  "description": "Delegation: the server's own audience or a registered resource's URI."},
        resource={"type": "string", "minLength": 1, "description": "Delegation: a registered resource (RFC 8707)."},
        scope=SCOPE_FIELD),
)}


# -- revocation (RFC 7009) and introspection (RFC 7662) -----------------------------------------
TOKEN_FORM = {"token": {"type": "string", "minLength": 1},
              "token_type_hint": {"type": "string", "description": "`access_token` or `refresh_token`: which "
                                                                   "kind is looked up first; others are ignored."},
              **CLIENT_FIELDS}

INTROSPECTION_RESPONSE = schema("IntrospectionResponse", {
    "description": "RFC 7662 §2.2: a live token's members, or exactly `{\"active\": false}`.",
    "oneOf": [
        schema("ActiveToken", {
            "type": "object",
            "description": "`username` and `sid` for tokens of a user's device session, not for a client's own "
                           "token (client credentials, `sub` = `client_id`).",
            "required": ["active", "scope", "client_id", "sub", "token_type", "exp", "iat", "nbf", "aud", "iss",
                         "jti"],
            "properties": {
                "active": {"const": True},
                "scope": {"type": "string"},
                "client_id": {"type": "string"},
                "username": {"type": "string"},
                "sub": {"type": "string", "description": "The user's id, or the client's."},
                "token_type": {"enum": ["Bearer", "DPoP", "refresh_token"]},
                "exp": {"type": "integer"},
                "iat": {"type": "integer"},
                "nbf": {"type": "integer"},
                "aud": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "The server's own audience, or the resource(s) the token is for (RFC 8707)."},
                "iss": {"type": "string"},
                "jti": {"type": "string"},
                "sid": {"type": "string", "description": "The device session."},
                "act": {"type": "object", "description": "A delegated token's actor (RFC 8693 §4.1): `sub` the "
                                                         "client acting, `act` nested for earlier actors."},
                "cnf": {"type": "object", "description": "RFC 9449 §6.2: the DPoP key the token is bound to.",
                        "required": ["jkt"], "properties": {"jkt": {"type": "string"}},
                        "additionalProperties": False},
            },
            "additionalProperties": False,
        }),
        schema("InactiveToken", {
            "type": "object",
            "required": ["active"],
            "properties": {"active": {"const": False}},
            "additionalProperties": False,
        }),
    ],
})


# -- device authorization (RFC 8628 §3.1) ------------------------------------------------------
DEVICE_AUTHORIZATION_FORM = schema("DeviceAuthorizationForm", {
    "description": "RFC 8628 §3.1.",
    "type": "object",
    "properties": {
        "scope": SCOPE_FIELD,
        "resource": RESOURCE_FIELD,
        "device_name": {"type": "string", "description": "How the device is shown on the approval page and in "
                                                         "My devices; otherwise one is made from the User-Agent."},
        **CLIENT_FIELDS,
    },
})
DEVICE_AUTHORIZATION_RESPONSE = schema("DeviceAuthorizationResponse", {
    "description": "RFC 8628 §3.2: show `user_code` and `verification_uri` (or `verification_uri_complete`) to the "
                   "user, then poll the token endpoint with `device_code` every `interval` seconds.",
    "type": "object",
    "required": ["device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in",
                 "interval"],
    "properties": {
        "device_code": {"type": "string"},
        "user_code": {"type": "string"},
        "verification_uri": {"type": "string", "format": "uri"},
        "verification_uri_complete": {"type": "string", "format": "uri"},
        "expires_in": {"type": "integer", "minimum": 1},
        "interval": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
})


# -- the signing keys (RFC 7517) ----------------------------------------------------------------
JWKS = schema("JWKSet", {
    "description": "RFC 7517 §5: the public keys that sign access tokens.",
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
        "type": "object",
        "required": ["kty", "kid", "use", "alg", "n", "e"],
        "properties": {"kty": {"const": "RSA"}, "kid": {"type": "string"}, "use": {"const": "sig"},
                       "alg": {"const": "RS256"}, "n": {"type": "string"}, "e": {"type": "string"}},
    }}},
})
