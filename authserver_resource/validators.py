"""authserver's access tokens checked by another app, on Authlib's RFC 9068 ``JWTBearerTokenValidator``:
offline against the server's published keys, then, if configured, online by introspection.

What Authlib does (``JWTBearerTokenValidator.validate_token`` and its ``JWTAccessTokenClaims``):
``iss`` (:meth:`validate_iss`), ``aud``, ``exp``, ``iat``, ``sub``, ``client_id`` and ``jti``,
a ``typ`` other than at+jwt refused, and the scope (also ``groups``, ``roles``, ``entitlements``).

What is stricter here, because authserver always signs RS256, always sends ``typ`` at+jwt, always
names the key and always puts the device session's ``sid`` in a user's token (the same checks the
server makes, ``authserver/oauth/access_tokens.py``):

- the header is checked before any key is looked up: ``alg`` RS256 only (never none, never HS256
  keyed with the public key), ``typ`` exactly at+jwt, a ``kid``; the ``kid`` picks the keys and
  refetches them when unknown (:class:`~authserver_resource.jwks.RemoteJWKS`);
- ``client_id`` is a string, and so is ``sid``, which every user's token carries; only a client's own
  token (client credentials: ``sub`` = ``client_id``) has none;
- ``exp`` and ``iat`` tolerate ``leeway_seconds`` of clock skew between this host and the server;
- malformed input of any kind is ``invalid_token``, never a 500;
- a token bound to a DPoP key (``cnf``, RFC 9449 §6) is refused as a bearer token: it is taken only
  with the ``DPoP`` scheme and a proof (``dpop.py``).

Authlib's own ``authenticate_token`` can do none of the first three (it takes no algorithm list,
no ``kid`` and no claims options), so it is replaced; the rest is Authlib's.
"""

from __future__ import annotations

from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc import jws
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.errors import JoseError

from .errors import invalid_token
from .introspection import IntrospectionValidator
from .jwks import RemoteJWKS

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1; authserver never sends the "application/" prefix
STRING_CLAIMS = ("client_id",)


class AccessTokenClaims(JWTAccessTokenClaims):
    """``current_token``: the verified claims (a dict, ``current_token["sub"]``), the protected
    header as ``.header``, and ``.introspection``, the server's answer when introspection is on
    (None otherwise)."""

    introspection: dict | None = None

    def __init__(self, claims, header, options, leeway: int = 0):
        super().__init__(claims, header, options)
        self.leeway = leeway

    def validate(self, now=None, leeway=None):
        super().validate(now=now, leeway=self.leeway if leeway is None else leeway)
        for name in STRING_CLAIMS:
            if not isinstance(self.get(name), str):
                raise InvalidClaimError(name)
        if "sid" in self:
            if not isinstance(self["sid"], str):
                raise InvalidClaimError("sid")
        elif self.get("sub") != self.get("client_id"):
            raise InvalidClaimError("sid")  # a user's token always names its device session


def unverified_header(token_string: str) -> dict | None:
    """The JWS header, read before any check, only to refuse what is not ours and to pick keys."""
    if not isinstance(token_string, str) or token_string.count(".") != 2:
        return None  # not a JWS compact serialization
    try:
        header = jws.extract_compact(token_string.encode("utf-8")).headers()
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return header if isinstance(header, dict) else None


class RemoteTokenValidator(JWTBearerTokenValidator):
    """Bearer tokens checked offline against the JWKS, then (if ``introspection`` is given) confirmed
    with the server, which knows about revocation, ended sessions and disabled users."""

    def __init__(self, issuer: str, jwks: RemoteJWKS, *, audience: str | None = None,
                 introspection: IntrospectionValidator | None = None, leeway_seconds: int = 30, realm=None,
                 revoked_sessions=None):
        issuer = issuer.rstrip("/")
        super().__init__(issuer=issuer, resource_server=audience or issuer, realm=realm)
        self.jwks = jwks
        self.introspection = introspection
        # Sessions and users the server's security events said are over (security_events.RevokedSessions).
        self.revoked_sessions = revoked_sessions
        # Clock skew between this host and the server: tolerated for `exp` and `iat`.
        self.leeway_seconds = leeway_seconds

    def get_jwks(self):
        return self.jwks.key_set_for()

    def validate_token(self, token, scopes, request, *args, **kwargs):
        try:
            super().validate_token(token, scopes, request, *args, **kwargs)
        except InsufficientScopeError as error:
            error.scope = " ".join(scopes or ())  # named in the 403's challenge (RFC 6750 §3)
            raise

    def claims_options(self) -> dict:
        """RFC 9068 §2.2's required claims, as Authlib lists them (``sid`` is checked by
        :meth:`AccessTokenClaims.validate`). New dicts every time: Authlib takes the ``validate`` hooks
        out of the dicts it is given."""
        options = {name: {"essential": True} for name in ("exp", "iat", "sub", "client_id", "jti")}
        options["iss"] = {"essential": True, "validate": self.validate_iss}
        options["aud"] = {"essential": True, "value": self.resource_server}
        return options

    def authenticate_token(self, token_string, bound: bool = False):
        """The verified claims; ``bound``: the caller checks a DPoP proof (``dpop.py``), so a token
        bound to a key (``cnf``) is expected, otherwise refused (RFC 9449 §7.2)."""
        header = unverified_header(token_string)
        if (header is None or header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE
                or not isinstance(header.get("kid"), str)):
            raise invalid_token(self)  # nothing to look up or fetch for a token that is not ours
        keys = self.jwks.key_set_for(header["kid"])
        try:
            token = jwt.decode(token_string, keys, algorithms=[ALGORITHM])
            claims = AccessTokenClaims(token.claims, token.header, self.claims_options(), self.leeway_seconds)
            # Claims now, so that the server is only asked about tokens that are ours and unexpired;
            # validate_token (Authlib's) checks them again, without I/O, before the scope.
            claims.validate()
        except (JoseError, ValueError, TypeError, KeyError):
            # joserfc raises ValueError/TypeError/KeyError on some malformed input; all mean "not ours".
            raise invalid_token(self) from None
        if ("cnf" in claims) != bound:
            raise invalid_token(self)  # a DPoP-bound token as Bearer, or an unbound one as DPoP
        if self.revoked_sessions is not None and self.revoked_sessions.refuses(claims):
            raise invalid_token(self)  # its session ended, as the server told us: no need to ask
        if self.introspection is not None:
            claims.introspection = self.introspection.confirm(token_string, claims["jti"])
        return claims

