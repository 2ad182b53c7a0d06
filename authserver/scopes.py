"""Scopes with a meaning to this server, and which of a client's scopes a user is granted."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidScopeError

# Granted only to users created with --admin; the admin API and console check the user again.
ADMIN_SCOPE = "admin"
# Lists and ends the user's sessions and connected apps (/api/sessions, /api/consents).
SESSIONS_SCOPE = "sessions"
# What manages the account: never for tokens of a restricted device session, whatever they carry.
ACCOUNT_SCOPES = frozenset({ADMIN_SCOPE, SESSIONS_SCOPE})

# What the consent page says each scope lets an app do; other scopes are shown by name.
DESCRIPTIONS = {
    "profile": "See your username",
    "email": "See your email address",
    SESSIONS_SCOPE: "See the devices you are signed in on, and sign them out",
    ADMIN_SCOPE: "Manage every user's sessions (operators only)",
}
# The scopes this server defines, which its metadata lists as `scopes_supported` (RFC 8414 §2); a
# client may be registered with other scopes (for its own APIs), which are not advertised.
SUPPORTED = tuple(DESCRIPTIONS)


def describe(scope: str, leave_out=frozenset()) -> list[tuple[str, str]]:
    """(scope, what it lets an app do) for each scope, for the consent pages."""
    return [(name, DESCRIPTIONS.get(name, name)) for name in scope.split() if name not in leave_out]


def scope_for_user(client, user, requested: str | None) -> str:
    """The scope to grant: the client's (or the requested subset), `admin` only for admins (never
    for a client acting for itself, ``user`` None)."""
    scope = client.get_allowed_scope(requested)  # raises invalid_scope beyond the client's
    scopes = scope.split()
    if ADMIN_SCOPE in scopes and not (user is not None and user.is_admin):
        if requested:
            raise InvalidScopeError("The 'admin' scope is only for administrators.")
        scopes.remove(ADMIN_SCOPE)
    return " ".join(scopes)
