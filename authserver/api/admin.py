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
from ..openapi.document import bearer
from ..openapi.document import error_response
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..openapi.document import operation
from ..scopes import ADMIN_SCOPE
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_ADMIN
from .protector import REFUSED
from .protector import current_token
from .protector import require_oauth
from .serializers import REVOKED
from .serializers import SESSIONS
from .serializers import sessions_json

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERNAME = {"description": "A username (1 to 150 printable characters, no spaces; it may contain `/`).",
            "schema": {"type": "string", "minLength": 1, "maxLength": 150}}
NO_SUCH_USER = error_response("`not_found`: no such user.")


@bp.get("/users/<path:username>/sessions")
@operation("get", summary="A user's device sessions", tags=["admin"], security=bearer(ADMIN_SCOPE),
           parameters={"username": USERNAME},
           responses={200: json_response("The user's live sessions.", SESSIONS), 404: NO_SUCH_USER, **REFUSED})
@require_oauth(ADMIN_SCOPE)
def list_user_sessions(username):
    user = users.require_user(username)
    caller = current_token.device_session
    return jsonify(sessions_json(current_services().sessions.list_sessions(user.id), caller.id))


@bp.delete("/users/<path:username>/sessions")
@operation("delete", summary="End all of a user's device sessions", tags=["admin"], security=bearer(ADMIN_SCOPE),
           parameters={"username": USERNAME},
           responses={200: json_response("How many ended.", REVOKED), 404: NO_SUCH_USER, **REFUSED})
@require_oauth(ADMIN_SCOPE)
def end_user_sessions(username):
    user = users.require_user(username)
    revoked = current_services().sessions.end_user_sessions(
        user.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username, ip=request.remote_addr)
    return jsonify(revoked=revoked)


@bp.delete("/sessions/<session_id>")
@operation("delete", summary="End any device session", tags=["admin"], security=bearer(ADMIN_SCOPE),
           responses={204: no_content("Ended (or it had already ended)."),
                      404: error_response("`not_found`: no such session."), **REFUSED})
@require_oauth(ADMIN_SCOPE)
def end_session(session_id):
    service = current_services().sessions
    target = service.find_user_session(session_id)
    if target is None:
        raise NotFoundError("No such session.")
    service.end_session(target.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username,
                        ip=request.remote_addr)
    return "", 204
