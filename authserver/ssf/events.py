"""Security Event Tokens (RFC 8417) for the Shared Signals Framework 1.0, queued for every stream
that wants them on the durable outbox (``store/outbox.py``), in the transaction of the change they
announce: a rollback sends nothing, a commit loses nothing.

A SET (RFC 8417 §2, SSF 1.0 §4): header ``typ`` ``secevent+jwt``, RS256 by the key ring's active
key with its ``kid``; claims ``iss``, ``aud`` (the stream's), ``iat``, ``jti``, ``sub_id`` (a complex
subject, SSF 1.0 §3.2: the user as ``iss_sub``, and the device session as ``opaque`` for session
events) and ``events`` with one event. The events:

- CAEP 1.0 §3.1 **session-revoked**, whenever a device session ends, for every cause: ``sessions/
  device_sessions.py`` ends sessions in one place and hands each batch to :meth:`SharedSignals.sessions_ended`
  (one query for the streams, one INSERT for all the SETs). ``initiating_entity`` and ``reason_admin``
  say who and why (:data:`INITIATED_BY`).
- CAEP 1.0 §3.5 **credential-change** (``password``, ``update``) when a user's password is set.
- RISC 1.0 §2.6 **account-disabled** when a user is disabled (before its sessions' session-revoked).
- SSF 1.0 §8.1.4 **verification**, on a receiver's request, with the ``state`` it sent.

Each stream's SETs share its id as the outbox ordering key: one at a time, in order (SSF 1.0 §8.1.2
wants a paused stream's events held, a disabled stream's dropped: ``held`` and nothing). They are
pushed as RFC 8935 §2 says (``Content-Type: application/secevent+jwt``, the stream's
``Authorization`` header) and acknowledged only by a 202; a 4xx other than 408/425/429 is the
receiver refusing the SET, given up with a security event (``outbound/worker.py``).

Signed when queued, like a logout token: ``iat`` says when it happened, and a retried SET is the
same SET (same ``jti``), which is how a receiver recognises a repeat.
"""

from __future__ import annotations

import datetime as dt
import secrets

from joserfc import jwt

from ..sessions.device_sessions import ENDED_BY_ADMIN
from ..sessions.device_sessions import ENDED_BY_REUSE
from ..sessions.device_sessions import ENDED_BY_REVOCATION
from ..sessions.device_sessions import ENDED_BY_USER
from ..sessions.device_sessions import ENDED_IDLE
from ..sessions.device_sessions import ENDED_MAX_AGE
from ..sessions.device_sessions import ENDED_USER_DISABLED
from ..store import outbox
from ..store.models import STREAM_PAUSED
from ..store.streams import receiving_streams
from ..tokens.access_tokens import ALGORITHM

KIND = "security_event"
TOKEN_TYPE = "secevent+jwt"  # RFC 8417 §2.3
CONTENT_TYPE = "application/secevent+jwt"  # RFC 8935 §2
ACKNOWLEDGE = "202"  # RFC 8935 §2.2: the receiver answers 202 Accepted
DELIVERY_METHOD = "urn:ietf:rfc:8935"  # SSF 1.0 §8.1.1: push

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
# What a stream may request (`events_supported`); verification events go to every stream asking for one.
EVENTS_SUPPORTED = (SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED)

# CAEP 1.0 §2: who started the ending (`initiating_entity`), and why in words for an administrator.
INITIATED_BY = {
    ENDED_BY_USER: ("user", "The user signed out (My devices, the sessions API, a logout, an app disconnected)."),
    ENDED_BY_REVOCATION: ("user", "The app revoked the session's refresh token (it logged out)."),
    ENDED_BY_ADMIN: ("admin", "An operator ended the session."),
    ENDED_USER_DISABLED: ("admin", "An operator disabled the user."),
    ENDED_BY_REUSE: ("system", "A rotated refresh token was presented again (reuse detection)."),
    ENDED_IDLE: ("policy", "The session was unused for longer than the idle timeout."),
    ENDED_MAX_AGE: ("policy", "The session reached its maximum age."),
}


class SharedSignals:
    """Queues the SETs every change owes the streams. Built once per app (``create_app``)."""

    def __init__(self, settings, keyring):
        self.settings = settings
        self.keyring = keyring

    # -- what happened ---------------------------------------------------------------------
    def sessions_ended(self, now: dt.datetime, ended: list, reason: str) -> None:
        """A session-revoked SET per ended session (``id``, ``user_id``) for each stream wanting it."""
        entity, why = INITIATED_BY.get(reason, ("system", reason))
        event = {"initiating_entity": entity, "reason_admin": {"en": why}, "event_timestamp": int(now.timestamp())}
        self._queue(now, SESSION_REVOKED, [(self.subject(session.user_id, session.id), event) for session in ended])

    def credential_changed(self, now: dt.datetime, user_id: str, initiating_entity: str) -> None:
        event = {"credential_type": "password", "change_type": "update", "initiating_entity": initiating_entity,
                 "event_timestamp": int(now.timestamp())}
        self._queue(now, CREDENTIAL_CHANGE, [(self.subject(user_id), event)])

    def account_disabled(self, now: dt.datetime, user_id: str) -> None:
        self._queue(now, ACCOUNT_DISABLED, [(self.subject(user_id), {})])

    def verification(self, now: dt.datetime, stream, state: str | None) -> None:
        """SSF 1.0 §8.1.4.2: the subject is the stream; ``state`` comes back as the receiver sent it."""
        event = {} if state is None else {"state": state}
        self._queue(now, VERIFICATION, [({"format": "opaque", "id": stream.id}, event)], streams=[stream])

    # -- the SETs --------------------------------------------------------------------------
    def subject(self, user_id: str, session_id: str | None = None) -> dict:
        """SSF 1.0 §3.2 complex subject: the user (RFC 9493 ``iss_sub``) and, for session events, the session."""
        subject = {"format": "complex", "user": {"format": "iss_sub", "iss": self.settings.issuer, "sub": user_id}}
        if session_id is not None:
            subject["session"] = {"format": "opaque", "id": session_id}
        return subject

    def _queue(self, now: dt.datetime, event_type: str, subjects: list[tuple[dict, dict]], streams=None) -> None:
        if streams is None:
            streams = [stream for stream in receiving_streams() if event_type in stream.events]
        messages = [{"url": stream.endpoint_url, "body": self.token(now, stream.audience, subject, event_type, event),
                     "headers": {"Authorization": stream.authorization_header} if stream.authorization_header else None,
                     "ordering_key": stream.id, "client_id": stream.client_id, "held": stream.status == STREAM_PAUSED}
                    for stream in streams for subject, event in subjects]
        outbox.enqueue_all(now, messages, kind=KIND, content_type=CONTENT_TYPE, acknowledge=ACKNOWLEDGE)

    def token(self, now: dt.datetime, audience: str, subject: dict, event_type: str, event: dict) -> bytes:
        claims = {"iss": self.settings.issuer, "aud": audience, "iat": int(now.timestamp()),
                  "jti": secrets.token_urlsafe(16), "sub_id": subject, "events": {event_type: event}}
        token = jwt.encode({"alg": ALGORITHM, "typ": TOKEN_TYPE}, claims, self.keyring.signing_key_set())
        return token.encode("ascii")
