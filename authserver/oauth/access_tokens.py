"""Is this JWT one of ours, and is it still live? The one answer used by the resource protectors
(``resource.py``, ``resource_server.py``), introspection (RFC 7662) and revocation (RFC 7009).

Two steps, because revocation needs only the first and other apps can make only the first:

1. :func:`decode_access_token`, offline, given the keys: a JWS signed with RS256 by one of them,
   header ``typ`` ``at+jwt`` (RFC 9068 §4) and a ``kid``; ``iss`` and ``aud`` ours, not expired,
   not issued in the future, and every claim we put in present. Anything else (``alg`` none,
   HS256, an unknown ``kid``, another key, garbage) is simply not ours. In this process
   :func:`verify_access_token` runs it with the key ring; other apps with keys from our JWKS.
2. :func:`live_session_for`: its device session is live (not ended, not idle or past its max age,
   its user not disabled), belongs to the token's user and client, and its ``jti`` is not on the
   deny list. A JWT that has not expired is dead once any of these fails.
   :func:`live_access_token` is both steps at once.

Neither step logs or returns the token string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from joserfc import jws
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from ..models import DeviceSession

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1; the "application/" prefix is never sent by us


class AccessTokenClaims(dict):
    """The verified claims, with the protected header beside them.

    A plain dict to callers (``claims["sub"]``); the resource protectors hang what confirmed it
    live on it: ``device_session`` in this process (``resource.py``), the introspection answer as
    ``introspection`` in other apps (``resource_server.py``)."""

    def __init__(self, claims: dict, header: dict):
        super().__init__(claims)
        self.header = header

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self["exp"], dt.timezone.utc)


@dataclass(frozen=True)
class LiveAccessToken:
    claims: AccessTokenClaims
    session: DeviceSession


def claims_registry(issuer: str, audience: str, leeway: int = 0) -> JWTClaimsRegistry:
    """The claims every authserver access token carries (RFC 9068 §2.2, plus `sid`)."""
    essential = {"essential": True}
    return JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp=essential, iat=essential, sub=essential, client_id=essential, jti=essential, sid=essential,
    )


def own_claims_registry(settings) -> JWTClaimsRegistry:
    """The registry for our tokens checked in this process: no leeway, we set the clock."""
    return claims_registry(settings.issuer, settings.token_audience)


def unverified_kid(token_string: str) -> str | None:
    """The `kid` a token names, read before any check, only to pick (or refetch) keys."""
    try:
        kid = jws.extract_compact(token_string.encode("utf-8")).headers().get("kid")
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return kid if isinstance(kid, str) else None


def decode_access_token(token_string: str, key_set, registry: JWTClaimsRegistry) -> AccessTokenClaims | None:
    """Signature, algorithm, `typ` and claims against the given keys; None for anything that fails.

    No database: ``resource.AccessTokenValidator`` runs it here with the key ring and in other apps
    with keys fetched from our JWKS."""
    if not isinstance(token_string, str) or token_string.count(".") != 2:
        return None  # not a JWS compact serialization (e.g. one of our opaque refresh tokens)
    try:
        token = jwt.decode(token_string, key_set, algorithms=[ALGORITHM])
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError, KeyError):
        # joserfc raises ValueError/TypeError/KeyError on some malformed input; all mean "not ours".
        return None
    header = token.header
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE or not isinstance(header.get("kid"), str):
        return None  # we always sign RS256, send `typ` at+jwt and name the key
    if not all(isinstance(token.claims[name], str) for name in ("client_id", "sid")):
        return None
    return AccessTokenClaims(token.claims, token.header)


def verify_access_token(services, token_string: str) -> AccessTokenClaims | None:
    """The claims of an unexpired access token this server signed; None otherwise. No database."""
    return decode_access_token(token_string, services.keyring.verification_key_set(),
                               own_claims_registry(services.settings))


def live_session_for(services, claims: AccessTokenClaims) -> DeviceSession | None:
    """The live device session of verified claims, unless their `jti` was revoked; None otherwise."""
    sessions = services.sessions
    if sessions.is_access_token_denied(claims["jti"]):
        return None
    session = sessions.live_session(claims["sid"])
    if session is None or session.user_id != claims["sub"] or session.client_id != claims["client_id"]:
        return None
    return session


def live_access_token(services, token_string: str) -> LiveAccessToken | None:
    """An access token of ours whose session is live and which nobody revoked; None otherwise."""
    claims = verify_access_token(services, token_string)
    if claims is None:
        return None
    session = live_session_for(services, claims)
    return None if session is None else LiveAccessToken(claims, session)
