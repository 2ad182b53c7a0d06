"""Who may call authserver's own JSON APIs and UserInfo (RFC 6750 bearer tokens, RFC 9449 DPoP-bound
tokens, RFC 9068 JWTs).

``@require_oauth()`` or ``@require_oauth("admin")`` on a view; inside it ``current_token`` is the
verified claims and ``current_token.device_session`` the caller's live session. The one validator
takes every step, in this order:

1. The token is one of ours, for these APIs, and live (``tokens/access_tokens.live_access_token``,
   the check introspection makes too: signature, claims, ``aud`` holding the server's own audience
   (``AUTHSERVER_AUDIENCE``: a token asked for another resource, RFC 8707, is that resource's and
   refused here), its ``jti`` not revoked, its device session usable:
   not ended, not idle or past its max age, its user not disabled); otherwise 401
   ``invalid_token``, and bare challenges ``Bearer, DPoP algs="…"`` when there is no token at all
   (§3.1; RFC 9449 §7.1). A token bound to a DPoP key (``cnf.jkt``) is taken only with the ``DPoP``
   scheme and a proof by that key over this request, carrying the token's hash (``ath``) and used
   once (``tokens/dpop.py``): sent as ``Bearer`` it is 401 ``invalid_token``; a bad proof is 401
   ``invalid_dpop_proof`` (``use_dpop_nonce`` when nonces are on), with a ``DPoP`` challenge.
2. These APIs act for a user: a client's own token (client credentials) is refused (403), except
   where the view needs a scope only a client acting for itself holds (``ssf.manage``, the security
   event streams' management API): there a user's token is refused (403).
3. Tokens of a restricted device session (one provisioned for a device) may not manage the account:
   views needing ``sessions`` or ``admin`` refuse them whatever scopes they carry (403).
4. The scope the view names is granted; ``admin`` only while the user is still an administrator,
   so an account that stops being one loses the API at once. Otherwise 403 ``insufficient_scope``
   with ``WWW-Authenticate: Bearer error="insufficient_scope", scope="…"``.

Refusals are raised as the errors of ``errors.py`` and rendered by the app's one handler.
"""

from __future__ import annotations

import logging

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import after_this_request
from flask import request

from ..errors import DPoPNonceRequired
from ..errors import DPoPProofInvalid
from ..errors import DPoPTokenError
from ..errors import InvalidDPoPProofError
from ..errors import InvalidTokenError
from ..errors import MissingAuthorizationError
from ..errors import MissingTokenError
from ..errors import ScopeRequiredError
from ..errors import UnsupportedTokenTypeError
from ..errors import UseDPoPNonceError
from ..errors import printable
from ..openapi.document import BEARER_CHALLENGE
from ..openapi.document import DATABASE_ERRORS
from ..openapi.document import bearer
from ..openapi.document import error_response
from ..openapi.document import operation
from ..ops.request_log import annotate
from ..scopes import ACCOUNT_SCOPES
from ..scopes import ADMIN_SCOPE
from ..scopes import CLIENT_SCOPES
from ..services import current_services
from ..tokens import dpop
from ..tokens.access_tokens import bound_key
from ..tokens.access_tokens import live_access_token

__all__ = ["require_oauth", "current_token", "REFUSED"]

log = logging.getLogger(__name__)

# What every view under @require_oauth may answer besides its own results (for /openapi.json).
REFUSED = {
    401: error_response("`invalid_token`: no access token, or one that is invalid, expired, revoked or of an "
                        "ended session, or bound to a DPoP key and sent as `Bearer`; `invalid_dpop_proof` or "
                        "`use_dpop_nonce`: with the `DPoP` scheme, a proof that fails a check (RFC 9449 §7.1).",
                        BEARER_CHALLENGE),
    403: error_response("`insufficient_scope`: the token lacks the scope the endpoint needs, is a client's own "
                        "(client credentials) where a user's is needed or the other way round, or belongs to a "
                        "restricted device session where the endpoint manages the account.", BEARER_CHALLENGE),
    **DATABASE_ERRORS,
}


class SessionTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        claims = self.live_claims(token_string)
        if bound_key(claims) is not None:
            raise self.invalid_token("The access token is bound to a key: send it with the DPoP scheme and a proof.")
        return claims

    def invalid_token(self, description: str) -> InvalidTokenError:
        return InvalidTokenError(realm=self.realm, description=description)

    def live_claims(self, token_string):
        services = current_services()
        live = live_access_token(services, token_string, services.settings.token_audience)
        sid = None if live is None else live.claims.get("sid")
        session = None if sid is None else services.sessions.find_user_session(sid)
        if live is None or (sid is not None and session is None):  # (None: deleted since the check)
            raise self.invalid_token("The access token is invalid, expired or revoked.")
        live.claims.device_session = session  # views read the session (and its user) from here
        annotate(client_id=live.claims["client_id"], session_id=live.claims.get("sid"))
        return live.claims

    def validate_token(self, token, scopes, request, **kwargs):
        session = token.device_session
        clients_own = CLIENT_SCOPES.intersection(scopes or ())
        if session is None and not clients_own:
            raise ScopeRequiredError("This endpoint needs a token issued to a user.")
        if session is not None and clients_own:
            raise ScopeRequiredError("This endpoint needs a client's own token (client credentials).",
                                     " ".join(sorted(clients_own)))
        if session is not None and session.restricted and ACCOUNT_SCOPES.intersection(scopes or ()):
            raise ScopeRequiredError("Tokens of a restricted device session cannot manage the account.")
        granted = (token.get("scope") or "").split()
        for scope in scopes or ():
            if scope not in granted or (scope == ADMIN_SCOPE and not session.user.is_admin):
                raise ScopeRequiredError(f"This endpoint needs the '{scope}' scope.", scope)


class DPoPTokenValidator(SessionTokenValidator):
    """``Authorization: DPoP <token>`` (RFC 9449 §7.1): the proof over this request (its URL built from
    the issuer, like every public URL), the token live and bound to the proof's key, the proof used once."""

    TOKEN_TYPE = "dpop"

    def invalid_token(self, description: str) -> InvalidTokenError:
        return DPoPTokenError(description, dpop.challenge("invalid_token", description))

    def authenticate_token(self, token_string):
        services = current_services()
        try:
            proof = services.dpop.check(request.headers, request.method, services.settings.issuer + request.path,
                                        access_token=token_string)
            if proof is None:
                raise DPoPProofInvalid("The DPoP scheme needs a DPoP proof.")
            claims = self.live_claims(token_string)
            if bound_key(claims) != proof.jkt:
                raise self.invalid_token("The access token is not bound to the proof's key.")
            services.dpop.remember(proof)
        except DPoPNonceRequired as error:
            description = "Send the proof again with the server's nonce."
            raise UseDPoPNonceError(description, 401, [
                ("WWW-Authenticate", dpop.challenge("use_dpop_nonce", description)),
                (dpop.NONCE_HEADER, error.nonce)]) from None
        except DPoPProofInvalid as error:
            description = printable(str(error))
            raise InvalidDPoPProofError(description, 401, [
                ("WWW-Authenticate", dpop.challenge("invalid_dpop_proof", description))]) from None
        hand_out_nonce(services.dpop.fresh_nonce())
        return claims


def hand_out_nonce(nonce: str | None) -> None:
    """RFC 9449 §8.2: with nonces on, the answer carries the current one."""
    if nonce is None:
        return

    @after_this_request
    def add(response):
        response.headers[dpop.NONCE_HEADER] = nonce
        return response


class SessionTokenProtector(ResourceProtector):
    def raise_error_response(self, error):
        if isinstance(error, (MissingAuthorizationError, UnsupportedTokenTypeError)):
            raise MissingTokenError(f"Bearer, {dpop.challenge()}") from None
        log.info("refused %s %s: %s", request.method, request.path, error.error)
        raise error


require_oauth = SessionTokenProtector()
require_oauth.register_token_validator(SessionTokenValidator())
require_oauth.register_token_validator(DPoPTokenValidator())


def protected_route(bp, method: str, rule: str, scope: str, *, tags: list[str], summary: str, responses: dict,
                    **declaration):
    """An API route in one declaration: the URL rule, its OpenAPI operation (bearer ``scope``, the
    protector's refusals added to ``responses``) and :data:`require_oauth` for ``scope``."""

    def decorate(view):
        protected = require_oauth(scope)(view)
        declared = operation(method, summary=summary, tags=tags, security=bearer(scope),
                             responses={**responses, **REFUSED}, **declaration)(protected)
        return bp.route(rule, methods=[method.upper()])(declared)

    return decorate
