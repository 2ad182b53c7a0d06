"""Token introspection (RFC 7662) for resource servers, answering from the device sessions.

Only clients registered with ``--introspect`` may call it (``Client.check_endpoint_auth_method``
refuses every other client, public ones always, with 401 ``invalid_client``).

A live access token (``tokens/access_tokens.live_access_token``, the API protector's check too) or
a live refresh token (the current, unused one of a usable session) is answered ``active: true``
with ``scope client_id username sub token_type exp iat nbf aud iss jti sid`` (and ``act`` for a token
issued by delegation, RFC 8693 §4.1, whose ``aud`` may be another registered resource server's). Anything else is
answered exactly ``{"active": false}`` (§2.2), so the answer tells nothing about why.

- Access tokens: the JWT's claims; ``token_type`` is ``Bearer`` (RFC 6749 §7.1), or ``DPoP`` with
  ``cnf`` ``{"jkt": …}`` for a token bound to a DPoP key (RFC 9449 §6.2); ``nbf`` is the JWT's
  ``nbf`` or, as ours carry none, its ``iat``.
- Refresh tokens: ``token_type`` ``refresh_token``; ``exp`` is when the session ends if nothing
  uses it (idle timeout or max age, whichever comes first; rotation or revocation ends the token
  sooner), ``iat`` and ``nbf`` when this generation was issued, ``aud`` the issuer (only the token
  endpoint accepts refresh tokens), ``jti`` the id of the token's row (unique and no secret: only
  a digest of the token is stored), ``scope`` the session's; ``cnf`` ``{"jkt": …}`` when the session
  is bound to a DPoP key.

``token_type_hint`` only decides which kind is looked up first; an unknown hint is ignored.

**What an access token costs, and why its answer is exact on every node.** Our own JWTs are checked
in process (``tokens/access_tokens.decode_access_token``): the RS256 signature by the published key
its ``kid`` names, whose ``cryptography`` public key the key ring holds ready (``KeyRing.public_keys``),
then its header and claims; no key is fetched and nothing is read for it. Liveness is then **one
indexed read**, ``store/sessions.access_token_state(sid, jti)``: the session's row by its primary key,
joined to its user's by primary key, with whether the ``jti`` is on the deny list (its primary key),
in one statement. (A client's own token, with no session, reads the deny list and the client, each
by primary key.) We chose the read over an in-process cache of ended sessions kept by the outbox's
events: such a cache is exact only once every node has applied every event, and a node that has not
(an event in flight, a delivery retried, a node restarted and catching up) would answer ``active:
true`` for a session already ended elsewhere, which RFC 7662 callers rely on never happening; the
read sees every committed end, revocation and denial the moment it commits, whichever node made it,
and also catches what no event announces (a session found idle or past its max age, a disabled
user), because the rule is applied to the row (``sessions.check``) at the time of the question.

A token that is not ours at all counts toward the resource server's own, much larger budget
(``INTROSPECTION_MAX_FAILURES``, ``throttle.py``), never toward its IP's or its budget as a client:
its callers chose the token, and must not be able to lock it out of introspection.
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from ...accounts import throttle
from ...http.request_context import client_ip
from ...services import current_services
from ...store.models import AUTH_METHODS
from ...tokens.access_tokens import DPOP_TOKEN_TYPE
from ...tokens.access_tokens import OUR_AUDIENCES
from ...tokens.access_tokens import bound_key
from ...tokens.access_tokens import live_access_token
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
        "token_type": "Bearer" if bound_key(claims) is None else DPOP_TOKEN_TYPE,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims.get("nbf", claims["iat"]),
        "aud": claims["aud"],
        "iss": claims["iss"],
        "jti": claims["jti"],
        "sid": claims.get("sid"),
        "act": claims.get("act"),  # a delegated token's chain of actors (RFC 8693 §4.1)
        "cnf": claims.get("cnf"),
    }
    # A client's own token (client credentials) has no user and no session: no username, no sid.
    return {name: value for name, value in payload.items() if value is not None}


def refresh_token_payload(services, row) -> dict:
    """From the token's ``store/sessions.token_state`` row (the token's and its session's columns)."""
    issued_at = epoch(row.issued_at)
    return {
        "active": True,
        "scope": row.scope,
        "client_id": row.client_id,
        "username": row.username,
        "sub": row.user_id,
        "token_type": "refresh_token",
        "exp": epoch(services.sessions.ends_at(row)),
        "iat": issued_at,
        "nbf": issued_at,
        "aud": services.settings.issuer,
        "iss": services.settings.issuer,
        "jti": str(row.id),
        "sid": row.session_id,
        **({"cnf": {"jkt": row.dpop_jkt}} if row.dpop_jkt else {}),
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
            live = live_access_token(services, token_string, OUR_AUDIENCES)
            return None if live is None else IntrospectedToken(access_token_payload(live.claims, live.username))

        def refresh_token():
            live = services.refresh_tokens.live_token(token_string)
            return None if live is None else IntrospectedToken(refresh_token_payload(services, live))

        return find_token(token_type_hint, access_token, refresh_token)

    def introspect_token(self, token):
        return token.payload
