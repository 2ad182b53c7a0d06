"""The HTTP views of the registration endpoint (RFC 7591) and of each registered client's
configuration endpoint (RFC 7592). Both exist only while ``AUTHSERVER_CLIENT_REGISTRATION`` is not
``off`` (404 otherwise). A body must be a JSON object of at most :data:`MAX_METADATA_BYTES`; anything
else is 400 ``invalid_client_metadata`` before any token or metadata is looked at."""

from __future__ import annotations

from authlib.oauth2.rfc7591 import InvalidClientMetadataError
from flask import Blueprint
from flask import current_app
from flask import request

from ...errors import MethodNotAllowedError
from ...errors import NotFoundError
from ...http import paths
from ...openapi.document import BEARER_CHALLENGE
from ...openapi.document import DATABASE_ERRORS
from ...openapi.document import NO_STORE
from ...openapi.document import RETRY_AFTER
from ...openapi.document import error_response
from ...openapi.document import json_response
from ...openapi.document import no_content
from ...openapi.document import operation
from ...openapi.registration import CLIENT_METADATA
from ...openapi.registration import CLIENT_UPDATE
from ...openapi.registration import REGISTERED_CLIENT
from ...openapi.registration import configuration_security
from ...openapi.registration import json_body
from ...openapi.registration import registration_security
from ...services import current_services
from .endpoints import ConfigurationEndpoint
from .endpoints import RegistrationEndpoint

bp = Blueprint("registration", __name__)

ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# Client metadata is a few hundred bytes; a registration endpoint anyone may call stores what it is given.
MAX_METADATA_BYTES = 8 * 1024


def registration_enabled() -> None:
    if current_services().settings.client_registration == "off":
        raise NotFoundError("Client registration is off on this server.")


def json_object_body() -> None:
    """RFC 7591 §3.1: the metadata is a JSON object (``application/json``), and a small one."""
    if request.content_length is not None and request.content_length > MAX_METADATA_BYTES:
        raise InvalidClientMetadataError(f"The client metadata must be at most {MAX_METADATA_BYTES} bytes.")
    body = request.get_data(cache=True)
    if len(body) > MAX_METADATA_BYTES:
        raise InvalidClientMetadataError(f"The client metadata must be at most {MAX_METADATA_BYTES} bytes.")
    if request.mimetype != "application/json" or not isinstance(request.get_json(silent=True), dict):
        raise InvalidClientMetadataError("The request body must be a JSON object (application/json).")


def server():
    return current_app.extensions["authserver.oauth"]


OFF = error_response("`not_found`: client registration is off (`AUTHSERVER_CLIENT_REGISTRATION`).")
BAD_METADATA = ("`invalid_redirect_uri` (not https, http on loopback or a reverse-domain private-use scheme; a "
                "fragment; `javascript:`…); `invalid_client_metadata` (not a JSON object, over 8 KiB, a grant other "
                "than authorization_code, refresh_token and the device code grant, an unknown auth method, a scope "
                "outside `AUTHSERVER_REGISTRATION_SCOPES`). Nothing is stored.")
BAD_TOKEN = error_response("`invalid_token`: the registration access token is missing, unknown or another client's.",
                           BEARER_CHALLENGE)
CLIENT_ID = {"client_id": {"description": "The registered client's id.", "schema": {"type": "string"}}}
REGISTERED = json_response("The client as registered, with its registration access token.", REGISTERED_CLIENT,
                           NO_STORE)


@bp.route(paths.REGISTRATION, methods=ANY_METHOD, provide_automatic_options=False)
@operation("post", summary="Register a client (RFC 7591)", tags=["registration"], security=registration_security(),
           description="Anyone while `AUTHSERVER_CLIENT_REGISTRATION=open`; with an initial access token while "
                       "`token`. The client is third-party: its users always see the consent page.",
           body=json_body(CLIENT_METADATA, "The client's metadata."), other_methods_refused=True, responses={
               201: json_response("Registered: the metadata as stored, the client's credentials (a secret unless "
                                  "`none`) and its registration access token.", REGISTERED_CLIENT, NO_STORE),
               400: error_response(BAD_METADATA),
               401: error_response("`invalid_token`: `token` mode, and no initial access token, or one unknown, "
                                   "expired or spent.", BEARER_CHALLENGE),
               404: OFF,
               429: error_response("`temporarily_unavailable`: this IP registered `AUTHSERVER_REGISTRATION_MAX_PER_IP` "
                                   "clients inside the window.", RETRY_AFTER),
               **DATABASE_ERRORS,
           })
def register():
    registration_enabled()
    if request.method != "POST":
        raise MethodNotAllowedError()
    json_object_body()
    return server().create_endpoint_response(RegistrationEndpoint.ENDPOINT_NAME)


@bp.route(paths.REGISTRATION_CLIENT, methods=ANY_METHOD, provide_automatic_options=False)
@operation("get", summary="Read a registered client (RFC 7592 §2.1)", tags=["registration"],
           security=configuration_security(), parameters=CLIENT_ID,
           responses={200: REGISTERED, 401: BAD_TOKEN, 404: OFF, **DATABASE_ERRORS})
@operation("put", summary="Replace a registered client's metadata (RFC 7592 §2.2)", tags=["registration"],
           security=configuration_security(), parameters=CLIENT_ID,
           body=json_body(CLIENT_UPDATE, "The whole metadata, with the client's `client_id`."),
           responses={200: REGISTERED, 400: error_response(f"`invalid_request` (no or another `client_id`, a wrong "
                                                           f"`client_secret`); {BAD_METADATA}"),
                      401: BAD_TOKEN, 404: OFF, **DATABASE_ERRORS})
@operation("delete", summary="Delete a registered client (RFC 7592 §2.3)", tags=["registration"],
           security=configuration_security(), parameters=CLIENT_ID, other_methods_refused=True,
           description="Every device session of the client ends; its tokens stop working.",
           responses={204: no_content("Deleted."), 401: BAD_TOKEN, 404: OFF, **DATABASE_ERRORS})
def configure(client_id):
    registration_enabled()
    if request.method not in ("GET", "PUT", "DELETE"):
        raise MethodNotAllowedError("Use GET, PUT or DELETE.", ("GET", "PUT", "DELETE"))
    if request.method == "PUT":
        json_object_body()
    return server().create_endpoint_response(ConfigurationEndpoint.ENDPOINT_NAME)
