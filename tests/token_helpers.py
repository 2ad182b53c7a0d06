"""Helpers for the tests that handle tokens: calling the revocation and introspection endpoints,
reading a JWT's claims, minting JWTs (genuine, expired, forged) to present, presenting a bearer token
and reading the refusal (RFC 6750), and the two tables the revocation, introspection and
resource-protector tests share: :data:`FORGERS` (tokens that must not be taken for a live one) and
:data:`MALFORMED_REQUESTS` (requests the revocation and introspection endpoints refuse)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jwt as pyjwt
from flask import jsonify
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from authserver.api.protector import current_token
from authserver.api.protector import require_oauth

REVOKE = "/oauth/revoke"
INTROSPECT = "/oauth/introspect"
PROTECTED = "/test/protected"


def revoke(http, registered, token, hint=None, **extra):
    return post_token(http, REVOKE, registered, token, hint, **extra)


def introspect(http, registered, token, hint=None, **extra):
    return post_token(http, INTROSPECT, registered, token, hint, **extra)


def post_token(http, url, registered, token, hint=None, **extra):
    """A token (and its ``token_type_hint``) to one of the two endpoints, as the client authenticates."""
    form = {"token": token, **extra}
    if hint is not None:
        form["token_type_hint"] = hint
    data, headers = registered.auth(form)
    return http.post(url, data=data, headers=headers)


def is_active(http, introspector, token) -> bool:
    response = introspect(http, introspector, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.json == {"active": False}:
        return False
    assert response.json["active"] is True, response.json
    return True


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return pyjwt.get_unverified_header(token)


# -- minting ----------------------------------------------------------------------------------
def signing_key(app) -> RSAKey:
    """The server's real, active private signing key."""
    return app.extensions["authserver"].keyring.signing_key_set().keys[0]


def mint(key: RSAKey, claims: dict, **header) -> str:
    """An RS256 JWT with exactly this header (``typ``/``kid`` default to the real ones)."""
    full_header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **header}
    full_header = {name: value for name, value in full_header.items() if value is not None}
    return jose_jwt.encode(full_header, claims, key, algorithms=[full_header["alg"]], default_type=None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict, **header) -> str:
    """`alg` none: no signature at all."""
    head = {"alg": "none", "typ": "at+jwt", **header}
    return f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}."


def hmac_signed(secret: bytes, claims: dict, **header) -> str:
    """HS256 with the given secret (the classic attack uses the server's public key PEM)."""
    head = {"alg": "HS256", "typ": "at+jwt", **header}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def expired_copy(claims: dict) -> dict:
    now = int(time.time())
    return {**claims, "iat": now - 1000, "exp": now - 100}


def tampered(token: str, **changes) -> str:
    """The real token with its payload edited and the real signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url(json.dumps({**claims_of(token), **changes}).encode())}.{signature}"


@cache
def another_key() -> RSAKey:
    """An RSA key that is not the server's (made once per test run)."""
    return RSAKey.generate_key(2048, private=True)


NOBODY = "00000000-0000-0000-0000-000000000000"


# -- the forged-token table -------------------------------------------------------------------
@dataclass(frozen=True)
class Forger:
    """A way to make, from the server's real signing key and a real access token, a token that must
    not be taken for a live one.

    ``offline``: refused by the signature, header and claims alone. False for tokens signed with
    the real key whose claims only the server's records show to be wrong (no such session, another
    user, another client): a resource server checking offline accepts them (as it accepts a revoked
    token); the server itself, introspection and its own API refuse them."""

    name: str
    make: Callable[[RSAKey, dict, str], str]  # (real key, the real token's claims, the real token) -> token
    offline: bool = True

    def __call__(self, app, token: str) -> str:
        return self.make(signing_key(app), claims_of(token), token)


FORGERS = [
    Forger("expired", lambda real, claims, token: mint(real, expired_copy(claims))),
    Forger("issued in the future", lambda real, claims, token: mint(real, {**claims, "iat": int(time.time()) + 3600})),
    Forger("another RSA key, same kid", lambda real, claims, token: mint(another_key(), claims, kid=real.kid)),
    Forger("another RSA key, unknown kid", lambda real, claims, token: mint(another_key(), claims, kid="not-ours")),
    Forger("no kid", lambda real, claims, token: mint(real, claims, kid=None)),
    Forger("alg none", lambda real, claims, token: unsigned(claims, kid=real.kid)),
    Forger("HS256 keyed with the public key PEM",
           lambda real, claims, token: hmac_signed(real.as_pem(private=False), claims, kid=real.kid)),
    Forger("typ JWT", lambda real, claims, token: mint(real, claims, typ="JWT")),
    Forger("no typ", lambda real, claims, token: mint(real, claims, typ=None)),
    Forger("another issuer", lambda real, claims, token: mint(real, {**claims, "iss": "https://evil.example"})),
    Forger("another audience", lambda real, claims, token: mint(real, {**claims, "aud": "https://api.example"})),
    Forger("no sid", lambda real, claims, token: mint(real, {k: v for k, v in claims.items() if k != "sid"})),
    Forger("a sid that is not a string", lambda real, claims, token: mint(real, {**claims, "sid": 1})),
    Forger("payload edited after signing", lambda real, claims, token: tampered(token, scope="profile admin")),
    Forger("three segments of garbage", lambda real, claims, token: "not.a.jwt"),
    Forger("three segments, not base64 JSON", lambda real, claims, token: "a.b.c"),
    Forger("alg none, no claims", lambda real, claims, token: "eyJhbGciOiJub25lIn0.e30."),
    Forger("not a JWT at all", lambda real, claims, token: "not-a-token"),
    Forger("someone else's sub", lambda real, claims, token: mint(real, {**claims, "sub": NOBODY}), offline=False),
    Forger("another client's client_id", lambda real, claims, token: mint(real, {**claims, "client_id": "client_x"}),
           offline=False),
    Forger("unknown session", lambda real, claims, token: mint(real, {**claims, "sid": NOBODY}), offline=False),
]
OFFLINE_FORGERS = [forger for forger in FORGERS if forger.offline]


