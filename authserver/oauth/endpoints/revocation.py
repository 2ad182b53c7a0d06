"""Token revocation (RFC 7009) that knows about device sessions.

- A refresh token (any generation of the session's chain) ends its device session: a logout.
  Its access tokens die with the session, since every liveness check looks the session up.
- An access token of ours (signature valid, not expired) has its ``jti`` put on the deny list until
  its ``exp``, and the revocation is recorded in the security event log. Its session lives on.
- ``token_type_hint`` only decides which kind is looked up first (§2.1); an unknown hint is
  ignored rather than answered with ``unsupported_token_type``, which §2.2.1 leaves optional.
- An unknown, expired or already revoked token is answered 200 and nothing happens (§2.2).
- A token issued to another client is answered 200 as well, and nothing happens. §2.1 lets the
  server refuse it, but an error would tell the caller that the token it holds is valid and whose
  it is; to a client, a token that is not its own is as good as an invalid one (§2.2).

Revoking an old generation of a refresh token still ends the session: presenting it at the token
endpoint would end the session anyway (reuse detection), so this grants nobody a new power, and a
client that lost its latest refresh token can still log out.
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from ...http.request_context import client_ip
from ...ops.request_log import annotate
from ...services import current_services
from ...sessions.device_sessions import ENDED_BY_REVOCATION
from ...store import security_events
from ...store.denylist import deny_access_token
from ...store.models import AUTH_METHODS
from ...tokens.access_tokens import OUR_AUDIENCES
from ...tokens.access_tokens import verify_access_token
from .token_lookup import TokenParameterRequired
from .token_lookup import find_token


class RevocableAccessToken:
    def __init__(self, claims):
        self.claims = claims

    def check_client(self, client) -> bool:
        return self.claims["client_id"] == client.get_client_id()


class RevocableRefreshToken:
    def __init__(self, row, session):
        self.row = row
        self.session = session

    def check_client(self, client) -> bool:
        return self.row.client_id == client.get_client_id()


class RevocationEndpoint(TokenParameterRequired, _RevocationEndpoint):
    READS_FIRST = False  # it writes what it revokes
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_token(self, request, client):
        token = self.find_presented_token(request, client)
        if token is None or not token.check_client(client):
            return None  # answered 200 and left alone, like an invalid token
        return token

    def query_token(self, token_string, token_type_hint):
        services = current_services()

        def access_token():
            claims = verify_access_token(services, token_string, OUR_AUDIENCES)
            return None if claims is None else RevocableAccessToken(claims)

        def refresh_token():
            found = services.refresh_tokens.find_with_session(token_string)
            return None if found is None else RevocableRefreshToken(*found)

        return find_token(token_type_hint, access_token, refresh_token)

    def revoke_token(self, token, request):
        services = current_services()
        client_id = request.client.get_client_id()
        ip = client_ip()
        if isinstance(token, RevocableRefreshToken):
            annotate(session_id=token.session.id)
            services.sessions.end_session(token.session.id, ENDED_BY_REVOCATION, actor=client_id, ip=ip)
            return
        claims, now = token.claims, services.clock.now()
        if deny_access_token(claims["jti"], claims.expires_at, now):
            security_events.record_event(security_events.ACCESS_TOKEN_REVOKED, now, user_id=claims["sub"], session_id=claims.get("sid"),
                               client_id=client_id, ip=ip, actor=client_id, jti=claims["jti"])
