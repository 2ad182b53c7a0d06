"""Protecting APIs with authserver's tokens: the in-process ``resource.require_oauth`` (RFC 6750)
and ``resource_server.resource_protector`` for other Flask apps (JWKS offline, RFC 7662 online),
one validator (``resource.AccessTokenValidator``) with different keys and liveness checks."""

import time

import pytest
import requests
from flask import Flask
from flask import jsonify
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from authserver import accounts
from authserver.resource import AccessTokenValidator
from authserver.resource import SessionBoundTokenValidator
from authserver.resource import require_oauth
from authserver.resource_server import RemoteJWKS
from authserver.resource_server import RemoteTokenValidator
from authserver.resource_server import current_token
from authserver.resource_server import resource_protector
from authlib.integrations.flask_oauth2 import ResourceProtector
from tests.conftest import free_port
from tests.conftest import password_login
from tests.conftest import refresh
from tests.token_helpers import PROTECTED
from tests.token_helpers import add_protected_route
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import expired_copy
from tests.token_helpers import hmac_signed
from tests.token_helpers import mint
from tests.token_helpers import revoke
from tests.token_helpers import signing_key
from tests.token_helpers import unsigned


@pytest.fixture
def app(app):
    add_protected_route(app)
    return app


@pytest.fixture
def registered(factory):
    factory.user()
    return factory.client()


@pytest.fixture
def tokens(client, registered):
    response = password_login(client, registered, scope="profile")
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture(scope="module")
def other_key():
    return RSAKey.generate_key(2048, private=True)


