"""``GET /api/me``: who the token is for -- ``sub`` and ``username``, and ``email`` with the `email`
scope. Any live user token will do (restricted ones too); it is the "test" request an integrator
such as Zapier configures, and its connection label."""

from __future__ import annotations

from flask import Blueprint

from .protector import current_token
from .protector import require_oauth

bp = Blueprint("me", __name__)

EMAIL_SCOPE = "email"


@bp.get("/me")
@require_oauth()
def me():
    user = current_token.device_session.user
    answer = {"sub": user.id, "username": user.username}
    if EMAIL_SCOPE in (current_token.get("scope") or "").split() and user.email:
        answer["email"] = user.email
    return answer
