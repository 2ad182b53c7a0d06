"""``/api/admin``: operators list and end any user's device sessions (needs the `admin` scope).

Every session ended here records the operator's username as ``ended_by`` (reason ``admin``) and a
``session_ended`` security event with the operator's IP. Unknown users and sessions answer 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from ..accounts import users
from ..errors import NotFoundError
from ..openapi.document import error_response
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..scopes import ADMIN_SCOPE
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_ADMIN
from .protector import current_token
from .protector import protected_route
from .serializers import REVOKED
from .serializers import SESSIONS
from .serializers import sessions_json

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERNAME = {"description": "A username (1 to 150 printable characters, no spaces; it may contain `/`).",
            "schema": {"type": "string", "minLength": 1, "maxLength": 150}}
NO_SUCH_USER = error_response("`not_found`: no such user.")


def user_sessions_route(method: str, summary: str, answer: dict):
    """A route on the sessions of the user the path names (404 if there is none)."""
    return protected_route(bp, method, "/users/<path:username>/sessions", ADMIN_SCOPE, tags=["admin"],
                           summary=summary, parameters={"username": USERNAME}, responses={**answer, 404: NO_SUCH_USER})


@user_sessions_route("get", "A user's device sessions", {200: json_response("The user's live sessions.", SESSIONS)})
def list_user_sessions(username):
    user = users.require_user(username)
    caller = current_token.device_session
    return jsonify(sessions_json(current_services().sessions.list_sessions(user.id), caller.id))


@user_sessions_route("delete", "End all of a user's device sessions", {200: json_response("How many ended.", REVOKED)})
def end_user_sessions(username):
    user = users.require_user(username)
    revoked = current_services().sessions.end_user_sessions(
        user.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username, ip=request.remote_addr)
    return jsonify(revoked=revoked)


@protected_route(bp, "delete", "/sessions/<session_id>", ADMIN_SCOPE, tags=["admin"],
                 summary="End any device session",
                 responses={204: no_content("Ended (or it had already ended)."),
                            404: error_response("`not_found`: no such session.")})
def end_session(session_id):
    service = current_services().sessions
    target = service.find_user_session(session_id)
    if target is None:
        raise NotFoundError("No such session.")
    service.end_session(target.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username,
                        ip=request.remote_addr)
    return "", 204
