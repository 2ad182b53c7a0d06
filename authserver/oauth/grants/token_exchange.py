"""OAuth 2.0 Token Exchange (RFC 8693), for clients registered with its grant type, in two uses:

- **Moving users over** (``subject_token_type`` ``urn:authserver:token-type:legacy-session``): a
  session token of an older store, imported by ``authserver legacy import``
  (``sessions/legacy_sessions.py``), becomes an ordinary device session that keeps the imported device
  name, user agent and first-seen time, with an access token and a rotating refresh token. Each
  legacy token works once: of two exchanges racing for it, one wins.
- **Delegation** (``subject_token_type`` ``urn:ietf:params:oauth:token-type:access_token``, §1.1): a
  client acting for the user of an access token gets a token for registered resources (``resource``,
  RFC 8707, or ``audience`` naming one; ``accounts/resources.py``), with at most the subject token's
  scopes (and the resources'), and ``act``
  ``{"sub": <the client>}`` (§4.1; nesting the subject token's own ``act``), in the subject token's
  device session: it dies with it. No refresh token (§2.2.1: optional).

Errors (§2.2.2, RFC 6749 §5.2): a missing parameter, an unsupported ``subject_token_type`` or
``requested_token_type``, and an ``actor_token`` we cannot verify (§2.2.2: "either the subject_token or
actor_token are invalid … invalid_request") are ``invalid_request``; an unregistered audience or
resource ``invalid_target``; scope beyond the subject token's ``invalid_scope``; a subject token that
is unknown, spent, expired or of a disabled user ``invalid_grant`` (as RFC 6749 §5.2 says of any
grant, and the contract asks); a client without the grant ``unauthorized_client``. The issued
token's type is always an access token (``issued_token_type``).
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749.grants import BaseGrant
from authlib.oauth2.rfc6749.grants import TokenEndpointMixin

from ...accounts import resources
from ...errors import InvalidGrantError
from ...errors import InvalidRequestError
from ...errors import TargetInvalid
from ...errors import UnauthorizedClientError
from ...ops.request_log import annotate
from ...scopes import granted_scope
from ...services import current_services
from ...store.models import AUTH_METHODS
from ...tokens.access_tokens import OUR_AUDIENCES
from ...tokens.access_tokens import live_access_token
from .base import issue_session_tokens
from .base import resource_parameters
from .base import token_response

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
LEGACY_SESSION_TYPE = "urn:authserver:token-type:legacy-session"
SUBJECT_TOKEN_TYPES = (LEGACY_SESSION_TYPE, ACCESS_TOKEN_TYPE)


@dataclass(frozen=True)
class Delegation:
    """What a delegation issues: a token in the subject token's ``session``, for ``audience`` (resource
    URIs; none: the server's own), with ``act``."""

    session: object
    audience: tuple[str, ...]
    act: dict


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_TYPE
    READS_FIRST = True  # the subject token is checked by reads; the claim (legacy) is the first write
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)  # a first-party mobile app (public) moves its users over

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for token exchange.")
        self.request.client = client
        form = self.request.payload.data
        subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
        if not subject_token or not subject_type:
            raise InvalidRequestError("The 'subject_token' and 'subject_token_type' parameters are required.")
        if subject_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequestError("Unsupported subject_token_type.")
        if form.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError("Only access tokens are issued (requested_token_type).")
        self.check_actor(form.get("actor_token"), form.get("actor_token_type"), client)
        targets = self.targets(form.get("audience"))
        if subject_type == LEGACY_SESSION_TYPE:
            self.validate_legacy(subject_token, targets, client)
        else:
            self.validate_delegation(subject_token, targets, client)

    def check_actor(self, actor_token, actor_type, client) -> None:
        """§2.1: ``actor_token_type`` with ``actor_token`` only. The actor we can verify is the client
        itself: a live access token of ours issued to it (its client credentials token, say)."""
        if not actor_token and not actor_type:
            return
        if not actor_token or actor_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError("actor_token needs actor_token_type access_token, and the other way round.")
        live = live_access_token(current_services(), actor_token, OUR_AUDIENCES)
        if live is None or live.claims["client_id"] != client.client_id:
            raise InvalidRequestError("The actor_token cannot be verified.")

    def targets(self, audience: str | None) -> list:
        """The registered resources (RFC 8707 rows) the token is for: every ``resource`` and the
        ``audience`` (§2.1: the logical name of the target; here the server's own audience, which
        adds nothing, or a registered resource's URI). None named: the server's own audience."""
        uris = resource_parameters(self)
        if audience and audience != current_services().settings.token_audience:
            uris.append(audience)
        return resources.registered(uris)  # invalid_target for one not registered (errors.py)

    def validate_legacy(self, subject_token: str, targets: list, client) -> None:
        services = current_services()
        if targets:
            raise TargetInvalid("A legacy session is exchanged for this server's own tokens only.")
        legacy = services.legacy.exchangeable(subject_token)  # invalid_grant otherwise (errors.py)
        self.request.user = legacy.user
        self.request.credential = legacy
        self.request.granted_scope = granted_scope(client, legacy.user, self.request.payload.scope)

    def validate_delegation(self, subject_token: str, targets: list, client) -> None:
        services = current_services()
        live = live_access_token(services, subject_token, OUR_AUDIENCES)
        session = None
        if live is not None and "sid" in live.claims:
            session = services.sessions.find_user_session(live.claims["sid"])
        if session is None:  # not ours, dead, or a client's own token (no user to act for)
            raise InvalidGrantError("The subject_token is invalid, expired or revoked, or not a user's.")
        act = {"sub": client.client_id}
        if "act" in live.claims:
            act["act"] = live.claims["act"]  # §4.1: the current actor first, the earlier ones nested
        self.request.user = session.user
        self.request.credential = Delegation(session, tuple(target.uri for target in targets), act)
        # The one scope rule, with the subject token's scope as the ceiling (beyond it: invalid_scope)
        # and what each resource allows.
        self.request.granted_scope = granted_scope(client, session.user, self.request.payload.scope,
                                                   granted_before=live.claims.get("scope") or "",
                                                   resource_limits=[target.scope_limit for target in targets])

    def create_token_response(self):
        services, client, user = current_services(), self.request.client, self.request.user
        scope = self.request.granted_scope
        delegation = self.request.credential
        if isinstance(delegation, Delegation):
            annotate(session_id=delegation.session.id)
            token = issue_session_tokens(self, user, delegation.session, None, scope, delegation.audience,
                                         act=delegation.act)
        else:
            session = services.legacy.open_session(self.request.credential, client, scope)
            annotate(session_id=session.id)
            token = issue_session_tokens(self, user, session, services.refresh_tokens.start_chain(session), scope)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        return token_response(self, token)
