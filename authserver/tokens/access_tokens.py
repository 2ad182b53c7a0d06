"""authserver's access tokens: RFC 9068 JWTs signed with RS256, and the one answer to "is this JWT
one of ours, and is it still live?" used by the API protector (``api/protector.py``), introspection
(RFC 7662) and revocation (RFC 7009).

Signing (:class:`AccessTokenGenerator`): header ``typ`` ``at+jwt`` and the active key's ``kid``;
claims ``iss sub aud client_id exp iat jti scope`` and ``sid``, the device session's id, which the
grant hands over with the user (:class:`TokenSubject`), as it does the resources (RFC 8707) that
make ``aud``. A client-credentials token has ``sub`` =
``client_id`` and no ``sid``: no user, no session. Times come from the server's clock. A token
requested with a DPoP proof (``dpop.py``) is bound to the proof's key: ``cnf`` ``{"jkt": …}``
(RFC 9449 §6.1) and ``token_type`` ``DPoP`` in the response (§5).

Checking takes two steps, because revocation needs only the first:

1. :func:`decode_access_token`, offline, given the keys: a JWS signed with RS256 by one of them,
   header ``typ`` ``at+jwt`` (RFC 9068 §4) and a ``kid``; ``iss`` ours, ``aud`` holding the audience
   asked for (the server's own for its APIs; for introspection and revocation, it or resources
   registered here), not expired,
   not issued in the future, and every claim we put in present. Anything else (``alg`` none,
   HS256, an unknown ``kid``, another key, garbage) is simply not ours.
2. :func:`live_access_token`: its ``jti`` is not on the deny list and its device session is usable
   by the token's client for the token's user (``sessions/device_sessions.usability``: not ended,
   not idle or past its max age, its user not disabled), read with one statement
   (``store/sessions.access_token_state``); a session found past a deadline is ended for it. A JWT
   that has not expired is dead once any of these fails. A client's own token (no ``sid``) is live
   while not denied and its client exists.

Neither step logs or returns the token string.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
from dataclasses import dataclass

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jws
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from joserfc.util import urlsafe_b64decode

from ..store import sessions as session_store
from ..store.database import db
from ..store.denylist import is_access_token_denied
from ..store.models import Client
from ..store.resources import resources_named
from .dpop import current_proof

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1; the "application/" prefix is never sent by us
DPOP_TOKEN_TYPE = "DPoP"  # RFC 9449 §5, the token response's and introspection's token_type of a bound token


class AccessTokenClaims(dict):
    """The verified claims, with the protected header beside them.

    A plain dict to callers (``claims["sub"]``); the API protector hangs the caller's
    ``device_session`` on it."""

    def __init__(self, claims: dict, header: dict):
        super().__init__(claims)
        self.header = header

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self["exp"], dt.timezone.utc)


@dataclass(frozen=True)
class LiveAccessToken:
    claims: AccessTokenClaims
    username: str | None  # the session's user's; None for a client's own token (client credentials)


@dataclass(frozen=True)
class TokenSubject:
    """Who a token is for, as Authlib's generator asks for it: the user (None: a client acting for
    itself), the session it belongs to, the resources it is for (RFC 8707; none: the server's own
    audience) and, for a token issued by delegation (RFC 8693 token exchange), who acts."""

    user: object
    session_id: str | None
    audience: tuple[str, ...] = ()
    act: dict | None = None  # a delegated token's actor chain (RFC 8693 §4.1)

    def get_user_id(self) -> str | None:
        return self.user.id if self.user is not None else None


def audience_claim(resources: tuple[str, ...], default: str) -> str | list[str]:
    """``aud``: the one resource asked for as a string, several as a list in the order asked (RFC 7519
    §4.1.3 allows both; a resource server checks that its own URI is in it), none: the server's own."""
    if not resources:
        return default
    return resources[0] if len(resources) == 1 else list(resources)


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens signed by the key ring's active key, dated by the server's clock."""

    def __init__(self, services):
        settings = services.settings
        super().__init__(issuer=settings.issuer, alg=ALGORITHM,
                         expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds)
        self._keyring = services.keyring
        self._clock = services.clock
        self._audience = settings.token_audience

    @staticmethod
    def get_allowed_scope(client, scope):
        # The grant hands over the scope scopes.granted_scope decided. Authlib's default would ask
        # the client again, and the client's answer to an empty scope is "everything it has".
        return scope or ""

    def generate(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
        token = super().generate(grant_type, client, user=user, scope=scope, expires_in=expires_in,
                                 include_refresh_token=include_refresh_token)
        # Always said, even when empty: the client learns what it was granted (RFC 6749 §5.1).
        token.setdefault("scope", scope or "")
        if current_proof() is not None:
            token["token_type"] = DPOP_TOKEN_TYPE  # RFC 9449 §5: the access token is bound
        return token

    def get_jwks(self):
        # Only the active key, as its signer: the header with its `kid` encoded once (keys.Signer).
        return self._keyring.signer()

    def access_token_generator(self, client, grant_type, user: TokenSubject | None, scope):
        now = int(self._clock.now().timestamp())
        user_id = user.get_user_id() if user else None
        claims = {
            "iss": self.issuer,
            "sub": user_id or client.get_client_id(),
            "aud": audience_claim(user.audience if user else (), self._audience),
            "client_id": client.get_client_id(),
            "exp": now + self._get_expires_in(client, grant_type),
            "iat": now,
            "jti": new_jti(),
            "scope": scope,
        }
        if user and user.session_id:
            claims["sid"] = user.session_id
            if user.act:
                claims["act"] = user.act
        proof = current_proof()
        if proof is not None:
            claims["cnf"] = {"jkt": proof.jkt}
        # What jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, keys) writes, byte for byte, less
        # its per-token header building, key lookup and registry checks: the header comes encoded.
        return self.get_jwks().sign(TOKEN_TYPE, json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())


JTI_ALPHABET = string.ascii_letters + string.digits  # Authlib's generate_token alphabet


def new_jti(length: int = 16) -> str:
    """``length`` characters drawn uniformly from letters and digits, as Authlib's ``generate_token``
    draws them, from one ``os.urandom`` read instead of one system call per character: a byte
    below 248 (4 × 62) picks ``byte % 62``, each character by exactly four bytes; others are skipped."""
    picked: list[str] = []
    while True:
        for byte in secrets.token_bytes(length + 8):
            if byte < 248:
                picked.append(JTI_ALPHABET[byte % 62])
                if len(picked) == length:
                    return "".join(picked)


# Introspection and revocation: the server's own audience, or resources registered here (RFC 8707).
OUR_AUDIENCES = None


def own_claims_registry(services, audience: str | None) -> JWTClaimsRegistry:
    """The claims every access token of ours carries (RFC 9068 §2.2), checked with no leeway against
    the server's clock; ``aud`` must hold ``audience`` (:data:`OUR_AUDIENCES`: be present, and
    :func:`verify_access_token` checks it further). `sid` is
    checked by :func:`decode_access_token`: a client's own token has none."""
    essential = {"essential": True}
    settings = services.settings
    return JWTClaimsRegistry(
        now=lambda: int(services.clock.now().timestamp()),
        iss={"essential": True, "value": settings.issuer},
        aud=essential if audience is OUR_AUDIENCES else {"essential": True, "value": audience},
        exp=essential, iat=essential, sub=essential, client_id=essential, jti=essential,
    )


