"""Third-party OAuth 2.0 clients against a live server: requests-oauthlib (oauthlib's
LegacyApplicationClient), Authlib's requests client and PyJWT's PyJWKClient, each configured
from the RFC 8414 metadata the way an integrator would (helpers in conformance/clients.py,
coverage in conformance/README.md). Runs on every database the suite runs on."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from oauthlib.oauth2 import LegacyApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

from conformance.clients import AuthlibClient
from conformance.clients import RequestsOAuthlibClient
from conformance.clients import insecure_transport_allowed
from conformance.clients import used_auth_method
from conformance.clients import verify_with_pyjwt
from tests.conftest import PASSWORD

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
GRACE_SECONDS = 10  # the default AUTHSERVER_REFRESH_GRACE_SECONDS
TTL_SECONDS = 900  # the default AUTHSERVER_ACCESS_TOKEN_TTL_SECONDS
# These tests call /api/sessions with the library's token: it needs the `sessions` scope.
SCOPE_WITH_SESSIONS = "profile email sessions"


@pytest.fixture
def user_id(factory):
    return factory.user()


def verify(metadata, issuer, access_token):
    return verify_with_pyjwt(metadata, access_token, issuer=issuer, audience=issuer)


def current_session_id(oauth, live_server):
    """The caller's device session according to the sessions API, called through the library."""
    response = oauth.get(live_server + "/api/sessions")
    assert response.status_code == 200, response.text
    return next(s["id"] for s in response.json()["sessions"] if s["current"])


