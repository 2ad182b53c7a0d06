"""An RFC 8935 push receiver for authserver's security events (Shared Signals Framework 1.0), for a
Flask app: once authserver says a device session ended (CAEP session-revoked) or a user was disabled
(RISC account-disabled), tokens of that session or user are refused at once, offline, without
introspecting every request.

:func:`security_event_receiver` is a blueprint with one ``POST`` view, the endpoint of a stream made
with ``authserver streams create --endpoint <its URL> --audience <A> --authorization-header <H>``.
Each SET (RFC 8417) is checked before anything changes: ``Content-Type: application/secevent+jwt``,
the stream's ``Authorization`` header (when configured; compared in constant time), header ``alg``
RS256, ``typ`` secevent+jwt and a ``kid``, the signature against authserver's JWKS, ``iss``, ``aud``
(this receiver's audience), ``jti``, ``iat`` and one event. Then it answers 202 (RFC 8935 §2.2); a
repeat (a ``jti`` seen before: delivery is at least once) 202 again and nothing more. A bad SET is
400 with RFC 8935 §2.3's ``{"err", "description"}`` (``invalid_request``, ``invalid_key``,
``invalid_issuer``, ``invalid_audience``); a wrong or missing authorization 401
``authentication_failed``; neither changes anything. If the JWKS cannot be fetched: 503, and
authserver retries later.

:class:`RevokedSessions` remembers what ended, each for ``ttl_seconds`` (authserver's access-token
lifetime, ``AUTHSERVER_ACCESS_TOKEN_TTL_SECONDS``: no token of the session outlives it), in this
process only; hand the same object to ``resource_protector(revoked_sessions=...)``. Several worker
processes each need the events: give each its own stream, or share the set through your own store.
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint
from flask import jsonify
from flask import request
from joserfc import jwt
from joserfc.errors import JoseError

from .errors import AuthorizationServerUnavailable
from .expiring import ExpiringKeys
from .jwks import RemoteJWKS
from .validators import ALGORITHM
from .validators import unverified_header

TOKEN_TYPE = "secevent+jwt"  # RFC 8417 §2.3
CONTENT_TYPE = "application/secevent+jwt"  # RFC 8935 §2
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
DEFAULT_TTL_SECONDS = 900  # authserver's default access-token lifetime


class RevokedSessions:
    """Device sessions (``sid``) and users (``sub``) whose tokens are refused, each for ``ttl_seconds``
    after the event, in this process. Thread-safe."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, now=time.monotonic):
        self.ttl_seconds = ttl_seconds
        self._sessions = ExpiringKeys(now)
        self._users = ExpiringKeys(now)
        self._seen = ExpiringKeys(now)  # SET ids, to answer a repeat without acting twice

    def revoke_session(self, sid: str) -> None:
        self._sessions.add(sid, self.ttl_seconds)

    def revoke_user(self, sub: str) -> None:
        self._users.add(sub, self.ttl_seconds)

    def refuses(self, claims) -> bool:
        """Whether a token with these claims is of a revoked session or user (on every request: no scan)."""
        return claims.get("sid") in self._sessions or claims.get("sub") in self._users

    def first_time(self, jti: str) -> bool:
        """True the first time a SET id is seen (within the expiry)."""
        return self._seen.first_time(jti, self.ttl_seconds)


class Refused(Exception):
    def __init__(self, err: str, description: str, status: int = 400):
        super().__init__(description)
        self.err, self.description, self.status = err, description, status


class SecurityEventReceiver:
    """Checks one pushed SET and records what it says (see the module docstring)."""

    def __init__(self, issuer: str, jwks: RemoteJWKS, audience: str, revoked_sessions: RevokedSessions, *,
                 authorization: str | None = None):
        self.issuer = issuer.rstrip("/")
        self.jwks = jwks
        self.audience = audience
        self.revoked = revoked_sessions
        self.authorization = authorization

    def receive(self, content_type: str | None, authorization: str | None, body: bytes) -> None:
        """Record the SET in ``body``, or raise :class:`Refused` having changed nothing."""
        if self.authorization is not None and not hmac.compare_digest(
                (authorization or "").encode(), self.authorization.encode()):
            raise Refused("authentication_failed", "The Authorization header is missing or wrong.", 401)
        if (content_type or "").split(";")[0].strip().lower() != CONTENT_TYPE:
            raise Refused("invalid_request", f"The body must be {CONTENT_TYPE}.")
        token = body.decode("ascii", "replace").strip()
        header = unverified_header(token)
        if header is None or header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE \
                or not isinstance(header.get("kid"), str):
            raise Refused("invalid_request", "Not a SET: an RS256 JWT with typ secevent+jwt and a kid.")
        try:
            claims = jwt.decode(token, self.jwks.key_set_for(header["kid"]), algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError, TypeError, KeyError):
            raise Refused("invalid_key", "The SET's signature does not verify with the issuer's keys.") from None
        if claims.get("iss") != self.issuer:
            raise Refused("invalid_issuer", "The SET is from another issuer.")
        audience = claims.get("aud")
        if audience != self.audience and not (isinstance(audience, list) and self.audience in audience):
            raise Refused("invalid_audience", "The SET is for another audience.")
        events, jti = claims.get("events"), claims.get("jti")
        if not isinstance(jti, str) or not isinstance(claims.get("iat"), int) or not isinstance(events, dict) \
                or len(events) != 1 or not isinstance(claims.get("sub_id"), dict):
            raise Refused("invalid_request", "A SET has jti, iat, sub_id and one event.")
        if self.revoked.first_time(jti):
            self.record(next(iter(events)), claims["sub_id"])

    def record(self, event_type: str, subject: dict) -> None:
        session, user = subject.get("session") or {}, subject.get("user") or {}
        if event_type == SESSION_REVOKED and isinstance(session.get("id"), str):
            self.revoked.revoke_session(session["id"])
        elif event_type == ACCOUNT_DISABLED and isinstance(user.get("sub"), str):
            self.revoked.revoke_user(user["sub"])
        # Other events (credential-change, verification) need nothing here: acknowledged.


def security_event_receiver(issuer: str, jwks_uri: str, audience: str, revoked_sessions: RevokedSessions, *,
                            authorization: str | None = None, path: str = "/security-events",
                            jwks: RemoteJWKS | None = None, name: str = "authserver_security_events") -> Blueprint:
    """A blueprint receiving authserver's SETs at ``path`` (POST), recording revocations in
    ``revoked_sessions``. ``authorization`` is the stream's ``--authorization-header`` value, required
    of every push when given; ``jwks`` may be the resource protector's key cache, to share it."""
    receiver = SecurityEventReceiver(issuer, jwks or RemoteJWKS(jwks_uri), audience, revoked_sessions,
                                     authorization=authorization)
    blueprint = Blueprint(name, __name__)

    @blueprint.post(path)
    def receive_security_event():
        try:
            receiver.receive(request.content_type, request.headers.get("Authorization"), request.get_data())
        except Refused as refused:
            return jsonify(err=refused.err, description=refused.description), refused.status
        except AuthorizationServerUnavailable:
            return jsonify(err="invalid_key", description="The issuer's keys cannot be fetched now."), 503
        return "", 202

    return blueprint