def unverified_kid(token_string: str) -> str | None:
    """The `kid` a token names, read before any check, only to pick (or refetch) keys."""
    try:
        kid = jws.extract_compact(token_string.encode("utf-8")).headers().get("kid")
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return kid if isinstance(kid, str) else None


# The sizes joserfc's JWS registry allows (header, payload, signature): anything longer is not ours.
MAX_TOKEN_LENGTH = 512 + 128000 + 1024
_RS256_PADDING = PKCS1v15()


def decode_access_token(token_string: str, public_keys, registry: JWTClaimsRegistry) -> AccessTokenClaims | None:
    """Signature, algorithm, `typ` and claims against ``public_keys`` (``KeyRing.public_keys``: the
    ``cryptography`` public key of each published ``kid``); None for anything that fails.

    The JWS is taken apart here rather than by ``jwt.decode``: its header must be a JSON object with
    ``alg`` RS256, ``typ`` at+jwt, a ``kid`` naming a published key and no ``crit`` (we never send
    one), the signature that key's over the two first segments as received, the payload a JSON object
    whose claims pass ``registry``. Base64url is joserfc's strict decoding. No database."""
    if not isinstance(token_string, str) or token_string.count(".") != 2 or len(token_string) > MAX_TOKEN_LENGTH:
        return None  # not a JWS compact serialization (e.g. one of our opaque refresh tokens)
    try:
        signing_input = token_string.encode("ascii")
        header_segment, payload_segment, signature_segment = signing_input.split(b".")
        header = json.loads(urlsafe_b64decode(header_segment))
        if (not isinstance(header, dict) or header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE
                or "crit" in header):
            return None  # we always sign RS256, send `typ` at+jwt and nothing critical
        kid = header.get("kid")
        key = public_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            return None  # no kid, or not a key we publish
        key.verify(urlsafe_b64decode(signature_segment), signing_input[:len(header_segment) + 1 + len(payload_segment)],
                   _RS256_PADDING, SHA256())
        claims = json.loads(urlsafe_b64decode(payload_segment))
        if not isinstance(claims, dict):
            return None
        registry.validate(claims)
    except (InvalidSignature, JoseError, ValueError, TypeError, KeyError):
        # binascii.Error, JSONDecodeError and UnicodeError are ValueErrors: all mean "not ours".
        return None
    if not isinstance(claims["client_id"], str):
        return None
    if "sid" in claims and not isinstance(claims["sid"], str):
        return None
    if "act" in claims and not isinstance(claims["act"], dict):
        return None
    if "sid" not in claims and claims["sub"] != claims["client_id"]:
        return None  # a user's token always names its session
    if "cnf" in claims and bound_key(claims) is None:
        return None  # we only ever bind to a DPoP key's thumbprint
    return AccessTokenClaims(claims, header)


