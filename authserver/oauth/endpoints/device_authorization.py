"""The device authorization endpoint (RFC 8628 §3.1–3.2): a device asks for a device code and a
user code; the user approves on the verification page (``web/device_verification.py``) and the
device polls the token endpoint (``grants/device_code.py``)."""

from __future__ import annotations

from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _DeviceAuthorizationEndpoint

from ...accounts import resources
from ...errors import UnauthorizedClientError
from ...http import paths
from ...http.request_context import device_context
from ...scopes import USER_NOT_YET_KNOWN
from ...scopes import granted_scope
from ...services import current_services
from ...store import device_authorizations
from ...store.models import AUTH_METHODS


class DeviceAuthorizationEndpoint(_DeviceAuthorizationEndpoint):
    READS_FIRST = False  # it writes the authorization it starts
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def create_endpoint_response(self, request):
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for the device authorization grant.")
        # Beyond the client's scopes: invalid_scope; `admin` never (the session will be restricted), nor a
        # client's own scope (the tokens will be a user's).
        # The resources (RFC 8707) the device asks for: its tokens' audience and a limit on their scope.
        targets = resources.registered(request.payload.datalist.get("resource"))
        scope = granted_scope(client, USER_NOT_YET_KNOWN, request.payload.scope,
                              resource_limits=[target.scope_limit for target in targets])
        services = current_services()
        settings = services.settings
        device_code, user_code = device_authorizations.start(settings, services.clock.now(), client, scope,
                                                    device_context(request.payload.data.get("device_name")),
                                                    resources=resources.stored(target.uri for target in targets))
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
