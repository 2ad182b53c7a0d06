"""The authorization server: the single list of enabled grants, endpoints and client auth methods."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidClientError

from ..database import db
from ..models import AUTH_METHODS
from ..models import Client
from .grants import PasswordGrant
from .grants import RefreshGrant
from .introspection import IntrospectionEndpoint
from .revocation import RevocationEndpoint
from .tokens import AccessTokenGenerator

GRANTS = (PasswordGrant, RefreshGrant)
ENDPOINTS = (RevocationEndpoint, IntrospectionEndpoint)


def query_client(client_id):
    return db.session.get(Client, client_id) if client_id else None


def save_token(token, request):
    # The grant has written the session and refresh-token rows; make them durable together.
    db.session.commit()


def authenticate_client_secret_basic(query_client, request):
    client_id, client_secret = basic_credentials(request.headers)
    if client_id and client_secret is not None:
        client = query_client(client_id)
        if client is not None and client.check_client_secret(client_secret):
            return client
    return None


def basic_credentials(headers):
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64, so '+' is a space."""
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return None, None
    if "\x00" in decoded:
        return None, None  # no client id or secret holds NUL (and PostgreSQL could not look it up)
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        return unquote_plus(raw_id), None
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def authenticate_client_secret_post(query_client, request):
    client_id = request.form.get("client_id")
    client_secret = request.form.get("client_secret")
    if client_id and client_secret:
        client = query_client(client_id)
        if client is not None and client.check_client_secret(client_secret):
            return client
    return None


def authenticate_none(query_client, request):
    client_id = request.form.get("client_id")
    if client_id and "client_secret" not in request.form and not basic_credentials(request.headers)[0]:
        return query_client(client_id)
    return None


class Server(AuthorizationServer):
    def authenticate_client(self, request, methods, endpoint="token"):
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            # One answer whether the client is unknown or its secret wrong (no probing of ids).
            raise InvalidClientError(status_code=401, description="Client authentication failed.") from None


def create_authorization_server(app, services) -> Server:
    server = Server()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", AccessTokenGenerator(services))
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_client_auth_method("client_secret_post", authenticate_client_secret_post)
    server.register_client_auth_method("none", authenticate_none)
    for grant in GRANTS:
        server.register_grant(grant)
    for endpoint in ENDPOINTS:
        server.register_endpoint(endpoint)
    return server


def supported_grant_types() -> list[str]:
    return [grant.GRANT_TYPE for grant in GRANTS]


def supported_auth_methods(endpoint: str = "token") -> list[str]:
    """What RFC 8414 metadata advertises: public clients (``none``) can never introspect."""
    if endpoint == IntrospectionEndpoint.ENDPOINT_NAME:
        return [method for method in AUTH_METHODS if method != "none"]
    return list(AUTH_METHODS)