def bound_key(claims) -> str | None:
    """The DPoP key thumbprint a token is bound to (``cnf.jkt``, RFC 9449 §6.1), or None."""
    confirmation = claims.get("cnf")
    jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    return jkt if isinstance(jkt, str) else None


def signed_by_us(services, token_string: str) -> bool:
    """Whether a published key of ours signed this JWS, whatever its claims say (expired included)."""
    try:
        jwt.decode(token_string, services.keyring.verification_key_set(), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, KeyError):
        return False
    return True


def verify_access_token(services, token_string: str, audience: str | None) -> AccessTokenClaims | None:
    """The claims of an unexpired access token this server signed for ``audience`` (see
    :func:`own_claims_registry`); None otherwise. No database, but for a resource's token asked about
    with :data:`OUR_AUDIENCES` (one read of the resources it names)."""
    claims = decode_access_token(token_string, services.keyring.public_keys(),
                                 own_claims_registry(services, audience))
    if claims is not None and audience is OUR_AUDIENCES and not is_our_audience(services, claims["aud"]):
        return None
    return claims


def is_our_audience(services, aud) -> bool:
    """``aud`` is the server's own audience, or only resources registered here (read only when it
    names one): a token we signed for anything else (a test's, a forged claim set) is not ours."""
    values = [aud] if isinstance(aud, str) else list(aud)
    others = {value for value in values if value != services.settings.token_audience}
    return bool(values) and (not others or len(resources_named(list(others))) == len(others))


def client_token_is_live(claims: AccessTokenClaims) -> bool:
    """A client's own token (no `sid`), not revoked, is live while its client exists."""
    return not is_access_token_denied(claims["jti"]) and db.session.get(Client, claims["client_id"]) is not None


def live_access_token(services, token_string: str, audience: str | None) -> LiveAccessToken | None:
    """An access token of ours for ``audience`` that nobody revoked and whose session is usable (a
    client's own token: whose client still exists); None otherwise. The one liveness check of the API
    protector (our own audience) and of introspection (any: it answers for every resource). A
    delegated token (``act``) lives and dies with the session of the token it was exchanged for, whose
    client is another: only its user is checked against the session."""
    claims = verify_access_token(services, token_string, audience)
    if claims is None:
        return None
    if "sid" not in claims:
        return LiveAccessToken(claims, None) if client_token_is_live(claims) else None
    state = session_store.access_token_state(claims["sid"], claims["jti"])
    if state is None or state.denied:
        return None
    client_id = None if "act" in claims else claims["client_id"]
    if not services.sessions.check(state, client_id=client_id, user_id=claims["sub"]).usable:
        return None
    return LiveAccessToken(claims, state.username)
