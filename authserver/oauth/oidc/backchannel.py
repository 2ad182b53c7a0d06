"""OpenID Connect Back-Channel Logout 1.0: a logout token for every ended device session of a client
with a ``backchannel_logout_uri``, queued on the durable outbox (``store/outbox.py``) in the
transaction that ends the session, so a rollback sends nothing and a commit loses nothing.

``sessions/device_sessions.py`` ends sessions in one place and hands each batch it ended to
:meth:`BackchannelLogout.sessions_ended` (one query for the clients' URIs). The token (§2.4):
header ``typ`` ``logout+jwt``, RS256 by the key ring's active key with its ``kid``; claims ``iss``,
``aud`` the client id, ``iat``, ``exp``, ``jti``, ``sub``, ``sid`` (the ID token's), ``events``, no
``nonce``. It is POSTed as ``logout_token=<JWT>`` (§2.5); any 2xx acknowledges it, a 4xx other than
408/425/429 is the receiver refusing it (given up), anything else is retried (``outbound/worker.py``).

It is signed here, when queued: the outbox stays one generic POST of stored bytes (the worker knows
no kind), and ``iat`` says when the session ended. ``exp`` therefore covers the outbox's whole
delivery window (``outbound_max_age_seconds``), after which the worker gives the message up anyway.
"""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import urlencode

from joserfc import jwt

from ...store import outbox
from ...store.clients import backchannel_logout_uris
from ...tokens.access_tokens import ALGORITHM

KIND = "backchannel_logout"
TOKEN_TYPE = "logout+jwt"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
CONTENT_TYPE = "application/x-www-form-urlencoded"


class BackchannelLogout:
    def __init__(self, settings, keyring):
        self.settings = settings
        self.keyring = keyring

    def sessions_ended(self, now: dt.datetime, ended: list, reason: str | None = None) -> None:
        """Queue a logout token for each ended session (``id``, ``user_id``, ``client_id``) whose
        client has a back-channel logout URI, in the caller's transaction."""
        uris = backchannel_logout_uris({session.client_id for session in ended})
        for session in ended:
            uri = uris.get(session.client_id)
            if uri:
                outbox.enqueue(now, kind=KIND, url=uri, body=self.body(now, session), content_type=CONTENT_TYPE,
                               client_id=session.client_id)

    def body(self, now: dt.datetime, session) -> bytes:
        issued_at = int(now.timestamp())
        claims = {"iss": self.settings.issuer, "aud": session.client_id, "iat": issued_at,
                  "exp": issued_at + self.settings.outbound_max_age_seconds, "jti": secrets.token_urlsafe(16),
                  "sub": session.user_id, "sid": session.id, "events": {EVENT: {}}}
        token = jwt.encode({"alg": ALGORITHM, "typ": TOKEN_TYPE}, claims, self.keyring.signing_key_set())
        return urlencode({"logout_token": token}).encode("ascii")
