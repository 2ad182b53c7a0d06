"""Where each OAuth endpoint is served. Clients find them in the metadata (RFC 8414), so the paths
are ours to choose; they are named once, here."""

TOKEN = "/oauth/token"
REVOCATION = "/oauth/revoke"
INTROSPECTION = "/oauth/introspect"
JWKS = "/oauth/jwks"
METADATA = "/.well-known/oauth-authorization-server"