# -- discovery -------------------------------------------------------------------------------
def test_metadata_gives_these_clients_what_they_need(live_server, metadata, issuer):
    raw = requests.get(live_server + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert {"password", "refresh_token"} <= set(raw["grant_types_supported"])
    assert set(AUTH_METHODS) <= set(raw["token_endpoint_auth_methods_supported"])
    assert raw["response_types_supported"] == ["code"]
    # Authlib's own RFC 8414 validator, member by member (every member, none skipped).
    document = AuthorizationServerMetadata(raw)
    for key in document.REGISTRY_KEYS:
        getattr(document, f"validate_{key}")()
    jwks = requests.get(metadata["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    assert "public" in jwks.headers["Cache-Control"] and "max-age=" in jwks.headers["Cache-Control"]
    assert all(key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and "d" not in key
               for key in jwks.json()["keys"])


# -- requests-oauthlib -----------------------------------------------------------------------
@pytest.mark.parametrize("method", AUTH_METHODS)
def test_requests_oauthlib_password_grant_refresh_and_reuse(factory, user_id, live_server, metadata, issuer,
                                                            clock, method):
    registered = factory.client(auth_method=method, scope=SCOPE_WITH_SESSIONS)
    oauth = RequestsOAuthlibClient(metadata, registered, scope=["profile", "sessions"])

    token = oauth.fetch_token("alice", PASSWORD)
    assert used_auth_method(oauth.sent.last_token_request()) == method
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["profile", "sessions"]  # oauthlib checks the granted scope against the requested one
    assert token["expires_in"] == TTL_SECONDS
    assert token["expires_at"] == pytest.approx(time.time() + TTL_SECONDS, abs=30)
    header, claims = verify(metadata, issuer, token["access_token"])
    assert (header["typ"], claims["sub"], claims["client_id"]) == ("at+jwt", user_id, registered.client_id)
    assert current_session_id(oauth, live_server) == claims["sid"]  # the library sends it as a Bearer header

    first = token["refresh_token"]
    refreshed = oauth.refresh_token()
    assert used_auth_method(oauth.sent.last_token_request()) == method
    assert refreshed["refresh_token"] != first
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.session.token["refresh_token"] == refreshed["refresh_token"]  # the session keeps the new one
    _, new_claims = verify(metadata, issuer, refreshed["access_token"])
    assert new_claims["sid"] == claims["sid"] and new_claims["jti"] != claims["jti"]
    assert current_session_id(oauth, live_server) == claims["sid"]

    # A lost response: re-presenting the predecessor inside the grace window gets the same successor.
    retried = oauth.refresh_token(first)
    assert retried["refresh_token"] == refreshed["refresh_token"]

    clock.advance(GRACE_SECONDS + 1)
    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(first)
    # Reuse ended the whole device session: the successor the client holds is dead too.
    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(refreshed["refresh_token"])


def test_requests_oauthlib_refreshes_an_expired_token_by_itself(factory, user_id, live_server, metadata):
    registered = factory.client(auth_method="client_secret_basic", scope=SCOPE_WITH_SESSIONS)
    saved = []
    session = RequestsOAuthlibSession(client=LegacyApplicationClient(client_id=registered.client_id),
                                      auto_refresh_url=metadata["token_endpoint"], token_updater=saved.append)
    with insecure_transport_allowed():
        token = session.fetch_token(metadata["token_endpoint"], username="alice", password=PASSWORD,
                                    client_secret=registered.client_secret, timeout=10)
        session.token = {**token, "expires_at": time.time() - 60}  # the client thinks it has expired
        response = session.get(live_server + "/api/sessions", client_id=registered.client_id,
                               client_secret=registered.client_secret, timeout=10)
    assert response.status_code == 200, response.text
    assert len(saved) == 1
    assert saved[0]["refresh_token"] != token["refresh_token"]
    assert saved[0]["access_token"] != token["access_token"]
    assert response.request.headers["Authorization"] == "Bearer " + saved[0]["access_token"]


def test_requests_oauthlib_public_client_must_send_its_id_in_the_body(factory, user_id, metadata):
    """The library's default for a client without a secret is Basic with an empty password: that is
    a failed client_secret_basic, not the `none` method this client was registered with."""
    registered = factory.client(auth_method="none")
    session = RequestsOAuthlibSession(client=LegacyApplicationClient(client_id=registered.client_id))
    with insecure_transport_allowed(), pytest.raises(InvalidClientError):
        session.fetch_token(metadata["token_endpoint"], username="alice", password=PASSWORD, timeout=10)


# -- Authlib ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", AUTH_METHODS)
def test_authlib_password_grant_refresh_and_reuse(factory, user_id, live_server, metadata, issuer, clock, method):
    registered = factory.client(auth_method=method, scope=SCOPE_WITH_SESSIONS)
    oauth = AuthlibClient(metadata, registered, scope="profile sessions")

    token = oauth.fetch_token("alice", PASSWORD)
    assert used_auth_method(oauth.sent.last_token_request()) == method
    assert token["token_type"] == "Bearer" and token["scope"] == "profile sessions"
    assert not token.is_expired()
    assert token["expires_at"] == pytest.approx(time.time() + TTL_SECONDS, abs=30)
    _, claims = verify(metadata, issuer, token["access_token"])
    assert claims["sub"] == user_id and claims["client_id"] == registered.client_id
    assert current_session_id(oauth, live_server) == claims["sid"]

    first = token["refresh_token"]
    refreshed = oauth.refresh_token()
    assert used_auth_method(oauth.sent.last_token_request()) == method
    assert refreshed["refresh_token"] != first
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.session.token["refresh_token"] == refreshed["refresh_token"]
    _, new_claims = verify(metadata, issuer, refreshed["access_token"])
    assert new_claims["sid"] == claims["sid"] and new_claims["jti"] != claims["jti"]

    retried = oauth.refresh_token(first)
    assert retried["refresh_token"] == refreshed["refresh_token"]

    clock.advance(GRACE_SECONDS + 1)
    with pytest.raises(OAuthError) as reused:
        oauth.refresh_token(first)
    assert reused.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as dead:
        oauth.refresh_token(refreshed["refresh_token"])
    assert dead.value.error == "invalid_grant"
    assert oauth.get(live_server + "/api/sessions").status_code == 401  # its access tokens died with it


def test_authlib_public_client_refreshes_an_expired_token_by_itself(factory, user_id, live_server, metadata):
    registered = factory.client(auth_method="none", scope=SCOPE_WITH_SESSIONS)
    updates = []
    oauth = AuthlibClient(metadata, registered, update_token=lambda token, refresh_token=None, access_token=None:
                          updates.append((token, refresh_token)))
    token = oauth.fetch_token("alice", PASSWORD)
    oauth.session.token = {**token, "expires_at": int(time.time()) - 60}

    response = oauth.get(live_server + "/api/sessions")
    assert response.status_code == 200, response.text
    assert len(updates) == 1
    new_token, old_refresh_token = updates[0]
    assert old_refresh_token == token["refresh_token"]
    assert new_token["refresh_token"] != token["refresh_token"]
    assert used_auth_method(oauth.sent.last_token_request()) == "none"
    assert response.request.headers["Authorization"] == "Bearer " + new_token["access_token"]


def test_authlib_with_another_method_than_registered_is_refused(factory, user_id, metadata):
    registered = factory.client(auth_method="client_secret_post")
    oauth = AuthlibClient(metadata, registered, method="client_secret_basic")
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token("alice", PASSWORD)
    assert refused.value.error == "invalid_client"
    assert used_auth_method(oauth.sent.last_token_request()) == "client_secret_basic"


def test_authlib_wrong_password_is_invalid_grant(factory, user_id, metadata):
    oauth = AuthlibClient(metadata, factory.client(auth_method="client_secret_basic"))
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token("alice", "not the password")
    assert refused.value.error == "invalid_grant"


# -- PyJWT -----------------------------------------------------------------------------------
def test_pyjwt_jwks_client_verifies_access_tokens_from_the_metadata_jwks_uri(factory, user_id, metadata, issuer):
    registered = factory.client(auth_method="client_secret_basic")
    oauth = AuthlibClient(metadata, registered, scope="profile email")
    token = oauth.fetch_token("alice", PASSWORD)

    header, claims = verify(metadata, issuer, token["access_token"])
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt"
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert claims["iss"] == issuer and claims["aud"] == issuer
    assert claims["sub"] == user_id and claims["client_id"] == registered.client_id
    assert claims["scope"] == "profile email"
    assert claims["exp"] - claims["iat"] == TTL_SECONDS
    assert isinstance(claims["sid"], str) and claims["sid"]

    _, refreshed = verify(metadata, issuer, oauth.refresh_token()["access_token"])
    assert refreshed["sid"] == claims["sid"] and refreshed["jti"] != claims["jti"]

    # What PyJWT refuses: a changed payload under the original signature, another audience.
    head, _, signature = token["access_token"].split(".")
    forged_payload = jwt.utils.base64url_encode(jwt.api_jws.json.dumps({**claims, "sub": "mallory"}).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        verify(metadata, issuer, f"{head}.{forged_payload.decode()}.{signature}")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_with_pyjwt(metadata, token["access_token"], issuer=issuer, audience="https://other.example")
