"""The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), for third-party apps.

Authlib runs the protocol; this fills in its hooks. PKCE is ``S256`` only: ``plain`` is refused,
and a public client must send a challenge (``S256CodeChallenge``); confidential clients may. Codes
live in ``authorization_codes.py`` (digests, single use, a short lifetime). The exchange opens a
device session like every sign-in -- the approving browser's User-Agent and IP are its device, its
sign-in time the session's ``auth_time`` -- with a rotating refresh-token chain; a second use of the
code ends that session. OpenID Connect (``oauth/oidc/``) adds the nonce and the ID token.
"""

from __future__ import annotations

from collections import Counter

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import g

from ...accounts import resources
from ...errors import CodeInvalid
from ...errors import InvalidRequestError
from ...http.request_context import device_context
from ...scopes import granted_scope
from ...services import current_services
from ...sessions.device_sessions import DeviceContext
from ...store import authorization_codes
from ...store.models import AUTH_METHODS
from ..request_checks import refuse_repeated
from .base import issue_session_tokens
from .base import refresh_token_binding
from .base import resource_parameters
from .base import token_response

S256 = "S256"


class S256CodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = [S256]
    DEFAULT_CODE_CHALLENGE_METHOD = S256

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") and grant.request.client.is_public:
            raise InvalidRequestError("A public client must send a PKCE code_challenge (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != S256:
            # RFC 7636 §4.3: no method means plain, which this server refuses.
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    READS_FIRST = False  # it redeems the code (a conditional UPDATE) right after reading it
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    @staticmethod
    def validate_no_multiple_request_parameter(request):
        # Instead of Authlib's check of five parameters: none may repeat (RFC 6749 §3.1) but `resource`.
        refuse_repeated(Counter({name: len(values) for name, values in request.payload.datalist.items()}),
                        state=request.payload.state)

    def generate_authorization_code(self):
        return authorization_codes.new_code()

    def save_authorization_code(self, code, request):
        services, data, user = current_services(), request.payload.data, request.user
        # The resources (RFC 8707) the user authorized: the code remembers them, and so does the session.
        targets = resources.registered(resource_parameters(self))
        scope = granted_scope(request.client, user, request.payload.scope,
                              resource_limits=[target.scope_limit for target in targets])
        authorization_codes.save_code(
            services.settings, services.clock.now(), code, client=request.client, user=user,
            redirect_uri=request.payload.redirect_uri, scope=scope, code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"), device=device_context(),
            browser_session=g.device_session, nonce=data.get("nonce"),
            resources=resources.stored(target.uri for target in targets))

    def query_authorization_code(self, code, client):
        return authorization_codes.find_code(current_services(), code, client.client_id)

    def delete_authorization_code(self, authorization_code):
        pass  # redeemed (marked used) in create_token_response; kept to recognise a second use

    def validate_token_request(self):
        super().validate_token_request()
        # Before the code is redeemed: a resource the user did not authorize does not spend it.
        self.request.resources = resources.within_grant(resource_parameters(self),
                                                        self.request.authorization_code.resources)

    def authenticate_user(self, authorization_code):
        user = authorization_code.user
        return None if user.is_disabled else user

    def create_token_response(self):
        services, client, row = current_services(), self.request.client, self.request.authorization_code
        authorization_codes.redeem_code(services, row)
        user = self.authenticate_user(row)
        if user is None:
            raise CodeInvalid("user disabled")
        session = services.sessions.open_session(user, client, row.scope,
                                                 DeviceContext(ip=row.ip, user_agent=row.user_agent),
                                                 resources=row.resources,
                                                 dpop_jkt=refresh_token_binding(client))
        row.session_id = session.id
        # The browser's sign-in that approved the code: OpenID Connect's auth_time, and My devices' link.
        session.auth_time, session.browser_session_id = row.auth_time, row.browser_session_id
        token = issue_session_tokens(self, user, session, services.refresh_tokens.start_chain(session), row.scope,
                                     self.request.resources)
        return token_response(self, token)
