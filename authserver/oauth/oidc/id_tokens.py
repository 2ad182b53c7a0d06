"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.3, §12.2) on the code and refresh grants, by
Authlib's ``OpenIDCode`` and ``OpenIDToken`` extensions (registered on the grants in ``oauth/server.py``).

A grant whose token scope holds ``openid`` also answers ``id_token``, signed RS256 by the key ring's
active key (its ``kid`` in the header: the key set that signs access tokens). Its claims:

- ``iss``; ``aud`` the client id; ``iat``, and ``exp`` with the access token's lifetime, from the
  server's clock;
- ``sub`` and ``sid``: the user and the device session, as in the access token;
- ``auth_time``: when the user really signed in -- the browser's sign-in that approved the code,
  kept with the device session, so every refresh says the same;
- ``at_hash``: of the access token it comes with (Authlib computes it from the final token);
- ``nonce``: the authorization request's, stored with the code (code grant only, never on refresh);
- what ``claims.py`` gives for the scope.

Authlib adds the ID token from the grant's ``after_create_token_response`` hook, which our grants run
(``grants/base.token_response``); Authlib's refresh grant runs it itself.
"""

from __future__ import annotations

from authlib.oidc.core import OpenIDCode
from authlib.oidc.core import OpenIDToken
from authlib.oidc.core.grants.util import is_openid_scope

from ...errors import InvalidRequestError
from ...services import current_services
from ...store import authorization_codes
from ...tokens.access_tokens import ALGORITHM
from .claims import user_info

# The longest nonce an authorization request may carry (the column it is stored in).
MAX_NONCE_LENGTH = 255


class SessionIDToken:
    """What both grants' ID tokens share: the key, the dates, the device session's claims. A
    subclass says where the grant's request names its session (``session_id``)."""

    def session_id(self, request) -> str:
        raise NotImplementedError

    def process_token(self, grant, response):
        _status, token, _headers = response
        if is_openid_scope(token.get("scope")):
            # The session the tokens were issued in, with its user (one look-up, or none when just opened).
            session = current_services().sessions.find_user_session(self.session_id(grant.request))
            grant.request.user, grant.request.device_session = session.user, session
        return super().process_token(grant, response)

    def resolve_client_private_key(self, client):
        return current_services().keyring.signing_key_set()

    def get_client_algorithm(self, client):
        return ALGORITHM

    def get_client_claims(self, client):
        services = current_services()
        now = int(services.clock.now().timestamp())
        return {"iss": services.settings.issuer, "aud": client.get_client_id(), "iat": now,
                "exp": now + services.settings.access_token_ttl_seconds}

    def get_compatible_claims(self, request):
        claims = super().get_compatible_claims(request)
        session = request.device_session
        claims.update(auth_time=int(session.signed_in_at.timestamp()), sid=session.id)
        return claims

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


class CodeIDToken(SessionIDToken, OpenIDCode):
    """The code grant's: the nonce is checked at the authorization endpoint and stored with the code."""

    def __call__(self, grant):
        # Authlib's OpenIDCode also registers its own `prompt` check, which runs before we know who is
        # signed in and has no consent_required: prompt and max_age are web/authorize.py's (prompt.py).
        grant.register_hook("after_validate_authorization_request_payload", self.validate_openid_authorization_request)
        grant.register_hook("after_create_token_response", self.process_token)

    def validate_openid_authorization_request(self, grant, redirect_uri):
        nonce = grant.request.payload.data.get("nonce")
        if nonce and len(nonce) > MAX_NONCE_LENGTH:
            raise InvalidRequestError(f"The nonce is longer than {MAX_NONCE_LENGTH} characters.")
        super().validate_openid_authorization_request(grant, redirect_uri)

    def exists_nonce(self, nonce, request):
        # A nonce this client sent before is a replayed request (Authlib answers invalid_request).
        return authorization_codes.nonce_was_used(request.payload.client_id, nonce)

    def session_id(self, request) -> str:
        return request.authorization_code.session_id


class RefreshIDToken(SessionIDToken, OpenIDToken):
    """The refresh grant's: a new ID token for the same session, ``auth_time`` and ``sid``; no nonce."""

    def session_id(self, request) -> str:
        return request.refresh_token.rotation.session.id
