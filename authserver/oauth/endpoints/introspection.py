"""Token introspection (RFC 7662) for resource servers, answering from the device sessions.

Only clients registered with ``--introspect`` may call it (``Client.check_endpoint_auth_method``
refuses every other client, public ones always, with 401 ``invalid_client``).

A live access token (see ``access_tokens.py``) or a live refresh token (the current, unused one of
a live session) is answered ``active: true`` with ``scope client_id username sub token_type exp
iat nbf aud iss jti sid``. Anything else is answered exactly ``{"active": false}`` (§2.2), so the
answer tells nothing about why.

- Access tokens: the JWT's claims; ``token_type`` is ``Bearer`` (RFC 6749 §7.1), ``nbf`` is the
  JWT's ``nbf`` or, as ours carry none, its ``iat``.
- Refresh tokens: ``token_type`` ``refresh_token``; ``exp`` is when the session ends if nothing
  uses it (idle timeout or max age, whichever comes first; rotation or revocation ends the token
  sooner), ``iat`` and ``nbf`` when this generation was issued, ``aud`` the issuer (only the token
  endpoint accepts refresh tokens), ``jti`` the id of the token's row (unique and no secret: only
  a digest of the token is stored), ``scope`` the session's.

``token_type_hint`` only decides which kind is looked up first; an unknown hint is ignored.

A token that is not ours at all counts toward the resource server's own, much larger budget
(``INTROSPECTION_MAX_FAILURES``, ``throttle.py``), never toward its IP's or its budget as a client:
its callers chose the token, and must not be able to lock it out of introspection.
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from ...accounts import throttle
from ...http.request_context import client_ip
from ...services import current_services
from ...sessions.device_sessions import EXPIRED
from ...store.database import begin_write
from ...store.models import AUTH_METHODS
from ...tokens.access_tokens import client_token_is_live
from ...tokens.access_tokens import verify_access_token
from .token_lookup import TokenParameterRequired
from .token_lookup import find_token


def epoch(instant) -> int:
    return int(instant.timestamp())


class IntrospectedToken:
    """A token already found live; ``payload`` is the §2.2 answer."""

    def __init__(self, payload: dict):
        self.payload = payload

    def is_expired(self) -> bool:
        return False  # only live tokens are ever built

    def is_revoked(self) -> bool:
        return False


def access_token_payload(claims, username: str | None) -> dict:
    payload = {
        "active": True,
        "scope": claims.get("scope", ""),
        "client_id": claims["client_id"],
        "username": username,
        "sub": claims["sub"],
        "token_type": "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims.get("nbf", claims["iat"]),
        "aud": claims["aud"],
        "iss": claims["iss"],
        "jti": claims["jti"],
        "sid": claims.get("sid"),
    }
    # A client's own token (client credentials) has no user and no session: no username, no sid.
    return {name: value for name, value in payload.items() if value is not None}


def refresh_token_payload(services, row, session) -> dict:
    issued_at = epoch(row.issued_at)
    return {
        "active": True,
        "scope": session.scope,
        "client_id": row.client_id,
        "username": session.user.username,
        "sub": session.user_id,
        "token_type": "refresh_token",
        "exp": epoch(services.sessions.ends_at(session)),
        "iat": issued_at,
        "nbf": issued_at,
        "aud": services.settings.issuer,
        "iss": services.settings.issuer,
        "jti": str(row.id),
        "sid": session.id,
    }


class IntrospectionEndpoint(TokenParameterRequired, _IntrospectionEndpoint):
    READS_FIRST = True  # only an expired session found on the way is written
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_token(self, request, client):
        token = self.find_presented_token(request, client)
        if token is not None and self.check_permission(token, client, request):
            return token
        return None

    def record_unknown_token(self, services, client) -> None:
        throttle.record_introspection_failure(services, client.get_client_id(), client_ip())

    def check_permission(self, token, client, request):
        # Client authentication already refused clients without the permission; kept as a guard.
        return bool(client.can_introspect)

    def query_token(self, token_string, token_type_hint):
        services = current_services()

        def access_token():
            # access_tokens.live_access_token, with the liveness check as one query (sessions.py)
            claims = verify_access_token(services, token_string)
            if claims is None:
                return None
            if "sid" not in claims:  # a client's own token: no user, no session
                live = client_token_is_live(claims)
                return IntrospectedToken(access_token_payload(claims, None)) if live else None
            username = services.sessions.access_token_state(claims["sid"], claims["jti"], claims["sub"],
                                                            claims["client_id"])
            if username is EXPIRED:
                begin_write()
                services.sessions.live_session(claims["sid"])  # ends the session, for the deadline it reached
                return None
            return None if username is None else IntrospectedToken(access_token_payload(claims, username))

        def refresh_token():
            live = services.refresh_tokens.live_token(token_string)
            return None if live is None else IntrospectedToken(refresh_token_payload(services, *live))

        return find_token(token_type_hint, access_token, refresh_token)

    def introspect_token(self, token):
        return token.payload
