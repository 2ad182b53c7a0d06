"""The Shared Signals Framework 1.0 endpoints: the transmitter metadata (§7.2,
``/.well-known/ssf-configuration``) and the stream management API (§8.1): configuration (create,
read, update, replace, delete), status and verification.

The management API takes a client's own access token (client credentials) holding ``ssf.manage``
(``api/protector.py``; a user's token, or one without the scope, is 403 ``insufficient_scope``, none
401). A client sees and manages only the streams it made; another's id is 404 like an unknown one.
Each view parses, calls ``streams.py`` and shapes the answer; the request's unit of work commits.
"""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from ..api.protector import current_token
from ..api.protector import protected_route
from ..errors import InvalidRequestError
from ..http import paths
from ..http.caching import cacheable
from ..openapi.document import error_response
from ..openapi.document import json_body
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..openapi.document import operation
from ..openapi.ssf import SSF_CONFIGURATION
from ..openapi.ssf import STATUS_REQUEST
from ..openapi.ssf import STREAM_CONFIGURATION
from ..openapi.ssf import STREAM_CONFIGURATIONS
from ..openapi.ssf import STREAM_REQUEST
from ..openapi.ssf import STREAM_STATUS
from ..openapi.ssf import VERIFICATION_REQUEST
from ..scopes import SSF_MANAGE_SCOPE
from ..services import current_services
from . import streams

bp = Blueprint("ssf", __name__)

TAGS = ["events"]
REFUSED_STREAM = error_response("`invalid_request`: the body is not a JSON object, or the endpoint (not http(s), "
                                "not https when the issuer is, on a private address), an event type or a value "
                                "is refused. Nothing is stored.")
NO_STREAM = error_response("`not_found`: no such stream of yours.")
STREAM_ID = {"stream_id": {"schema": {"type": "string"}, "description": "The stream (without it: all of yours)."}}


@bp.after_request
def no_store(response):
    if request.path != paths.SSF_CONFIGURATION:
        response.headers["Cache-Control"] = "no-store"
    return response


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidRequestError("The body must be a JSON object (Content-Type: application/json).")
    return data


def caller() -> str:
    return current_token["client_id"]


def callers_stream(stream_id):
    return streams.find_stream(stream_id, caller())


def config_json(stream):
    return streams.stream_config(current_services().settings, stream)


@bp.get(paths.SSF_CONFIGURATION)
@operation("get", summary="Shared Signals transmitter metadata (SSF 1.0 §7)", tags=TAGS,
           responses={200: json_response("Where receivers manage their streams, and how SETs are delivered.",
                                         SSF_CONFIGURATION)})
def configuration():
    return cacheable(jsonify(streams.ssf_configuration(current_services().settings)))


@protected_route(bp, "post", paths.SSF_STREAMS, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Create a stream (SSF 1.0 §8.1.1.1)",
                 body=json_body(STREAM_REQUEST, "`delivery.endpoint_url` (required), `authorization_header`, "
                                                "`events_requested`, `description`."),
                 responses={201: json_response("The stream's configuration.", STREAM_CONFIGURATION),
                            400: REFUSED_STREAM})
def create():
    data = body()
    delivery = streams.check_delivery(data.get("delivery"))
    stream = streams.create_stream(current_services(), endpoint_url=delivery.get("endpoint_url"),
                                   authorization_header=delivery.get("authorization_header"),
                                   events_requested=data.get("events_requested"),
                                   description=data.get("description"), client_id=caller())
    return jsonify(config_json(stream)), 201


@protected_route(bp, "get", paths.SSF_STREAMS, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Read a stream, or all of yours (SSF 1.0 §8.1.1.2)", query=STREAM_ID,
                 responses={200: json_response("With `stream_id`, its configuration; without, a list of every "
                                               "stream of yours.", {"oneOf": [STREAM_CONFIGURATION,
                                                                              STREAM_CONFIGURATIONS]}),
                            404: NO_STREAM})
def read():
    if "stream_id" in request.args:
        return jsonify(config_json(callers_stream(request.args["stream_id"])))
    settings = current_services().settings
    return jsonify([streams.stream_config(settings, stream) for stream in streams.list_streams(caller())])


def stream_change(method: str, summary: str, what: str):
    """PATCH and PUT: the same answers; what the body holds differs."""
    return protected_route(bp, method, paths.SSF_STREAMS, SSF_MANAGE_SCOPE, tags=TAGS, summary=summary,
                           body=json_body(STREAM_REQUEST, what),
                           responses={200: json_response("The stream's configuration.", STREAM_CONFIGURATION),
                                      400: REFUSED_STREAM, 404: NO_STREAM})


def changed(*, replace: bool):
    data = body()
    stream = streams.update_stream(current_services(), callers_stream(data.get("stream_id")), data, replace=replace)
    return jsonify(config_json(stream))


@stream_change("patch", "Update a stream (SSF 1.0 §8.1.1.3)", "`stream_id` and what changes.")
def update():
    return changed(replace=False)


@stream_change("put", "Replace a stream (SSF 1.0 §8.1.1.4)", "`stream_id` and the whole receiver-supplied "
                                                              "configuration.")
def replace():
    return changed(replace=True)


@protected_route(bp, "delete", paths.SSF_STREAMS, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Delete a stream (SSF 1.0 §8.1.1.5)", query=STREAM_ID,
                 responses={204: no_content("Deleted; what it was still owed is dropped."), 404: NO_STREAM})
def delete():
    streams.delete_stream(callers_stream(request.args.get("stream_id")))
    return "", 204


@protected_route(bp, "get", paths.SSF_STATUS, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Read a stream's status (SSF 1.0 §8.1.2.1)", query=STREAM_ID,
                 responses={200: json_response("Its status.", STREAM_STATUS), 404: NO_STREAM})
def read_status():
    return jsonify(streams.stream_status(callers_stream(request.args.get("stream_id"))))


@protected_route(bp, "post", paths.SSF_STATUS, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Enable, pause or disable a stream (SSF 1.0 §8.1.2.2)",
                 body=json_body(STATUS_REQUEST, "`stream_id`, `status` and an optional `reason`."),
                 responses={200: json_response("Its new status.", STREAM_STATUS), 400: REFUSED_STREAM,
                            404: NO_STREAM})
def update_status():
    data = body()
    stream = streams.set_status(current_services(), callers_stream(data.get("stream_id")), data.get("status"),
                                data.get("reason"))
    return jsonify(streams.stream_status(stream))


@protected_route(bp, "post", paths.SSF_VERIFY, SSF_MANAGE_SCOPE, tags=TAGS,
                 summary="Ask for a verification event (SSF 1.0 §8.1.4.2)",
                 body=json_body(VERIFICATION_REQUEST, "`stream_id` and an optional `state`."),
                 responses={204: no_content("A verification event is queued for the stream."), 400: REFUSED_STREAM,
                            404: NO_STREAM})
def verify():
    data = body()
    streams.request_verification(current_services(), callers_stream(data.get("stream_id")), data.get("state"))
    return "", 204
