"""The JSON shape of a device session, shared by the sessions API, the admin API and the CLI."""

from __future__ import annotations

import datetime as dt

from ..openapi.document import schema
from ..services import current_services

INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 UTC, to the second."}
SESSION = schema("DeviceSession", {
    "type": "object",
    "required": ["id", "client_id", "client_name", "device_name", "user_agent", "ip", "created_at",
                 "last_active_at", "expires_at", "current", "restricted", "key_bound"],
    "properties": {
        "id": {"type": "string"},
        "client_id": {"type": "string"},
        "client_name": {"type": "string"},
        "device_name": {"type": ["string", "null"]},
        "user_agent": {"type": ["string", "null"]},
        "ip": {"type": ["string", "null"]},
        "created_at": INSTANT,
        "last_active_at": INSTANT,
        "expires_at": {**INSTANT, "description": "When the session ends if it is not used again."},
        "current": {"type": "boolean", "description": "The session of the token making the request."},
        "restricted": {"type": "boolean", "description": "Provisioned for a device: cannot manage sessions."},
        "key_bound": {"type": "boolean",
                      "description": "Its refresh tokens are bound to a DPoP key (RFC 9449): useless without it."},
    },
    "additionalProperties": False,
})
SESSIONS = schema("DeviceSessionList", {
    "type": "object",
    "required": ["sessions"],
    "properties": {"sessions": {"type": "array", "items": SESSION}},
    "additionalProperties": False,
})
REVOKED = schema("RevokedCount", {
    "type": "object",
    "required": ["revoked"],
    "properties": {"revoked": {"type": "integer", "minimum": 0, "description": "How many sessions ended."}},
    "additionalProperties": False,
})


def iso_utc(instant: dt.datetime) -> str:
    """ISO 8601 in UTC to the second, e.g. ``2026-11-23T19:41:14Z``."""
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_json(session, current_session_id: str | None) -> dict:
    """``current`` marks the caller's own session; ``expires_at`` is when the session ends if it is
    not used again (idle timeout or max age, whichever comes first)."""
    return {
        "id": session.id,
        "client_id": session.client_id,
        "client_name": session.client.name,
        "device_name": session.device_name,
        "user_agent": session.user_agent,
        "ip": session.ip,
        "created_at": iso_utc(session.created_at),
        "last_active_at": iso_utc(session.last_active_at),
        "expires_at": iso_utc(current_services().sessions.ends_at(session)),
        "current": session.id == current_session_id,
        "restricted": session.restricted,
        "key_bound": session.dpop_jkt is not None,
    }


def sessions_json(sessions, current_session_id: str | None) -> dict:
    return {"sessions": [session_json(session, current_session_id) for session in sessions]}
