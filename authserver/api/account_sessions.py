"""``/api/sessions``: the caller's own device sessions — list them, end one, end all the others.

A session id that is unknown or belongs to someone else answers 404 alike, so ids never leak.
Ending a session that had already ended answers 204 again (DELETE is idempotent).
"""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from ..errors import NotFoundError
from ..openapi.document import error_response
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..scopes import SESSIONS_SCOPE
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_USER
from .protector import current_token
from .protector import protected_route
from .serializers import REVOKED
from .serializers import SESSIONS
from .serializers import sessions_json

bp = Blueprint("sessions", __name__, url_prefix="/sessions")


@protected_route(bp, "get", "", SESSIONS_SCOPE, tags=["account"],
                 summary="Your device sessions",
                 responses={200: json_response("The live sessions of the token's user.", SESSIONS)})
def list_sessions():
    caller = current_token.device_session
    return jsonify(sessions_json(current_services().sessions.list_sessions(caller.user_id), caller.id))


@protected_route(bp, "delete", "/<session_id>", SESSIONS_SCOPE, tags=["account"],
                 summary="End one of your device sessions",
                 description="Its refresh tokens die at once and its access tokens introspect inactive.",
                 responses={204: no_content("Ended (or it had already ended)."),
                            404: error_response("`not_found`: no such session of yours (another user's alike).")})
def end_session(session_id):
    caller = current_token.device_session
    service = current_services().sessions
    target = service.find_user_session(session_id, caller.user_id)
    if target is None:
        raise NotFoundError("No such session.")
    service.end_session(target.id, ENDED_BY_USER, actor=caller.user.username, ip=request.remote_addr)
    return "", 204


@protected_route(bp, "post", "/revoke-others", SESSIONS_SCOPE, tags=["account"],
                 summary="End all your other device sessions",
                 responses={200: json_response("Every session of the user but the caller's ended.", REVOKED)})
def revoke_others():
    caller = current_token.device_session
    revoked = current_services().sessions.end_user_sessions(
        caller.user_id, ENDED_BY_USER, actor=caller.user.username, ip=request.remote_addr, keep_session_id=caller.id)
    return jsonify(revoked=revoked)
