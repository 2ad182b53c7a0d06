"""HTTP endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662), device
authorization (RFC 8628), JWKS (RFC 7517) and server metadata (RFC 8414). Each view checks the
request (``request_checks.py``), then lets Authlib answer; errors are raised and rendered by the
app's one handler (``errors.py``)."""

from __future__ import annotations

import hashlib

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from ..database import reads_first
from ..services import current_services
from . import paths
from .device_code import DeviceAuthorizationEndpoint
from .introspection import IntrospectionEndpoint
from .metadata import server_metadata
from .request_checks import check_token_request
from .revocation import RevocationEndpoint

bp = Blueprint("oauth", __name__)

# Every method is routed so that a wrong one gets an OAuth error (405 with Allow: POST), not HTML;
# OPTIONS too, instead of Flask's automatic answer (these endpoints are not for browsers' CORS).
ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def authorization_server():
    return current_app.extensions["authserver.oauth"]


@bp.route(paths.TOKEN, methods=ANY_METHOD, provide_automatic_options=False)
def token():
    check_token_request(request, token_endpoint=True)
    return authorization_server().create_token_response()


@bp.route(paths.REVOCATION, methods=ANY_METHOD, provide_automatic_options=False)
def revoke():
    check_token_request(request)
    return authorization_server().create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)


@bp.route(paths.INTROSPECTION, methods=ANY_METHOD, provide_automatic_options=False)
def introspect():
    check_token_request(request)
    reads_first()  # only an expired session found on the way is written (introspection.py)
    return authorization_server().create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)


@bp.route(paths.DEVICE_AUTHORIZATION, methods=ANY_METHOD, provide_automatic_options=False)
def device_authorization():
    check_token_request(request)
    return authorization_server().create_endpoint_response(DeviceAuthorizationEndpoint.ENDPOINT_NAME)


@bp.route(paths.JWKS)
def jwks():
    """The public keys, with ``Cache-Control`` and a strong ``ETag`` (the digest of the body, the same
    on every node holding the same keys): a resource server revalidating its copy with
    ``If-None-Match`` gets ``304 Not Modified`` until a key is added or retired."""
    services = current_services()
    response = cacheable(jsonify(services.keyring.jwks()), services.settings.jwks_max_age_seconds)
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest())
    return response.make_conditional(request)


@bp.route(paths.METADATA)
def metadata():
    return cacheable(jsonify(server_metadata(current_services().settings)), 300)


def cacheable(response, max_age: int):
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response
