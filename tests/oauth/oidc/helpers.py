"""What the OpenID Connect tests share: a relying party registered for the code flow with `openid`,
signing in through the pages with a nonce, and checking an ID token the way a relying party does --
PyJWT against the JWKS the server publishes, `at_hash` computed here (OpenID Connect Core 1.0
§3.1.3.6), never by the code under test."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import jwt

from tests.code_flow_helpers import CODE_GRANT_TYPES
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import approve
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import issuer_of
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import signed_in
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.session_helpers import sign_in
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import revoke
from tests.web.conftest import web_sid

OIDC_SCOPE = "openid profile email"
SIGNED_OUT_URI = "https://app.example/signed-out"  # the app's registered post-logout redirect URI
END_SESSION = "/oauth/logout"  # RP-Initiated Logout's end_session_endpoint
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


# -- RP-Initiated Logout (oauth/oidc/logout.py's checks, web/logout.py's pages) -------------------------
def logout_url(**params) -> str:
    return END_SESSION + "?" + urlencode(params)


def assert_app_signed_out(app, client, registered, tokens):
    """The device session of the app's tokens ended: its refresh token and access token stop working."""
    assert session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended
    assert refresh(client, registered, tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def assert_nothing_ended(app, http, tokens):
    """Neither the app's device session nor the browser's sign-in ended."""
    assert not session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended
    assert not session_row(app, web_sid(app, http)).is_ended


# -- every cause a device session ends for (back-channel logout, security events) -----------------------
def oidc_sign_in(app, registered) -> tuple:
    """A browser signed in, and the app's tokens from the code flow through it (with `sessions`)."""
    http = signed_in(app)
    return http, sign_in_with_oidc(app, http, registered, scope=f"{OIDC_SCOPE} sessions")


def end_by_sessions_api(app, client, factory, registered, http, tokens, clock):
    sid = claims_of(tokens["id_token"])["sid"]
    assert client.delete(f"/api/sessions/{sid}", headers=bearer(tokens["access_token"])).status_code == 204


def end_by_admin_api(app, client, factory, registered, http, tokens, clock):
    factory.user("root", admin=True)
    admin = sign_in(client, factory.client(name="Console", scope="profile admin sessions"), username="root")
    sid = claims_of(tokens["id_token"])["sid"]
    assert client.delete(f"/api/admin/sessions/{sid}", headers=admin.headers).status_code == 204


def end_by_reuse_detection(app, client, factory, registered, http, tokens, clock):
    assert refresh(client, registered, tokens["refresh_token"]).status_code == 200
    clock.advance(11)  # past the grace window
    assert refresh(client, registered, tokens["refresh_token"]).json["error"] == "invalid_grant"


def end_by_consent_withdrawn(app, client, factory, registered, http, tokens, clock):
    response = client.delete(f"/api/consents/{registered.client_id}", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204


def end_by_user_disabled(app, client, factory, registered, http, tokens, clock):
    result = app.test_cli_runner().invoke(args=["users", "disable", "alice"])
    assert result.exit_code == 0, result.output


def end_by_rp_initiated_logout(app, client, factory, registered, http, tokens, clock):
    assert http.get(END_SESSION, query_string={"id_token_hint": tokens["id_token"]}).status_code in (200, 302)


def end_by_revocation(app, client, factory, registered, http, tokens, clock):
    assert revoke(client, registered, tokens["refresh_token"]).status_code == 200


def end_by_expiry(app, client, factory, registered, http, tokens, clock):
    clock.advance(app.extensions["authserver"].settings.session_idle_timeout_seconds + 1)
    result = app.test_cli_runner().invoke(args=["sessions", "prune"])
    assert result.exit_code == 0, result.output


# Each ends the session of `oidc_sign_in`'s tokens: (app, client, factory, registered, http, tokens, clock).
ENDING_CAUSES = [end_by_sessions_api, end_by_admin_api, end_by_reuse_detection, end_by_consent_withdrawn,
                 end_by_user_disabled, end_by_rp_initiated_logout, end_by_revocation, end_by_expiry]
