"""Is this JWT one of ours, and is it still live? The one answer used by the resource protector
(``resource.py``), introspection (RFC 7662) and revocation (RFC 7009).

Two steps, because revocation needs only the first:

1. :func:`verify_access_token`, offline: a JWS signed with RS256 by a key we publish, header
   ``typ`` ``at+jwt`` (RFC 9068 §4), ``iss`` and ``aud`` ours, not expired, not issued in the
   future, and every claim we put in present. Anything else (``alg`` none, HS256, an unknown
   ``kid``, another key, garbage) is simply not ours.
2. :func:`live_access_token`: its device session is live (not ended, not idle or past its max
   age, its user not disabled), belongs to the token's user and client, and its ``jti`` is not
   on the deny list. A JWT that has not expired is dead once any of these fails.

Neither step logs or returns the token string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from ..models import DeviceSession

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1; the "application/" prefix is never sent by us


class AccessTokenClaims(dict):
    """The verified claims, with the protected header beside them.

    A plain dict to callers (``claims["sub"]``); ``resource.py`` hangs ``device_session`` on it,
    ``resource_server.py`` the introspection answer as ``introspection``."""

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


def decode_access_token(token_string: str, key_set, registry: JWTClaimsRegistry) -> AccessTokenClaims | None:
    """Signature, algorithm, `typ` and claims against the given keys; None for anything that fails.

    No database: ``resource_server.py`` runs it in other apps with keys fetched from our JWKS."""
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
    settings = services.settings
    return decode_access_token(token_string, services.keyring.verification_key_set(),
                               claims_registry(settings.issuer, settings.token_audience))


def live_access_token(services, token_string: str) -> LiveAccessToken | None:
    """An access token of ours whose session is live and which nobody revoked; None otherwise."""
    claims = verify_access_token(services, token_string)
    if claims is None:
        return None
    sessions = services.sessions
    if sessions.is_access_token_denied(claims["jti"]):
        return None
    session = sessions.live_session(claims["sid"])
    if session is None or session.user_id != claims["sub"] or session.client_id != claims["client_id"]:
        return None
    return LiveAccessToken(claims, session)
