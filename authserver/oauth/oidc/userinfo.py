"""The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): ``sub`` and the claims the access token's
scopes allow (``claims.py``), for a live token holding ``openid``.

The token is checked by the APIs' one validator (``api/protector.py``): a token of an ended device
session, revoked or expired, gets 401 ``invalid_token``; one without ``openid``, or a client's own,
403 ``insufficient_scope``.
"""

from __future__ import annotations

from flask import jsonify

from ...api.protector import REFUSED
from ...api.protector import current_token
from ...api.protector import require_oauth
from ...openapi.document import NO_STORE
from ...openapi.document import bearer
from ...openapi.document import json_response
from ...openapi.document import operation
from ...openapi.document import schema
from ...scopes import OPENID_SCOPE
from .. import paths
from . import bp
from .claims import user_info

USER_INFO = schema("UserInfo", {
    "description": "OpenID Connect Core 1.0 §5.3.2: `sub`, `preferred_username` with `profile`, `email` and "
                   "`email_verified` with `email` (when the user has an address).",
    "type": "object",
    "required": ["sub"],
    "properties": {
        "sub": {"type": "string", "description": "The user's id: `sub` of the user's tokens."},
        "preferred_username": {"type": "string"},
        "email": {"type": "string"},
        "email_verified": {"type": "boolean"},
    },
    "additionalProperties": False,
})
ANSWERS = {200: json_response("The token's user, as its scopes allow.", USER_INFO, NO_STORE), **REFUSED}
DESCRIPTION = "A live access token with the `openid` scope, issued to a user."


@bp.route(paths.USERINFO, methods=["GET", "POST"])
@operation("get", summary="UserInfo (OpenID Connect Core 1.0 §5.3)", tags=["account"], security=bearer("openid"),
           description=DESCRIPTION, responses=ANSWERS)
@operation("post", summary="UserInfo (OpenID Connect Core 1.0 §5.3)", tags=["account"], security=bearer("openid"),
           description=DESCRIPTION, responses=ANSWERS)
@require_oauth(OPENID_SCOPE)
def userinfo():
    response = jsonify(user_info(current_token.device_session.user, current_token.get("scope") or ""))
    response.headers["Cache-Control"] = "no-store"
    return response
