"""Scopes with a meaning to this server, and which of a client's scopes a user is granted."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidScopeError

# Granted only to users created with --admin; the admin API and console check the user again.
ADMIN_SCOPE = "admin"
# Lists and ends the user's sessions and connected apps (/api/sessions, /api/consents).
SESSIONS_SCOPE = "sessions"
# What manages the account: never for tokens of a restricted device session, whatever they carry.
ACCOUNT_SCOPES = frozenset({ADMIN_SCOPE, SESSIONS_SCOPE})
# Manages the Shared Signals Framework event streams (ssf/): a receiver's back end, for itself.
SSF_MANAGE_SCOPE = "ssf.manage"
# Held only by a client acting for itself (client credentials), never by a user's token.
CLIENT_SCOPES = frozenset({SSF_MANAGE_SCOPE})

# OpenID Connect (Core 1.0 §3.1.2.1): the app signs the user in (an ID token, UserInfo); with `profile`
# and `email` the ID token and UserInfo also carry the username and email address.
OPENID_SCOPE = "openid"

# What each scope lets an app do, in words, wherever a person reads scopes (the consent and device
# pages, My devices and Connected apps, the console, the OAuth scheme of /openapi.json); other scopes
# are shown by name.
DESCRIPTIONS = {
    OPENID_SCOPE: "Sign you in with your account",
    "profile": "See your username",
    "email": "See your email address",
    SESSIONS_SCOPE: "See the devices you are signed in on, and sign them out",
    ADMIN_SCOPE: "Manage every user's sessions (operators only)",
    SSF_MANAGE_SCOPE: "Manage the security event streams sent to a receiver (back ends only)",
}
# The scopes this server defines, which its metadata lists as `scopes_supported` (RFC 8414 §2); a
# client may be registered with other scopes (for its own APIs), which are not advertised.
SUPPORTED = tuple(DESCRIPTIONS)


def describe(scope: str | None, leave_out=frozenset()) -> list[tuple[str, str]]:
    """(scope, what it lets an app do) for each scope, in order, each once; an unknown scope is its name."""
    return [(name, DESCRIPTIONS.get(name, name)) for name in scope_tokens(scope) if name not in leave_out]


def describe_held(scope: str | None, restricted: bool) -> list[tuple[str, str]]:
    """What a session's tokens may do: a restricted (device) session never uses the account scopes,
    so they are not shown as if it could."""
    return describe(scope, leave_out=ACCOUNT_SCOPES if restricted else frozenset())


def scope_tokens(scope: str | None) -> list[str]:
    """The scopes of a ``scope`` parameter or column, in order, each once (RFC 6749 §3.3: a
    space-delimited list; any run of whitespace separates)."""
    return list(dict.fromkeys(scope.split())) if scope else []


def within(requested: str | None, granted: str | None) -> bool:
    """Whether every requested scope is among those granted (a refresh, a remembered consent)."""
    return set(scope_tokens(requested)) <= set(scope_tokens(granted))


class _UserNotYetKnown:
    """The subject of a device authorization before a user approves it: a user, never an administrator."""

    is_admin = False


# What the device authorization endpoint asks the rule for: the tokens will be a user's (RFC 8628).
USER_NOT_YET_KNOWN = _UserNotYetKnown()


def may_hold(user, scope: str) -> bool:
    """What the subject may hold: `admin` only for a user created with --admin; a client acting for
    itself (``user`` None) never holds it. `ssf.manage` (:data:`CLIENT_SCOPES`) only a client acting
    for itself, never a user's token."""
    if scope in CLIENT_SCOPES:
        return user is None
    return scope != ADMIN_SCOPE or (user is not None and bool(getattr(user, "is_admin", False)))


def requested_of_client(client, requested: str | None) -> list[str]:
    """The requested scopes, refused with ``invalid_scope`` if any is outside the client's (the
    contract: refuse, don't narrow silently, though RFC 6749 §3.3 would allow it)."""
    asked = scope_tokens(requested)
    if not set(asked) <= set(scope_tokens(client.scope)):
        raise InvalidScopeError("The requested scope is not allowed for this client.")
    return asked


def granted_scope(client, user, requested: str | None, *, granted_before: str | None = None,
                  resource_limits=()) -> str:
    """The one rule that decides the scope a grant issues, for every grant.

    The requested scope, or by default (absent or blank) everything the client has, or on a refresh
    everything the session was granted (``granted_before``); then ∩ the client's scopes ∩ what the
    subject may hold. An empty result is an empty scope, never "all the client has" (Authlib's
    default for an empty scope is never reached: see ``AccessTokenGenerator.get_allowed_scope``).

    Refused with ``invalid_scope`` rather than silently narrowed: a requested scope outside the
    client's, beyond what was granted before (a refresh never widens), or one the subject may not
    hold. ``user`` None is a client acting for itself; :data:`USER_NOT_YET_KNOWN` a device not yet approved.

    ``resource_limits``: for a token asked for resources (RFC 8707 ``resource``), the scopes each
    resource allows (None: no limit). A token good at several resources carries only what every one
    of them allows, so none of them sees a scope it did not agree to; asking for more is
    ``invalid_scope``. A refresh or a code exchange passes none: the grant's scope already was."""
    asked = requested_of_client(client, requested)
    allowed = set(scope_tokens(client.scope))
    before = None if granted_before is None else set(scope_tokens(granted_before))
    limits = [set(limit) for limit in resource_limits if limit is not None]
    if asked:
        if granted_before is not None and not within(requested, granted_before):
            raise InvalidScopeError("The requested scope exceeds the scope originally granted.")
        refused = [name for name in asked if not may_hold(user, name)]
        if refused:
            raise InvalidScopeError("The 'admin' scope is only for administrators." if refused[0] == ADMIN_SCOPE
                                    else f"The '{refused[0]}' scope is only for a client acting for itself.")
        if not all(set(asked) <= limit for limit in limits):
            raise InvalidScopeError("The requested scope is not allowed for the requested resource.")
        candidates = asked
    else:
        candidates = scope_tokens(client.scope if granted_before is None else granted_before)
    return " ".join(name for name in candidates
                    if name in allowed and (before is None or name in before) and may_hold(user, name)
                    and all(name in limit for limit in limits))
