"""The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps: it checks
the password inside the sign-in budgets (``accounts/throttle.py``) and opens a device session."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from ...accounts import resources
from ...accounts import throttle
from ...accounts import users
from ...errors import InvalidGrantError
from ...http.request_context import client_ip
from ...http.request_context import device_context
from ...ops.request_log import annotate
from ...scopes import granted_scope
from ...services import current_services
from ...store.models import AUTH_METHODS
from .base import issue_session_tokens
from .base import refresh_token_binding
from .base import resource_parameters
from .base import token_response


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """First-party apps only: a client must be registered with the password grant."""

    READS_FIRST = True  # the argon2 check holds no transaction; the session is written after it
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self):
        super().validate_token_request()
        targets = resources.registered(resource_parameters(self))
        self.request.resources = [target.uri for target in targets]
        self.request.granted_scope = granted_scope(self.request.client, self.request.user, self.request.payload.scope,
                                                   resource_limits=[target.scope_limit for target in targets])

    def authenticate_token_endpoint_client(self):
        # Authlib sets request.client only after authenticate_user, which needs it first: a client
        # that signed the user in from this address before is exempt from the account budget.
        self.authenticated_client = super().authenticate_token_endpoint_client()
        return self.authenticated_client

    def authenticate_user(self, username, password):
        services = current_services()
        ip = client_ip()
        throttle.check_login(services, username, ip, client_id=self.authenticated_client.client_id)
        user = users.authenticate_user(services, username, password, ip=ip)
        if user is None:
            # Same answer for an unknown user, a wrong password and a disabled account.
            raise InvalidGrantError("The username or password is incorrect.")
        return user

    def create_token_response(self):
        user, client, scope = self.request.user, self.request.client, self.request.granted_scope
        services = current_services()
        device = device_context(self.request.form.get("device_name"))
        session = services.sessions.open_session(user, client, scope, device,
                                                 resources=resources.stored(self.request.resources),
                                                 dpop_jkt=refresh_token_binding(client))
        annotate(session_id=session.id)
        refresh_token = services.refresh_tokens.start_chain(session)
        token = issue_session_tokens(self, user, session, refresh_token, scope, self.request.resources)
        return token_response(self, token)
