"""What the grants share: the DPoP key a new session is bound to (RFC 9449 §5), issuing a device
session's tokens and the token response (with the hooks Authlib's extensions add to it, such as OpenID
Connect's ID token). The request's unit of work commits (``store/database.py``).

Each grant says how its request uses the database, in ``READS_FIRST``, and ``oauth/server.py``
applies it when it dispatches the request to the grant: ``True`` for a grant whose checks only
read, so that they run outside a transaction (no write lock on SQLite, no BEGIN/COMMIT round trips)
and its first write, in a store, begins one after the slow steps (an argon2 check, signing);
``False`` for one that writes from the start, in a transaction begun at once."""

from __future__ import annotations

from ...store.models import GRANT_REFRESH_TOKEN
from ...tokens.access_tokens import TokenSubject
from ...tokens.dpop import current_proof


def refresh_token_binding(client) -> str | None:
    """The key a new session's refresh tokens are bound to: a public client's, requested with a DPoP
    proof (RFC 9449 §5). A confidential client authenticates its refresh requests already; its
    refresh tokens stay unbound while its access tokens are bound."""
    proof = current_proof()
    return proof.jkt if proof is not None and client.is_public else None

RESOURCE = "resource"  # RFC 8707 §2, the one parameter that may repeat (request_checks.py)


def resource_parameters(grant) -> list[str]:
    """The request's ``resource`` values (RFC 8707), in order; checked by ``accounts/resources.py``."""
    return list(grant.request.payload.datalist.get(RESOURCE) or ())


def issue_session_tokens(grant, user, session, refresh_token: str | None, scope: str, audience=(), *,
                         act: dict | None = None) -> dict:
    """Sign an access token for the session (``aud``: ``audience``, the resources it is for, or the
    server's own) and attach the session's refresh token; none for a token issued by delegation
    (RFC 8693: ``act``), which lives on the subject token's session."""
    token = grant.generate_token(user=TokenSubject(user, session.id, tuple(audience), act), scope=scope,
                                 include_refresh_token=False)
    if refresh_token is not None and grant.request.client.check_grant_type(GRANT_REFRESH_TOKEN):
        token["refresh_token"] = refresh_token
    return token


def token_response(grant, token: dict) -> tuple:
    """The answer of a grant that overrides Authlib's ``create_token_response``. Authlib runs the grant's
    ``after_create_token_response`` hooks only around its own method, so every override answers
    through here: OpenID Connect's ID token (``oauth/oidc/``) is added by such a hook, to the final token."""
    grant.save_token(token)
    response = (200, token, grant.TOKEN_RESPONSE_HEADER)
    grant.execute_hook("after_create_token_response", response)
    return response

