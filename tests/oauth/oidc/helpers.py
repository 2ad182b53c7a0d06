"""What the OpenID Connect tests share: a relying party registered for the code flow with `openid`,
signing in through the pages with a nonce, and checking an ID token the way a relying party does --
PyJWT against the JWKS the server publishes, `at_hash` computed here (OpenID Connect Core 1.0
§3.1.3.6), never by the code under test."""

from __future__ import annotations

import base64
import hashlib
import secrets

import jwt

from tests.code_flow_helpers import CODE_GRANT_TYPES
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import approve
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import issuer_of
from tests.code_flow_helpers import pkce

OIDC_SCOPE = "openid profile email"
SIGNED_OUT_URI = "https://app.example/signed-out"  # the app's registered post-logout redirect URI
ID_TOKEN_HEADER = {"alg", "kid", "typ"}


def relying_party(factory, name="Notes", scope=OIDC_SCOPE, first_party=False, post_logout_redirect_uris=(),
                  backchannel_logout_uri=None):
    """A third-party web app that signs its users in with OpenID Connect (the code flow)."""
    return factory.client(name=name, grant_types=CODE_GRANT_TYPES, scope=f"{scope} sessions",
                          redirect_uris=(REDIRECT_URI,), first_party=first_party,
                          post_logout_redirect_uris=post_logout_redirect_uris,
                          backchannel_logout_uri=backchannel_logout_uri)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def at_hash(access_token: str) -> str:
    """Core 1.0 §3.1.3.6: the left half of the SHA-256 of the access token, base64url without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def verified_id_token(app, http, id_token: str, client_id: str) -> tuple[dict, dict]:
    """(header, claims) of an ID token checked as a relying party checks it: RS256, signed by the key
    the JWKS names by `kid`, `iss` ours, `aud` the client, issued and not expired by the server's
    (injected) clock; every required claim present."""
    header = jwt.get_unverified_header(id_token)
    keys = jwt.PyJWKSet.from_dict(http.get("/oauth/jwks").json)
    key = next(key for key in keys.keys if key.key_id == header["kid"])
    claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=client_id, issuer=issuer_of(app),
                        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time", "sid"],
                                 "verify_exp": False, "verify_iat": False})
    now = app.extensions["authserver"].clock.now().timestamp()
    assert claims["iat"] <= now < claims["exp"], (claims, now)
    return header, claims


def sign_in_with_oidc(app, http, registered, scope=OIDC_SCOPE, **extra) -> dict:
    """Through the authorization endpoint (signing in, allowing) and the code exchange; the token response."""
    verifier = pkce()
    code = approve(app, http, registered, scope=scope, challenge=verifier, **extra)
    response = exchange(http, registered, code, verifier)
    assert response.status_code == 200, response.text
    return response.json
