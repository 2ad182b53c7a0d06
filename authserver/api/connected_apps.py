"""``/api/consents``: the apps the user has connected (consented to), and disconnecting one.

Disconnecting forgets the consent and ends every session of the user with that app
(``consents.withdraw_consent``). An unknown client id, or one never consented to, answers 404.
Needs the `sessions` scope and an unrestricted session."""

from __future__ import annotations

from flask import Blueprint
from flask import request

from ..errors import NotFoundError
from ..openapi.document import bearer
from ..openapi.document import error_response
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..openapi.document import operation
from ..openapi.document import schema
from ..scopes import SESSIONS_SCOPE
from ..scopes import describe
from ..services import current_services
from ..store import consents
from .protector import REFUSED
from .protector import current_token
from .protector import require_oauth
from .serializers import INSTANT
from .serializers import iso_utc

bp = Blueprint("consents", __name__, url_prefix="/consents")

CONSENTS = schema("ConsentList", {
    "type": "object",
    "required": ["consents"],
    "properties": {"consents": {"type": "array", "items": {
        "type": "object",
        "required": ["client_id", "client_name", "scope", "scope_descriptions", "granted_at"],
        "properties": {"client_id": {"type": "string"}, "client_name": {"type": "string"},
                       "scope": {"type": "string", "description": "What the user consented to."},
                       "scope_descriptions": {"type": "object", "additionalProperties": {"type": "string"},
                                              "description": "Each scope in words, as the pages say it (an app's "
                                                             "own scope: its name)."},
                       "granted_at": INSTANT},
        "additionalProperties": False,
    }}},
    "additionalProperties": False,
})


@bp.get("")
@operation("get", summary="Your connected apps", tags=["account"], security=bearer(SESSIONS_SCOPE),
           responses={200: json_response("The apps the user consented to.", CONSENTS), **REFUSED})
@require_oauth(SESSIONS_SCOPE)
def list_consents():
    user_id = current_token.device_session.user_id
    return {"consents": [{"client_id": c.client_id, "client_name": c.client.name, "scope": c.scope,
                          "scope_descriptions": dict(describe(c.scope)), "granted_at": iso_utc(c.granted_at)}
                         for c in consents.list_consents(user_id)]}


@bp.delete("/<client_id>")
@operation("delete", summary="Disconnect an app", tags=["account"], security=bearer(SESSIONS_SCOPE),
           description="The consent is forgotten and every session of the user with that app ends.",
           responses={204: no_content("Disconnected."),
                      404: error_response("`not_found`: no consent of yours for this client."), **REFUSED})
@require_oauth(SESSIONS_SCOPE)
def withdraw_consent(client_id):
    user = current_token.device_session.user
    if not consents.withdraw_consent(current_services(), user, client_id, ip=request.remote_addr):
        raise NotFoundError("No consent for this client.")
    return "", 204
