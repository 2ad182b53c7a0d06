"""The JSON shapes of the Shared Signals Framework 1.0 endpoints (``ssf/views.py`` declares their
operations with them): the transmitter metadata (§7.1), a stream's configuration (§8.1.1) and status
(§8.1.2), and what the management API takes. Declared here so that ``ssf/`` holds no OpenAPI."""

from __future__ import annotations

from .document import schema

URL = {"type": "string", "format": "uri"}
STRINGS = {"type": "array", "items": {"type": "string"}}
STATUS_VALUES = {"type": "string", "enum": ["enabled", "paused", "disabled"]}

SSF_CONFIGURATION = schema("SSFConfiguration", {
    "description": "Transmitter configuration metadata (SSF 1.0 §7.1).",
    "type": "object",
    "required": ["issuer", "jwks_uri", "delivery_methods_supported", "configuration_endpoint", "status_endpoint",
                 "verification_endpoint"],
    "properties": {
        "spec_version": {"type": "string"},
        "issuer": URL,
        "jwks_uri": URL,
        "delivery_methods_supported": STRINGS,
        "configuration_endpoint": URL,
        "status_endpoint": URL,
        "verification_endpoint": URL,
        "authorization_schemes": {"type": "array", "items": {"type": "object"}},
        "default_subjects": {"type": "string", "enum": ["ALL", "NONE"]},
    },
})

DELIVERY = {
    "type": "object",
    "required": ["endpoint_url"],
    "properties": {
        "method": {"type": "string", "enum": ["urn:ietf:rfc:8935"]},
        "endpoint_url": {**URL, "description": "Where SETs are POSTed (RFC 8935): https when the issuer is; a "
                                               "public address unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE."},
        "authorization_header": {"type": "string", "description": "Sent as `Authorization` with every SET; "
                                                                  "never shown again."},
    },
}

STREAM_CONFIGURATION = schema("StreamConfiguration", {
    "type": "object",
    "description": "A stream (SSF 1.0 §8.1.1). `aud` is each SET's audience; the authorization header is never "
                   "returned.",
    "required": ["stream_id", "iss", "aud", "delivery", "events_supported", "events_requested", "events_delivered"],
    "properties": {
        "stream_id": {"type": "string"},
        "iss": URL,
        "aud": {"type": "string"},
        "delivery": {"type": "object", "required": ["method", "endpoint_url"],
                     "properties": {"method": {"type": "string"}, "endpoint_url": URL}},
        "events_supported": STRINGS,
        "events_requested": STRINGS,
        "events_delivered": STRINGS,
        "description": {"type": "string"},
    },
    "additionalProperties": False,
})

STREAM_CONFIGURATIONS = {"type": "array", "items": STREAM_CONFIGURATION}

STREAM_REQUEST = schema("StreamRequest", {
    "description": "What a receiver supplies (SSF 1.0 §8.1.1.1): where and which events. An unknown event type "
                   "is refused. PATCH and PUT also name `stream_id`.",
    "type": "object",
    "properties": {
        "stream_id": {"type": "string"},
        "delivery": DELIVERY,
        "events_requested": {**STRINGS, "description": "Default: every event in `events_supported`."},
        "description": {"type": "string"},
    },
})

STREAM_STATUS = schema("StreamStatus", {
    "description": "A stream's status (SSF 1.0 §8.1.2): a paused stream's events are held until it is enabled; "
                   "a disabled stream gets none.",
    "type": "object",
    "required": ["stream_id", "status"],
    "properties": {"stream_id": {"type": "string"}, "status": STATUS_VALUES, "reason": {"type": "string"}},
    "additionalProperties": False,
})

STATUS_REQUEST = schema("StreamStatusRequest", {
    "type": "object",
    "required": ["stream_id", "status"],
    "properties": {"stream_id": {"type": "string"}, "status": STATUS_VALUES, "reason": {"type": "string"}},
})

VERIFICATION_REQUEST = schema("VerificationRequest", {
    "description": "SSF 1.0 §8.1.4.2: a verification event is queued for the stream, with `state` in it.",
    "type": "object",
    "required": ["stream_id"],
    "properties": {"stream_id": {"type": "string"}, "state": {"type": "string"}},
})
