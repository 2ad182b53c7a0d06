"""RP-Initiated Logout 1.0 (``end_session_endpoint``): the request's checks and what a logout ends, by
Authlib's ``EndSessionEndpoint``; ``web/logout.py`` shows the pages.

- ``id_token_hint``: an ID token of ours -- signed by a published key, our ``iss``, an ID token and not
  an access token -- expired or not (§2). Anything else counts as no hint: the user is asked to
  confirm (§6), and nothing is ended until they do.
- With a hint, the device session it names (``sid``, of its ``sub`` and ``aud``) ends, and so does
  the browser session it was opened through (the sign-in at this server): the OpenID Connect session.
- ``post_logout_redirect_uri`` must be registered for the client (``clients create
  --post-logout-redirect-uri``); the browser goes there (with ``state``) only after a logout with a
  valid hint (§3). ``client_id`` must be the hint's ``aud``.
"""

from __future__ import annotations

from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc import jws
from joserfc.errors import JoseError

from ...errors import InvalidRequestError
from ...http.request_context import client_ip
from ...services import current_services
from ...sessions.device_sessions import ENDED_BY_USER
from ...tokens.access_tokens import ALGORITHM
from ...tokens.access_tokens import TOKEN_TYPE as ACCESS_TOKEN_TYPE


class EndSession(EndSessionEndpoint):
    READS_FIRST = False  # a logout with a valid hint ends sessions: it writes

    def get_server_jwks(self):
        return current_services().keyring.verification_key_set()

    def get_algorithms(self):
        return [ALGORITHM]

    # Two of Authlib's private steps, overridden: its own refuses a bad hint with invalid_request (§6 and
    # the contract want the user asked instead) and checks no `iss`; and it reads a `client_metadata` dict.
    def _validate_id_token_hint(self, id_token_hint):
        """The hint's claims if it is an ID token of ours; None (no valid hint) otherwise."""
        try:
            claims = super()._validate_id_token_hint(id_token_hint)
            header = jws.extract_compact(id_token_hint.encode("utf-8")).headers()
        except (InvalidRequestError, JoseError, ValueError, TypeError, KeyError):
            return None
        ours = (claims.get("iss") == current_services().settings.issuer and header.get("typ") != ACCESS_TOKEN_TYPE
                and isinstance(claims.get("aud"), str) and isinstance(claims.get("sid"), str)
                and isinstance(claims.get("sub"), str))
        return claims if ours else None

    def _is_valid_post_logout_redirect_uri(self, client, post_logout_redirect_uri):
        return client.check_post_logout_redirect_uri(post_logout_redirect_uri)

    def end_session(self, end_session_request):
        claims = end_session_request.id_token_claims
        if claims is None:
            return  # the user confirmed: the page signs the browser out (web/logout.py)
        sessions = current_services().sessions
        session = sessions.find_user_session(claims["sid"], claims["sub"])
        if session is None or session.client_id != claims["aud"]:
            return
        actor, ip = session.user.username, client_ip()
        sessions.end_session(session.id, ENDED_BY_USER, actor=actor, ip=ip)
        if session.browser_session_id:
            sessions.end_session(session.browser_session_id, ENDED_BY_USER, actor=actor, ip=ip)
