"""The device authorization grant (RFC 8628) for TVs, CLIs and sensors: the device authorization
endpoint (§3.1–3.2) and polling at the token endpoint (§3.4–3.5).

Authlib provides the shapes; the rules are in ``device_codes.py``. Answers follow the RFCs rather
than Authlib's defaults: an unknown, spent or other client's device code is ``invalid_grant``
(Authlib says ``invalid_request`` / ``unauthorized_client``), an expired one ``expired_token``.
An approval opens a **restricted** device session: it can use the APIs its scopes allow, never
those that manage the account (``api/protector.py``). Its refresh tokens rotate like any other's.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import AccessDeniedError
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _DeviceAuthorizationEndpoint
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError
from authlib.oauth2.rfc8628.errors import ExpiredTokenError
from authlib.oauth2.rfc8628.errors import SlowDownError

from .. import device_codes
from ..errors import InvalidGrantError
from ..errors import InvalidRequestError
from ..errors import UnauthorizedClientError
from ..models import AUTH_METHODS
from ..openapi import schema
from ..request_context import device_context
from ..scopes import granted_scope
from ..services import current_services
from ..sessions import DeviceContext
from . import paths
from .client_auth import FORM_FIELDS
from .grants import SCOPE_FIELD
from .grants import grant_form
from .grants import issue_session_tokens

POLL_ERRORS = {
    "authorization_pending": AuthorizationPendingError,
    "slow_down": SlowDownError,
    "access_denied": AccessDeniedError,
    "expired_token": ExpiredTokenError,
    "invalid_grant": InvalidGrantError,
}


DEVICE_AUTHORIZATION_FORM = schema("DeviceAuthorizationForm", {
    "description": "RFC 8628 §3.1.",
    "type": "object",
    "properties": {
        "scope": SCOPE_FIELD,
        "device_name": {"type": "string", "description": "How the device is shown on the approval page and in "
                                                         "My devices; otherwise one is made from the User-Agent."},
        **FORM_FIELDS,
    },
})
DEVICE_AUTHORIZATION_RESPONSE = schema("DeviceAuthorizationResponse", {
    "description": "RFC 8628 §3.2: show `user_code` and `verification_uri` (or `verification_uri_complete`) to the "
                   "user, then poll the token endpoint with `device_code` every `interval` seconds.",
    "type": "object",
    "required": ["device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in",
                 "interval"],
    "properties": {
        "device_code": {"type": "string"},
        "user_code": {"type": "string"},
        "verification_uri": {"type": "string", "format": "uri"},
        "verification_uri_complete": {"type": "string", "format": "uri"},
        "expires_in": {"type": "integer", "minimum": 1},
        "interval": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
})


class DeviceAuthorizationEndpoint(_DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def create_endpoint_response(self, request):
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for the device authorization grant.")
        # Beyond the client's scopes: invalid_scope; `admin` never (the session will be restricted).
        scope = granted_scope(client, None, request.payload.scope)
        services = current_services()
        settings = services.settings
        device_code, user_code = device_codes.start(settings, services.clock.now(), client, scope,
                                                    device_context(request.payload.data.get("device_name")))
        verification_uri = settings.issuer + paths.DEVICE_VERIFICATION
        body = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
            "expires_in": settings.device_code_ttl_seconds,
            "interval": settings.device_poll_interval_seconds,
        }
        return 200, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                           ("Pragma", "no-cache")]


class DeviceCodeGrant(_DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    FORM = grant_form(
        "DeviceCodeGrantForm", "urn:ietf:params:oauth:grant-type:device_code",
        "RFC 8628 §3.4: polling. Until the user decides: `authorization_pending` (or `slow_down`: poll 5 seconds "
        "less often); then tokens once, or `access_denied`, `expired_token`.", ("device_code",),
        device_code={"type": "string", "minLength": 1})

    def validate_token_request(self):
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("The 'device_code' parameter is required.")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for the device authorization grant.")
        try:
            row = device_codes.poll(device_code, client.client_id, current_services().clock.now())
        except device_codes.PollRefused as refused:
            raise POLL_ERRORS[refused.error]() from None
        if row.user.is_disabled:
            raise InvalidGrantError()
        self.request.client, self.request.user, self.request.credential = client, row.user, row

    def create_token_response(self):
        services, client, row = current_services(), self.request.client, self.request.credential
        device = DeviceContext(ip=row.ip, user_agent=row.user_agent, device_name=row.device_name)
        session = services.sessions.open_session(row.user, client, row.scope, device, restricted=True)
        row.session_id = session.id
        token = issue_session_tokens(self, row.user, session, services.refresh_tokens.start_chain(session), row.scope)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
