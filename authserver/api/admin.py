"""``/api/admin``: operators list and end any user's device sessions (needs the `admin` scope).

Every session ended here records the operator's username as ``ended_by`` (reason ``admin``) and a
``session_ended`` security event with the operator's IP. Unknown users and sessions answer 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from flask import request

from .. import accounts
from ..errors import NotFoundError
from ..scopes import ADMIN_SCOPE
from ..services import current_services
from ..sessions import ENDED_BY_ADMIN
from .protector import current_token
from .protector import require_oauth
from .serializers import sessions_json

bp = Blueprint("admin", __name__, url_prefix="/admin")


def user_or_404(username):
    user = accounts.find_user(username)
    if user is None:
        raise NotFoundError("No such user.")
    return user


@bp.get("/users/<path:username>/sessions")
@require_oauth(ADMIN_SCOPE)
def list_user_sessions(username):
    user = user_or_404(username)
    caller = current_token.device_session
    return jsonify(sessions_json(current_services().sessions.list_sessions(user.id), caller.id))


@bp.delete("/users/<path:username>/sessions")
@require_oauth(ADMIN_SCOPE)
def end_user_sessions(username):
    user = user_or_404(username)
    revoked = current_services().sessions.end_user_sessions(
        user.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username, ip=request.remote_addr)
    return jsonify(revoked=revoked)


@bp.delete("/sessions/<session_id>")
@require_oauth(ADMIN_SCOPE)
def end_session(session_id):
    service = current_services().sessions
    target = service.find_user_session(session_id)
    if target is None:
        raise NotFoundError("No such session.")
    service.end_session(target.id, ENDED_BY_ADMIN, actor=current_token.device_session.user.username,
                        ip=request.remote_addr)
    return "", 204
