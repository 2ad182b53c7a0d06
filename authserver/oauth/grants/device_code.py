"""The device authorization grant (RFC 8628 §3.4–3.5) for TVs, CLIs and sensors: polling at the
token endpoint (the device authorization endpoint, §3.1–3.2, is ``endpoints/device_authorization.py``).

Authlib provides the shapes; the rules are in ``device_authorizations.py``. Answers follow the RFCs rather
than Authlib's defaults: an unknown, spent or other client's device code is ``invalid_grant``
(Authlib says ``invalid_request`` / ``unauthorized_client``), an expired one ``expired_token``.
An approval opens a **restricted** device session: it can use the APIs its scopes allow, never
those that manage the account (``api/protector.py``). Its refresh tokens rotate like any other's.
"""

from __future__ import annotations

from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant

from ...accounts import resources
from ...errors import InvalidRequestError
from ...errors import PollRefused
from ...errors import UnauthorizedClientError
from ...services import current_services
from ...sessions.device_sessions import DeviceContext
from ...store import device_authorizations
from ...store.models import AUTH_METHODS
from .base import issue_session_tokens
from .base import refresh_token_binding
from .base import resource_parameters
from .base import token_response


class DeviceCodeGrant(_DeviceCodeGrant):
    READS_FIRST = False  # the poll locks the device authorization's row and records its time
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self):
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("The 'device_code' parameter is required.")
        client = self.authenticate_token_endpoint_client()
        asked = resources.requested(resource_parameters(self))  # a malformed one is refused before polling
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for the device authorization grant.")
        # Anything but an approval is refused with the RFC 8628 §3.5 code (PollRefused, errors.py).
        row = device_authorizations.poll(device_code, client.client_id, current_services().clock.now())
        if row.user.is_disabled:
            raise PollRefused("invalid_grant")
        # Any of the resources the device asked for (RFC 8707); another is refused (the code is then spent).
        self.request.resources = resources.within_grant(asked, row.resources)
        self.request.client, self.request.user, self.request.credential = client, row.user, row

    def create_token_response(self):
        services, client, row = current_services(), self.request.client, self.request.credential
        device = DeviceContext(ip=row.ip, user_agent=row.user_agent, device_name=row.device_name)
        session = services.sessions.open_session(row.user, client, row.scope, device, restricted=True,
                                                 resources=row.resources,
                                                 dpop_jkt=refresh_token_binding(client))
        row.session_id = session.id
        token = issue_session_tokens(self, row.user, session, services.refresh_tokens.start_chain(session), row.scope,
                                     self.request.resources)
        return token_response(self, token)
