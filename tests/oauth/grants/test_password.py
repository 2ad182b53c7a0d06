"""The password grant (RFC 6749 §4.3) end to end, verified the way a resource server would."""

import logging
import time

import jwt
import pytest
import requests

from tests.conftest import PASSWORD
from tests.conftest import password_login


def test_password_grant_token_verifies_against_live_jwks(app, factory, live_server):
    user_id = factory.user()
    client = factory.client()
    data, headers = client.auth({"grant_type": "password", "username": "alice", "password": PASSWORD,
                                 "scope": "profile"})
    response = requests.post(live_server + "/oauth/token", data=data, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "profile"
    assert body["refresh_token"]

    metadata = requests.get(live_server + "/.well-known/oauth-authorization-server", timeout=10).json()
    jwks_path = metadata["jwks_uri"].removeprefix(app.extensions["authserver"].settings.issuer)
    jwk_client = jwt.PyJWKClient(live_server + jwks_path)
    token = body["access_token"]
    signing_key = jwk_client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == signing_key.key_id
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience="http://127.0.0.1:5000",
                        issuer="http://127.0.0.1:5000", options={"require": ["exp", "iat", "jti", "sub", "sid"]})
    assert claims["sub"] == user_id
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "profile"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["sub"] != claims["client_id"]


def test_token_with_a_wrong_audience_or_issuer_fails_verification(app, factory, client):
    factory.user()
    registered = factory.client()
    token = password_login(client, registered).json["access_token"]
    public = jwt.PyJWK(app.extensions["authserver"].keyring.jwks()["keys"][0])
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, public.key, algorithms=["RS256"], audience="https://other.example")
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, public.key, algorithms=["RS256"], audience="http://127.0.0.1:5000",
                   issuer="https://other.example")


def test_login_opens_a_device_session_with_what_the_server_saw(app, factory, client, clock):
    from authserver.store.models import DeviceSession

    factory.user()
    registered = factory.client()
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile Safari/604.1"
    response = password_login(client, registered, headers={"User-Agent": ua}, device_name="Alice's phone")
    sid = jwt.decode(response.json["access_token"], options={"verify_signature": False})["sid"]
    with app.app_context():
        session = app.extensions["authserver"].sessions.find_user_session(sid)
        assert isinstance(session, DeviceSession)
        assert session.device_name == "Alice's phone"
        assert session.user_agent == ua
        assert session.ip == "127.0.0.1"
        assert session.client_id == registered.client_id
        assert session.created_at == clock.now() == session.last_active_at
        assert (session.expires_at - session.created_at).total_seconds() == 7_776_000


def test_device_name_defaults_to_the_parsed_user_agent(app, factory, client):
    factory.user()
    registered = factory.client()
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    response = password_login(client, registered, headers={"User-Agent": ua})
    sid = jwt.decode(response.json["access_token"], options={"verify_signature": False})["sid"]
    with app.app_context():
        assert app.extensions["authserver"].sessions.find_user_session(sid).device_name == "Chrome 120 on Linux"


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post", "none"])
def test_each_client_auth_method_works(factory, client, auth_method):
    factory.user()
    registered = factory.client(auth_method=auth_method)
    response = password_login(client, registered)
    assert response.status_code == 200, response.json


def test_client_must_use_its_registered_auth_method(factory, client):
    factory.user()
    registered = factory.client(auth_method="client_secret_basic")
    response = client.post("/oauth/token", data={
        "grant_type": "password", "username": "alice", "password": PASSWORD,
        "client_id": registered.client_id, "client_secret": registered.client_secret})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_confidential_client_cannot_skip_its_secret(factory, client):
    factory.user()
    registered = factory.client(auth_method="client_secret_post")
    response = client.post("/oauth/token", data={
        "grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": registered.client_id})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_no_scope_requested_grants_the_clients_scopes(factory, client):
    factory.user()
    registered = factory.client(scope="profile email")
    assert password_login(client, registered).json["scope"] == "profile email"


def test_admin_scope_only_for_admin_users(factory, client):
    factory.user("alice")
    factory.user("root", admin=True)
    registered = factory.client(scope="profile admin")
    assert password_login(client, registered, username="alice").json["scope"] == "profile"
    refused = password_login(client, registered, username="alice", scope="admin")
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_scope"
    assert password_login(client, registered, username="root", scope="admin").json["scope"] == "admin"


def test_client_without_refresh_grant_gets_no_refresh_token(factory, client):
    factory.user()
    registered = factory.client(grant_types=("password",))
    body = password_login(client, registered).json
    assert "access_token" in body and "refresh_token" not in body


def test_login_success_and_failure_are_security_events(app, factory, client):
    from authserver.store import security_events
    from authserver.store.models import SecurityEvent

    factory.user()
    registered = factory.client()
    password_login(client, registered)
    password_login(client, registered, password="wrong")
    password_login(client, registered, username="mallory")
    with app.app_context():
        kinds = [(e.kind, e.username) for e in SecurityEvent.query.order_by(SecurityEvent.id)]
    assert kinds == [(security_events.LOGIN_SUCCEEDED, "alice"), (security_events.LOGIN_FAILED, "alice"), (security_events.LOGIN_FAILED, "mallory")]


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 3, "login_failure_window_seconds": 600}])
def test_repeated_wrong_passwords_are_throttled_per_username_and_ip(app, factory, client, clock):
    factory.user()
    registered = factory.client()
    for _ in range(3):
        assert password_login(client, registered, password="guess").json["error"] == "invalid_grant"
    clock.advance(60)
    throttled = password_login(client, registered)  # even the right password waits
    assert throttled.status_code == 429
    assert throttled.json["error"] == "temporarily_unavailable"
    assert throttled.headers["Retry-After"] == "541"
    assert throttled.headers["Cache-Control"] == "no-store"
    # Another address is not locked out by the guesser.
    other = registered.auth({"grant_type": "password", "username": "alice", "password": PASSWORD})
    response = client.post("/oauth/token", data=other[0], headers=other[1],
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 200
    clock.advance(541)
    assert password_login(client, registered).status_code == 200


def test_tokens_passwords_and_secrets_are_never_logged(factory, client, clock, caplog):
    # Authlib logs whole token responses at DEBUG; the app keeps that logger quiet whatever the
    # root level is. This fails if it ever stops doing so.
    caplog.set_level(logging.DEBUG)
    factory.user()
    registered = factory.client(auth_method="client_secret_post")
    login = password_login(client, registered, device_name="Alice's phone")
    clock.advance(60)
    refreshed = client.post("/oauth/token", data=registered.auth(
        {"grant_type": "refresh_token", "refresh_token": login.json["refresh_token"]})[0])
    wrong = password_login(client, registered, password="not-the-password-at-all")
    assert (login.status_code, refreshed.status_code, wrong.status_code) == (200, 200, 400)
    logged = caplog.text
    for secret in (PASSWORD, "not-the-password-at-all", registered.client_secret, login.json["access_token"],
                   login.json["refresh_token"], refreshed.json["access_token"], refreshed.json["refresh_token"]):
        assert secret not in logged
