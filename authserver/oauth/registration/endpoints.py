"""The registration endpoint (RFC 7591 §3) and the client configuration endpoint (RFC 7592 §2), on
Authlib's ``ClientRegistrationEndpoint`` and ``ClientConfigurationEndpoint`` with their hooks filled in.

Registration: throttled per IP first (``throttle.py``'s registration budget); with
``AUTHSERVER_CLIENT_REGISTRATION=token`` an initial access token is needed (``Authorization: Bearer``),
whose use is spent only once the metadata is found good, in the same transaction that stores the
client; then the metadata is checked (``client_metadata.py``): a refusal stores nothing. The answer
(201) echoes the metadata with ``client_id``, ``client_secret`` (not for ``none``), ``client_id_issued_at``,
``client_secret_expires_at`` (0: never), ``registration_access_token`` and ``registration_client_uri``.

Configuration: ``GET``, ``PUT``, ``DELETE`` at ``registration_client_uri`` with the registration access
token; any other token, or none, is 401 ``invalid_token`` (RFC 7592 §2.1, RFC 6750 §3.1) whichever
client it is for.
"""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7591 import InvalidClientMetadataError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import request as flask_request

from ...accounts import registration
from ...errors import RegistrationTokenInvalid
from ...http import paths
from ...http.request_context import client_ip
from ...services import current_services
from .client_metadata import checked_metadata
from .client_metadata import metadata_json
from .client_metadata import server_metadata

OPEN = "open"
TOKEN = "token"


def bearer_token(headers) -> str | None:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def configuration_uri(client) -> str:
    return current_services().settings.issuer + paths.REGISTRATION_CLIENT.replace("<client_id>", client.client_id)


def registered_json(client) -> dict:
    """RFC 7591 §3.2.1: the client's metadata and what the server issued."""
    body = metadata_json(client, registration.echoed_metadata(client))
    body["client_id_issued_at"] = int(client.created_at.timestamp())
    body["client_secret_expires_at"] = 0  # secrets do not expire
    return body


class RegistrationEndpoint(ClientRegistrationEndpoint):
    READS_FIRST = False

    def create_registration_response(self, request):
        # Authlib's steps, in its order, with our client ids and secrets (made where they are stored).
        request.credential = self.authenticate_token(request)
        metadata = self.extract_client_metadata(request)
        client, secret, access_token = self.save_client(None, metadata, request)
        body = registered_json(client)
        if secret:
            body["client_secret"] = secret
        body.update(self.generate_client_registration_info(client, request, access_token))
        return 201, body, default_json_headers

    def authenticate_token(self, request):
        """The initial access token's digest (``token`` mode), or ``OPEN``."""
        services = current_services()
        registration.check_registrations(services, client_ip())
        if services.settings.client_registration == TOKEN:
            return registration.check_initial_token(services, bearer_token(request.headers))
        return OPEN

    def extract_client_metadata(self, request):
        return checked_metadata(request.payload.data, current_services().settings)

    def save_client(self, client_info, client_metadata, request):
        initial_token = None if request.credential == OPEN else request.credential
        return registration.register(current_services(), client_metadata, client_ip(), initial_token)

    def generate_client_registration_info(self, client, request, access_token=None):
        return {"registration_client_uri": configuration_uri(client), "registration_access_token": access_token}

    def get_server_metadata(self):
        return server_metadata(current_services().settings)


class _Checked:
    """The registration access token, already found to be the client's (``authenticate_client``)."""

    def __init__(self, token: str):
        self.token = token

    def check_client(self, client) -> bool:
        return True


class ConfigurationEndpoint(ClientConfigurationEndpoint):
    READS_FIRST = False

    def authenticate_token(self, request):
        token = bearer_token(request.headers)
        if token is None:
            raise RegistrationTokenInvalid()
        return _Checked(token)

    def authenticate_client(self, request):
        return registration.client_of_registration_token(request.credential.token,
                                                         flask_request.view_args["client_id"])

    def check_permission(self, client, request):
        return True  # the token is this client's: it may read, change and delete itself

    def create_update_client_response(self, client, request):
        if not isinstance(request.payload.data, dict):
            raise InvalidRequestError("The request body must be a JSON object of client metadata.")
        return super().create_update_client_response(client, request)

    def extract_client_metadata(self, request):
        data = {name: value for name, value in request.payload.data.items()
                if name not in ("client_id", "client_secret")}  # checked by Authlib before
        return checked_metadata(data, current_services().settings)

    def introspect_client(self, client):
        return registered_json(client)

    def generate_client_registration_info(self, client, request):
        return {"registration_client_uri": configuration_uri(client),
                "registration_access_token": request.credential.token}

    def update_client(self, client, client_metadata, request):
        if client_metadata.auth_method != client.auth_method:
            # A secret is issued at registration only; a public client cannot become confidential here.
            raise InvalidClientMetadataError("token_endpoint_auth_method cannot change; register a new client.")
        return registration.update(current_services(), client, client_metadata)

    def delete_client(self, client, request):
        registration.deregister(current_services(), client, client_ip())

    def revoke_access_token(self, token, request):
        pass  # never reached: an unknown client's token is refused in authenticate_client

    def get_server_metadata(self):
        return server_metadata(current_services().settings)