def assert_invalid_token(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


# == in process: resource.require_oauth ===========================================================
def test_a_live_token_reaches_the_view_with_its_device_session(client, tokens):
    claims = claims_of(tokens["access_token"])
    response = client.get(PROTECTED, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json == {"sub": claims["sub"], "sid": claims["sid"], "username": "alice"}


def test_rfc6750_3_1_a_missing_scope_is_insufficient_scope(client, registered):
    token = password_login(client, registered, scope="email").json["access_token"]
    response = client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"


def test_rfc6750_3_1_a_revoked_access_token_is_invalid_token(client, registered, tokens):
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert_invalid_token(client.get(PROTECTED, headers=bearer(tokens["access_token"])))


def test_rfc6750_3_1_access_tokens_of_a_revoked_refresh_token_are_invalid_token(client, registered, tokens):
    renewed = refresh(client, registered, tokens["refresh_token"]).json
    assert revoke(client, registered, renewed["refresh_token"]).status_code == 200
    for token in (tokens["access_token"], renewed["access_token"]):
        assert_invalid_token(client.get(PROTECTED, headers=bearer(token)))


def test_a_disabled_users_token_is_invalid_token(app, client, tokens):
    with app.app_context():
        accounts.disable_user(app.extensions["authserver"], accounts.find_user("alice"), actor="admin")
    assert_invalid_token(client.get(PROTECTED, headers=bearer(tokens["access_token"])))


@pytest.mark.parametrize("forge", ["expired", "other key", "alg none", "typ JWT"])
def test_rfc6750_3_1_a_forged_or_expired_token_is_invalid_token(app, client, tokens, other_key, forge):
    real, claims = signing_key(app), claims_of(tokens["access_token"])
    token = {
        "expired": lambda: mint(real, expired_copy(claims)),
        "other key": lambda: mint(other_key, claims, kid=real.kid),
        "alg none": lambda: unsigned(claims, kid=real.kid),
        "typ JWT": lambda: mint(real, claims, typ="JWT"),
    }[forge]()
    assert_invalid_token(client.get(PROTECTED, headers=bearer(token)))


def test_rfc6750_3_1_no_token_is_refused_with_401(client):
    response = client.get(PROTECTED)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")  # scheme names ignore case


# == other apps: resource_server.resource_protector ==============================================
def notes_api(protector: ResourceProtector) -> Flask:
    """A tiny resource server of the kind the README shows."""
    api = Flask("notes")

    @api.get("/notes")
    @protector("profile")
    def notes():
        introspection = current_token.introspection or {}
        return jsonify(sub=current_token["sub"], sid=current_token["sid"], username=introspection.get("username"))

    return api


def call_notes(api: Flask, token: str):
    return api.test_client().get("/notes", headers=bearer(token))


@pytest.fixture
def issuer(app):
    return app.extensions["authserver"].settings.issuer


@pytest.fixture
def introspector(factory):
    return factory.client(name="notes-api", grant_types=(), scope="", introspect=True)


@pytest.fixture
def offline_api(live_server, issuer):
    return notes_api(resource_protector(issuer, live_server + "/oauth/jwks"))


@pytest.fixture
def online_api(live_server, issuer, introspector):
    return notes_api(resource_protector(issuer, live_server + "/oauth/jwks",
                                        introspection_endpoint=live_server + "/oauth/introspect",
                                        client_id=introspector.client_id, client_secret=introspector.client_secret))


def test_offline_a_live_token_is_accepted_against_the_live_jwks(offline_api, tokens):
    claims = claims_of(tokens["access_token"])
    response = call_notes(offline_api, tokens["access_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"sub": claims["sub"], "sid": claims["sid"], "username": None}


@pytest.mark.parametrize("forge", ["expired", "other key", "alg none", "typ JWT"])
def test_offline_a_forged_or_expired_token_is_invalid_token(app, offline_api, tokens, other_key, forge):
    real, claims = signing_key(app), claims_of(tokens["access_token"])
    token = {
        "expired": lambda: mint(real, expired_copy(claims)),
        "other key": lambda: mint(other_key, claims, kid=real.kid),
        "alg none": lambda: unsigned(claims, kid=real.kid),
        "typ JWT": lambda: mint(real, claims, typ="JWT"),
    }[forge]()
    assert_invalid_token(call_notes(offline_api, token))


def test_offline_a_missing_scope_is_insufficient_scope(client, registered, offline_api):
    token = password_login(client, registered, scope="email").json["access_token"]
    assert call_notes(offline_api, token).status_code == 403


def test_offline_checks_alone_do_not_see_revocation(client, registered, offline_api, tokens):
    # Why introspection exists: the JWT stays valid offline until it expires.
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert call_notes(offline_api, tokens["access_token"]).status_code == 200


def test_online_a_live_token_is_confirmed_by_introspection(online_api, tokens):
    response = call_notes(online_api, tokens["access_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["username"] == "alice"


def test_online_a_revoked_access_token_is_refused_at_once(client, registered, online_api, tokens):
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_a_logged_out_sessions_access_token_is_refused(client, registered, online_api, tokens):
    assert revoke(client, registered, tokens["refresh_token"]).status_code == 200
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_a_disabled_users_token_is_refused(app, online_api, tokens):
    with app.app_context():
        accounts.disable_user(app.extensions["authserver"], accounts.find_user("alice"), actor="admin")
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_wrong_introspection_credentials_are_503_not_the_callers_fault(live_server, issuer, introspector,
                                                                              tokens):
    api = notes_api(resource_protector(issuer, live_server + "/oauth/jwks",
                                       introspection_endpoint=live_server + "/oauth/introspect",
                                       client_id=introspector.client_id, client_secret="wrong"))
    response = call_notes(api, tokens["access_token"])
    assert response.status_code == 503
    assert response.json["error"] == "temporarily_unavailable"
    assert tokens["access_token"] not in response.get_data(as_text=True)


def test_an_unreachable_jwks_is_503(issuer, tokens, unused_port):
    api = notes_api(resource_protector(issuer, f"http://127.0.0.1:{unused_port}/oauth/jwks", timeout_seconds=2))
    response = call_notes(api, tokens["access_token"])
    assert response.status_code == 503
    assert response.json["error"] == "temporarily_unavailable"


def test_introspection_needs_client_credentials():
    with pytest.raises(ValueError):
        resource_protector("https://auth.example", "https://auth.example/jwks",
                           introspection_endpoint="https://auth.example/introspect")


@pytest.fixture
def unused_port():
    return free_port()


# == one validator for both ===================================================================
def test_both_protectors_share_the_token_steps_and_differ_only_in_keys_and_liveness():
    validators = {
        SessionBoundTokenValidator: require_oauth.get_token_validator("bearer"),
        RemoteTokenValidator: resource_protector(ISSUER, JWKS_URI).get_token_validator("bearer"),
    }
    for kind, validator in validators.items():
        assert type(validator) is kind
        assert isinstance(validator, AccessTokenValidator)
        # The steps are written once, in the base class; subclasses only supply the hooks.
        for step in ("authenticate_token", "validate_token"):
            assert getattr(kind, step) is getattr(AccessTokenValidator, step), (kind, step)


@pytest.mark.parametrize("forge", ["typ JWT", "no typ", "no kid", "HS256 with the public key", "alg none",
                                   "another issuer", "another audience"])
@pytest.mark.parametrize("protector", ["sessions API", "other app"])
def test_a_token_that_is_not_one_of_ours_is_refused_by_the_sessions_api_and_other_apps_alike(
        request, app, client, tokens, protector, forge):
    if protector == "sessions API":
        def call(token):
            return client.get("/api/sessions", headers=bearer(token))
    else:
        api = request.getfixturevalue("offline_api")

        def call(token):
            return call_notes(api, token)

    real, claims = signing_key(app), claims_of(tokens["access_token"])
    token = {
        "typ JWT": lambda: mint(real, claims, typ="JWT"),
        "no typ": lambda: mint(real, claims, typ=None),
        "no kid": lambda: mint(real, claims, kid=None),
        "HS256 with the public key": lambda: hmac_signed(real.as_pem(private=False), claims, kid=real.kid),
        "alg none": lambda: unsigned(claims, kid=real.kid),
        "another issuer": lambda: mint(real, {**claims, "iss": "https://evil.example"}),
        "another audience": lambda: mint(real, {**claims, "aud": "https://api.example"}),
    }[forge]()
    # The genuine token passes, so the refusal is the forgery's doing, not the endpoint's.
    assert call(tokens["access_token"]).status_code == 200
    assert_invalid_token(call(token))


# == the JWKS cache, offline (requests-mock) =====================================================
ISSUER = "https://auth.example"
JWKS_URI = ISSUER + "/oauth/jwks"


class FakeMonotonic:
    def __init__(self):
        self.value = 1000.0

    def __call__(self):
        return self.value


def token_signed_by(key: RSAKey) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": "user-1", "client_id": "client_1", "jti": f"jti-{key.kid}",
              "sid": "session-1", "scope": "profile", "iat": now, "exp": now + 900}
    return mint(key, claims)


def jwks_of(*keys: RSAKey) -> dict:
    return KeySet(list(keys)).as_dict(private=False)


def test_the_jwks_is_cached_and_an_unknown_kid_refetches_at_most_once_per_interval(requests_mock, other_key):
    current = RSAKey.generate_key(2048, private=True)
    current.ensure_kid()
    rotated = other_key
    rotated.ensure_kid()
    endpoint = requests_mock.get(JWKS_URI, json=jwks_of(current), headers={"Cache-Control": "max-age=300"})
    clock = FakeMonotonic()
    jwks = RemoteJWKS(JWKS_URI, max_age_seconds=300, min_refetch_seconds=30, now=clock)
    protector = ResourceProtector()
    protector.register_token_validator(RemoteTokenValidator(ISSUER, jwks))
    api = notes_api(protector)

    assert call_notes(api, token_signed_by(current)).status_code == 200
    assert call_notes(api, token_signed_by(current)).status_code == 200
    assert endpoint.call_count == 1  # cached

    # A token naming a key the cache lacks refetches, but not again within the interval.
    clock.value += 31
    assert call_notes(api, token_signed_by(rotated)).status_code == 401
    assert endpoint.call_count == 2
    for _ in range(3):
        assert call_notes(api, token_signed_by(rotated)).status_code == 401
    assert endpoint.call_count == 2

    # The server publishes the new key; once the interval has passed it is picked up.
    endpoint = requests_mock.get(JWKS_URI, json=jwks_of(current, rotated))
    clock.value += 30
    assert call_notes(api, token_signed_by(rotated)).status_code == 200
    assert endpoint.call_count == 1

    # A cache older than max_age is refreshed even for known keys.
    clock.value += 300
    assert call_notes(api, token_signed_by(current)).status_code == 200
    assert endpoint.call_count == 2


def test_a_failed_refetch_keeps_the_cached_keys(requests_mock, other_key):
    other_key.ensure_kid()
    requests_mock.get(JWKS_URI, json=jwks_of(other_key))
    clock = FakeMonotonic()
    protector = ResourceProtector()
    protector.register_token_validator(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI, now=clock)))
    api = notes_api(protector)
    assert call_notes(api, token_signed_by(other_key)).status_code == 200
    requests_mock.get(JWKS_URI, exc=requests.ConnectionError)
    clock.value += 301
    assert call_notes(api, token_signed_by(other_key)).status_code == 200