def forger_id(forger: Forger) -> str:
    return forger.name


# -- the malformed-request table (revocation, introspection) -------------------------------------
@dataclass(frozen=True)
class MalformedRequest:
    """A request to the revocation or introspection endpoint, correctly authenticated but otherwise
    wrong, and the error both answer (RFC 6749 §5.2, RFC 7009 §2.1, RFC 7662 §2.1)."""

    name: str
    send: Callable  # (http, url, the calling RegisteredClient, a live token) -> response
    status: int = 400
    error: str = "invalid_request"
    headers: tuple = ()  # (name, value) the answer must carry besides


def _post_form(form: dict) -> Callable:
    def send(http, url, caller, token):
        data, headers = caller.auth(form)
        return http.post(url, data=data, headers=headers)

    return send


def _get(http, url, caller, token):
    data, headers = caller.auth({"token": token})
    return http.get(url, query_string=data, headers=headers)


def _credentials_twice(http, url, caller, token):
    data, headers = caller.auth({"token": token})
    data.update(client_id=caller.client_id, client_secret=caller.client_secret)
    return http.post(url, data=data, headers=headers)


def _token_twice(http, url, caller, token):
    _, headers = caller.auth({})
    return http.post(url, data=f"token={token}&token=other",
                     headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})


def _json_body(http, url, caller, token):
    _, headers = caller.auth({})
    return http.post(url, json={"token": token}, headers=headers)


MALFORMED_REQUESTS = [
    MalformedRequest("no token", _post_form({})),
    MalformedRequest("an empty token", _post_form({"token": ""})),
    MalformedRequest("a hint (access_token) but no token", _post_form({"token_type_hint": "access_token"})),
    MalformedRequest("a hint (refresh_token) but no token", _post_form({"token_type_hint": "refresh_token"})),
    MalformedRequest("GET instead of POST", _get, status=405, headers=(("Allow", "POST"),)),
    MalformedRequest("credentials in Basic and in the body", _credentials_twice),
    MalformedRequest("the token parameter twice", _token_twice),
    MalformedRequest("a JSON body", _json_body),
]


def malformed_id(case: MalformedRequest) -> str:
    return case.name


def assert_oauth_error(response, status: int, error: str) -> None:
    """An OAuth error answer: the status, the RFC error code, never cached, no traceback."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.get_data(as_text=True)


def assert_token_error(response, status: int, error: str) -> None:
    """An error of the token endpoint: :func:`assert_oauth_error`, and ``Pragma: no-cache`` (RFC 6749 §5.1)."""
    assert_oauth_error(response, status, error)
    assert response.headers["Pragma"] == "no-cache"


# -- presenting a bearer token to a protected resource (both protectors, the sessions API) -------
def bearer(access_token: str) -> dict:
    """The Authorization header presenting an access token (RFC 6750 §2.1)."""
    return {"Authorization": f"Bearer {access_token}"}


def challenge_params(response) -> dict:
    """The parameters of a Bearer challenge (RFC 6750 §3) in the WWW-Authenticate header."""
    header = response.headers["WWW-Authenticate"]
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def assert_invalid_token(response) -> None:
    """A protected resource's refusal of a token (RFC 6750 §3.1): 401 invalid_token, with its challenge."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


# Requests that carry no bearer token at all: both protectors refuse them alike.
# RFC 6750 §3.1 and RFC 9449 §7.1: no token at all, the schemes the resource takes, no error code.
NO_TOKEN_CHALLENGE = 'Bearer, DPoP algs="ES256 RS256 PS256 EdDSA"'

NO_BEARER_TOKEN = {
    "no Authorization header": None,
    "Bearer without a token": "Bearer",
    "Basic credentials": "Basic YWxpY2U6c2VjcmV0",
}


# -- a route behind the in-process resource protector ----------------------------------------
def add_protected_route(app) -> None:
    """GET /test/protected, needing the `profile` scope (call before the app's first request).

    It is protected the way the sessions API is: ``@require_oauth``, errors raised and rendered by
    the app's one handler."""

    @app.get(PROTECTED, endpoint="test_protected")
    @require_oauth("profile")
    def protected():
        token = current_token._get_current_object()
        return jsonify(sub=token["sub"], sid=token.device_session.id, username=token.device_session.user.username)
