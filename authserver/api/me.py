"""``GET /api/me``: who the token is for -- ``sub`` and ``username``, ``email`` with the `email` scope,
and ``act`` for a token issued by delegation (RFC 8693 §4.1). Any live user token will do (restricted
ones too); it is the "test" request an integrator such as Zapier configures, and its connection label."""

from __future__ import annotations

from flask import Blueprint

from ..openapi.document import bearer
from ..openapi.document import json_response
from ..openapi.document import operation
from ..openapi.document import schema
from .protector import REFUSED
from .protector import current_token
from .protector import require_oauth

bp = Blueprint("me", __name__)

EMAIL_SCOPE = "email"
ME = schema("Me", {
    "type": "object",
    "required": ["sub", "username"],
    "properties": {
        "sub": {"type": "string", "description": "The user's id: `sub` of the user's tokens."},
        "username": {"type": "string"},
        "email": {"type": "string", "description": "With the `email` scope, when the user has one."},
        "act": {"type": "object", "description": "A delegated token's actor (RFC 8693 §4.1): `sub` the client "
                                                 "acting for the user, `act` nested for earlier actors."},
    },
    "additionalProperties": False,
})


@bp.get("/me")
@operation("get", summary="Who the token is for", tags=["account"], security=bearer(),
           description="Any live token issued to a user, restricted ones too; a client's own token "
                       "(client credentials) is refused with 403.",
           responses={200: json_response("The token's user.", ME), **REFUSED})
@require_oauth()
def me():
    user = current_token.device_session.user
    answer = {"sub": user.id, "username": user.username}
    if EMAIL_SCOPE in (current_token.get("scope") or "").split() and user.email:
        answer["email"] = user.email
    if "act" in current_token:
        answer["act"] = current_token["act"]
    return answer
