"""What the grants share: issuing a device session's tokens, the token response and the OpenAPI form
of each grant's request. The request's unit of work commits (``store/database.py``).

Each grant says how its request uses the database, in ``READS_FIRST``, and ``oauth/server.py``
applies it when it dispatches the request to the grant: ``True`` for a grant whose checks only
read, so that they run outside a transaction (no write lock on SQLite, no BEGIN/COMMIT round trips)
and its first write, in a store, begins one after the slow steps (an argon2 check, signing);
``False`` for one that writes from the start, in a transaction begun at once."""

from __future__ import annotations

from ...openapi.document import schema
from ...store.models import GRANT_REFRESH_TOKEN
from ...tokens.access_tokens import TokenSubject
from ..client_auth import FORM_FIELDS

SCOPE_FIELD = {"type": "string", "description": "Space-separated scopes (RFC 6749 §3.3); a subset of the client's."}


TOKEN_RESPONSE = schema("TokenResponse", {
    "description": "RFC 6749 §5.1. `refresh_token` for clients registered with the refresh_token grant.",
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "An RS256 JWT (RFC 9068), `typ` `at+jwt`."},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 1},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
    "additionalProperties": False,
})


def grant_form(name: str, grant_type: str, description: str, required=(), **properties) -> dict:
    """The OpenAPI schema of one grant's token request form: its own fields and the client's."""
    return schema(name, {
        "description": description,
        "type": "object",
        "required": ["grant_type", *required],
        "properties": {"grant_type": {"const": grant_type}, **properties, **FORM_FIELDS},
    })


def issue_session_tokens(grant, user, session, refresh_token: str, scope: str) -> dict:
    """Sign an access token for the session and attach the session's refresh token."""
    token = grant.generate_token(user=TokenSubject(user, session.id), scope=scope, include_refresh_token=False)
    if grant.request.client.check_grant_type(GRANT_REFRESH_TOKEN):
        token["refresh_token"] = refresh_token
    return token

