"""Scopes with a meaning to this server, and which of a client's scopes a user is granted."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidScopeError

# Granted only to users created with --admin; the admin API and console check the user again.
ADMIN_SCOPE = "admin"


def scope_for_user(client, user, requested: str | None) -> str:
    """The scope to grant: the client's (or the requested subset), `admin` only for admins."""
    scope = client.get_allowed_scope(requested)  # raises invalid_scope beyond the client's
    scopes = scope.split()
    if ADMIN_SCOPE in scopes and not user.is_admin:
        if requested:
            raise InvalidScopeError("The 'admin' scope is only for administrators.")
        scopes.remove(ADMIN_SCOPE)
    return " ".join(scopes)
