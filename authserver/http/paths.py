"""Where each endpoint others link to is served: the OAuth endpoints, the device page, the API
description. Clients find the OAuth endpoints in the metadata (RFC 8414), so the paths are ours to
choose; they are named once, here."""

AUTHORIZATION = "/oauth/authorize"
TOKEN = "/oauth/token"
DEVICE_AUTHORIZATION = "/oauth/device_authorization"
DEVICE_VERIFICATION = "/device"  # the page where the user enters the code (web/device_verification.py)
REVOCATION = "/oauth/revoke"
INTROSPECTION = "/oauth/introspect"
JWKS = "/oauth/jwks"
METADATA = "/.well-known/oauth-authorization-server"
# OpenID Connect (oauth/oidc/): Discovery 1.0 §4, Core 1.0 §5.3, RP-Initiated Logout 1.0 §2
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
USERINFO = "/oauth/userinfo"
END_SESSION = "/oauth/logout"  # its pages: web/logout.py
OPENAPI_DOCUMENT = "/openapi.json"
DOCS = "/docs"  # the API description for people (web/docs.py)
# Dynamic client registration (RFC 7591) and each registered client's configuration (RFC 7592)
REGISTRATION = "/oauth/register"
REGISTRATION_CLIENT = "/oauth/register/<client_id>"
