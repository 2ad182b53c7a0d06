"""HTTP endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662), JWKS (RFC 7517)
and server metadata (RFC 8414)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from ..database import db
from ..models import Client
from ..services import current_services
from .introspection import IntrospectionEndpoint
from .request_checks import check_token_request
from .revocation import RevocationEndpoint
from .server import supported_auth_methods
from .server import supported_grant_types

bp = Blueprint("oauth", __name__)

TOKEN_PATH = "/oauth/token"
REVOCATION_PATH = "/oauth/revoke"
INTROSPECTION_PATH = "/oauth/introspect"
JWKS_PATH = "/oauth/jwks"
# Every method is routed so that a wrong one gets an OAuth error (405 with Allow: POST), not HTML;
# OPTIONS too, instead of Flask's automatic answer (these endpoints are not for browsers' CORS).
ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def authorization_server():
    return current_app.extensions["authserver.oauth"]


def oauth_error_response(error: OAuth2Error):
    server = authorization_server()
    return server.handle_response(*error())


def checked_form_request(respond, token_endpoint: bool = False):
    """Refuse what no endpoint should see (``request_checks.py``), else let Authlib answer."""
    try:
        check_token_request(request, token_endpoint=token_endpoint)
    except OAuth2Error as error:
        return oauth_error_response(error)
    return respond()


@bp.route(TOKEN_PATH, methods=ANY_METHOD, provide_automatic_options=False)
def token():
    return checked_form_request(authorization_server().create_token_response, token_endpoint=True)


@bp.route(REVOCATION_PATH, methods=ANY_METHOD, provide_automatic_options=False)
def revoke():
    return checked_form_request(
        lambda: authorization_server().create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME))


@bp.route(INTROSPECTION_PATH, methods=ANY_METHOD, provide_automatic_options=False)
def introspect():
    return checked_form_request(
        lambda: authorization_server().create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME))


@bp.route(JWKS_PATH)
def jwks():
    response = jsonify(current_services().keyring.jwks())
    response.cache_control.public = True
    response.cache_control.max_age = current_services().settings.jwks_max_age_seconds
    return response


def server_metadata() -> dict:
    issuer = current_services().settings.issuer
    scopes = set()
    for (scope,) in db.session.execute(db.select(Client.scope).distinct()):
        scopes.update(scope.split())
    metadata = AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=issuer + TOKEN_PATH,
        jwks_uri=issuer + JWKS_PATH,
        grant_types_supported=supported_grant_types(),
        token_endpoint_auth_methods_supported=supported_auth_methods(),
        revocation_endpoint=issuer + REVOCATION_PATH,
        revocation_endpoint_auth_methods_supported=supported_auth_methods(RevocationEndpoint.ENDPOINT_NAME),
        introspection_endpoint=issuer + INTROSPECTION_PATH,
        introspection_endpoint_auth_methods_supported=supported_auth_methods(IntrospectionEndpoint.ENDPOINT_NAME),
        scopes_supported=sorted(scopes),
        # RFC 8414 requires the member; empty until the authorization endpoint exists.
        response_types_supported=[],
    )
    return metadata


@bp.route("/.well-known/oauth-authorization-server")
def metadata():
    response = jsonify(server_metadata())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response
