"""``authserver_resource.resource_protector``, for other Flask apps: tokens checked offline against
the server's JWKS (RFC 9068), and online by introspection (RFC 7662) when configured.

Against a live authserver where it matters; the JWKS cache, clock leeway and odd introspection
answers against requests-mock."""

import subprocess
import sys
import time

import pytest
import requests
from authlib.integrations.flask_oauth2 import ResourceProtector
from flask import Flask
from flask import jsonify
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from authserver.accounts import users
from authserver.store.database import db
from authserver_resource import IntrospectionValidator
from authserver_resource import RemoteJWKS
from authserver_resource import RemoteTokenValidator
from authserver_resource import current_token
from authserver_resource import resource_protector
from tests.conftest import free_port
from tests.conftest import password_login
from tests.token_helpers import FORGERS
from tests.token_helpers import NO_BEARER_TOKEN
from tests.token_helpers import OFFLINE_FORGERS
from tests.token_helpers import assert_invalid_token
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import forger_id
from tests.token_helpers import hmac_signed
from tests.token_helpers import mint
from tests.token_helpers import revoke
from tests.token_helpers import unsigned


# -- a resource server of the kind the README shows ---------------------------------------------
def notes_api(protector: ResourceProtector) -> Flask:
    api = Flask("notes")

    @api.get("/notes")
    @protector("profile")
    def notes():
        introspection = current_token.introspection or {}
        return jsonify(sub=current_token["sub"], sid=current_token["sid"], username=introspection.get("username"))

    return api


def call_notes(api: Flask, token: str | None = None, authorization: str | None = None):
    headers = bearer(token) if token is not None else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    return api.test_client().get("/notes", headers=headers)


def assert_unavailable(response):
    """503 and retry later: never a 500, never an "invalid token" that makes a client drop a good one."""
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0


# == against a live authserver ====================================================================
@pytest.fixture
def tokens(client, registered):
    response = password_login(client, registered, scope="profile")
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def issuer(app):
    return app.extensions["authserver"].settings.issuer


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
    # No introspection configured: current_token.introspection is None.
    assert response.json == {"sub": claims["sub"], "sid": claims["sid"], "username": None}


@pytest.mark.parametrize("forger", OFFLINE_FORGERS, ids=forger_id)
def test_offline_a_forged_or_expired_token_is_invalid_token(app, offline_api, tokens, forger):
    # The genuine token passes, so the refusal is the forgery's doing, not the endpoint's.
    assert call_notes(offline_api, tokens["access_token"]).status_code == 200
    assert_invalid_token(call_notes(offline_api, forger(app, tokens["access_token"])))


def test_offline_a_missing_scope_is_insufficient_scope(client, registered, offline_api):
    token = password_login(client, registered, scope="email").json["access_token"]
    response = call_notes(offline_api, token)
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"


def test_offline_checks_alone_do_not_see_revocation(client, registered, offline_api, tokens):
    # Why introspection exists: the JWT stays valid offline until it expires.
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert call_notes(offline_api, tokens["access_token"]).status_code == 200


@pytest.mark.parametrize("authorization", NO_BEARER_TOKEN.values(), ids=NO_BEARER_TOKEN.keys())
def test_rfc6750_3_1_a_request_without_a_bearer_token_is_refused_with_401(offline_api, authorization):
    response = call_notes(offline_api, authorization=authorization)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_online_a_live_token_is_confirmed_by_introspection(online_api, tokens):
    claims = claims_of(tokens["access_token"])
    response = call_notes(online_api, tokens["access_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    # current_token.introspection is the server's answer.
    assert response.json == {"sub": claims["sub"], "sid": claims["sid"], "username": "alice"}


@pytest.mark.parametrize("forger", FORGERS, ids=forger_id)
def test_online_every_forged_or_expired_token_is_invalid_token(app, online_api, tokens, forger):
    # Including those signed with the real key that only the server's records refute.
    assert call_notes(online_api, tokens["access_token"]).status_code == 200
    assert_invalid_token(call_notes(online_api, forger(app, tokens["access_token"])))


def test_online_a_revoked_access_token_is_refused_at_once(client, registered, online_api, tokens):
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_a_logged_out_sessions_access_token_is_refused(client, registered, online_api, tokens):
    assert revoke(client, registered, tokens["refresh_token"]).status_code == 200
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_a_disabled_users_token_is_refused(app, online_api, tokens):
    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="admin")
        db.session.commit()
    assert_invalid_token(call_notes(online_api, tokens["access_token"]))


def test_online_a_refresh_token_is_no_bearer_token(online_api, tokens):
    assert_invalid_token(call_notes(online_api, tokens["refresh_token"]))


# -- a back end's own token (client credentials): no user, no `sid` ----------------------------------
def reports_api(protector: ResourceProtector) -> Flask:
    api = Flask("reports")

    @api.get("/reports")
    @protector("reports:read")
    def reports():
        return jsonify(sub=current_token["sub"], client_id=current_token["client_id"], sid=current_token.get("sid"))

    return api


@pytest.fixture
def back_end_token(client, factory):
    job = factory.client(name="billing job", grant_types=("client_credentials",), scope="reports:read")
    data, headers = job.auth({"grant_type": "client_credentials"})
    response = client.post("/oauth/token", data=data, headers=headers)
    assert response.status_code == 200, response.json
    return job, response.json["access_token"]


@pytest.mark.parametrize("online", [False, True], ids=["offline", "online"])
def test_a_client_credentials_token_is_accepted_for_its_scope(live_server, issuer, introspector, back_end_token,
                                                              online):
    job, token = back_end_token
    extra = {"introspection_endpoint": live_server + "/oauth/introspect", "client_id": introspector.client_id,
             "client_secret": introspector.client_secret} if online else {}
    api = reports_api(resource_protector(issuer, live_server + "/oauth/jwks", **extra))
    response = api.test_client().get("/reports", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"sub": job.client_id, "client_id": job.client_id, "sid": None}
    assert call_notes(notes_api(resource_protector(issuer, live_server + "/oauth/jwks", **extra)),
                      token).status_code == 403  # not the `profile` scope


def test_online_a_revoked_client_credentials_token_is_refused(client, live_server, issuer, introspector,
                                                             back_end_token):
    job, token = back_end_token
    assert revoke(client, job, token).status_code == 200
    api = reports_api(resource_protector(issuer, live_server + "/oauth/jwks",
                                         introspection_endpoint=live_server + "/oauth/introspect",
                                         client_id=introspector.client_id, client_secret=introspector.client_secret))
    assert_invalid_token(api.test_client().get("/reports", headers=bearer(token)))


def test_online_wrong_introspection_credentials_are_503_not_the_callers_fault(live_server, issuer, introspector,
                                                                              tokens):
    api = notes_api(resource_protector(issuer, live_server + "/oauth/jwks",
                                       introspection_endpoint=live_server + "/oauth/introspect",
                                       client_id=introspector.client_id, client_secret="wrong"))
    response = call_notes(api, tokens["access_token"])
    assert_unavailable(response)
    assert tokens["access_token"] not in response.get_data(as_text=True)


def test_an_unreachable_jwks_is_503(issuer, tokens):
    api = notes_api(resource_protector(issuer, f"http://127.0.0.1:{free_port()}/oauth/jwks", timeout_seconds=2))
    assert_unavailable(call_notes(api, tokens["access_token"]))


def test_introspection_needs_client_credentials():
    with pytest.raises(ValueError):
        resource_protector("https://auth.example", "https://auth.example/jwks",
                           introspection_endpoint="https://auth.example/introspect")


def test_the_package_imports_nothing_from_authserver():
    code = ("import sys, authserver_resource; "
            "print(sorted(m for m in sys.modules if m == 'authserver' or m.startswith('authserver.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# == offline, against requests-mock ===============================================================
ISSUER = "https://auth.example"
JWKS_URI = ISSUER + "/oauth/jwks"
INTROSPECT_URI = ISSUER + "/oauth/introspect"


class FakeMonotonic:
    def __init__(self):
        self.value = 1000.0

    def __call__(self):
        return self.value


@pytest.fixture(scope="module")
def key():
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


@pytest.fixture(scope="module")
def other_key():
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def claims_for(key: RSAKey, **changes) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": ISSUER, "sub": "user-1", "client_id": "client_1", "jti": f"jti-{key.kid}",
            "sid": "session-1", "scope": "profile", "iat": now, "exp": now + 900, **changes}


def token_signed_by(key: RSAKey, **changes) -> str:
    return mint(key, claims_for(key, **changes))


def jwks_of(*keys: RSAKey) -> dict:
    return KeySet(list(keys)).as_dict(private=False)


def api_with(validator: RemoteTokenValidator) -> Flask:
    protector = ResourceProtector()
    protector.register_token_validator(validator)
    return notes_api(protector)


def test_the_jwks_is_cached_and_an_unknown_kid_refetches_at_most_once_per_interval(requests_mock, key, other_key):
    current, rotated = key, other_key
    endpoint = requests_mock.get(JWKS_URI, json=jwks_of(current), headers={"Cache-Control": "max-age=300"})
    clock = FakeMonotonic()
    api = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI, max_age_seconds=300, min_refetch_seconds=30,
                                                           now=clock)))

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
    requests_mock.get(JWKS_URI, json=jwks_of(other_key))
    clock = FakeMonotonic()
    api = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI, now=clock)))
    assert call_notes(api, token_signed_by(other_key)).status_code == 200
    requests_mock.get(JWKS_URI, exc=requests.ConnectionError)
    clock.value += 301
    assert call_notes(api, token_signed_by(other_key)).status_code == 200


@pytest.mark.parametrize("forge", [
    lambda key: mint(key, claims_for(key), kid=None),
    lambda key: mint(key, claims_for(key), typ=None),
    lambda key: mint(key, claims_for(key), typ="JWT"),
    lambda key: unsigned(claims_for(key), kid=key.kid),
    lambda key: hmac_signed(key.as_pem(private=False), claims_for(key), kid=key.kid),
    lambda key: "not-a-token",
], ids=["no kid", "no typ", "typ JWT", "alg none", "HS256", "not a JWT"])
def test_a_header_that_is_not_ours_is_refused_before_any_key_is_fetched(requests_mock, key, forge):
    endpoint = requests_mock.get(JWKS_URI, json=jwks_of(key))
    api = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI)))
    assert_invalid_token(call_notes(api, forge(key)))
    assert endpoint.call_count == 0


@pytest.mark.parametrize("skew", ["exp", "iat"])
def test_clock_skew_within_the_leeway_is_tolerated_and_beyond_it_refused(requests_mock, key, skew):
    requests_mock.get(JWKS_URI, json=jwks_of(key))
    now = int(time.time())
    # This host's clock runs 10 s ahead of the server's (exp) or behind it (iat).
    token = token_signed_by(key, **({"iat": now - 910, "exp": now - 10} if skew == "exp" else {"iat": now + 10}))
    lenient = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI), leeway_seconds=30))
    strict = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI), leeway_seconds=0))
    assert call_notes(lenient, token).status_code == 200
    assert_invalid_token(call_notes(strict, token))
    far = token_signed_by(key, **({"iat": now - 960, "exp": now - 60} if skew == "exp" else {"iat": now + 60}))
    assert_invalid_token(call_notes(lenient, far))


def test_the_audience_defaults_to_the_issuer_and_can_be_set(requests_mock, key):
    requests_mock.get(JWKS_URI, json=jwks_of(key))
    token = token_signed_by(key, aud="https://notes.example")
    assert_invalid_token(call_notes(api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI))), token))
    api = api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI), audience="https://notes.example"))
    assert call_notes(api, token).status_code == 200


def online_api_against_mocks(requests_mock, key, answer=None, **mock) -> Flask:
    requests_mock.get(JWKS_URI, json=jwks_of(key))
    requests_mock.post(INTROSPECT_URI, **({"json": answer} if answer is not None else mock))
    introspection = IntrospectionValidator(INTROSPECT_URI, "client_rs", "secret")
    return api_with(RemoteTokenValidator(ISSUER, RemoteJWKS(JWKS_URI), introspection=introspection))


def active_answer(key: RSAKey, **changes) -> dict:
    return {"active": True, "token_type": "Bearer", "scope": "profile", "username": "alice",
            "jti": f"jti-{key.kid}", **changes}


def test_the_introspection_answer_is_current_token_introspection(requests_mock, key):
    api = online_api_against_mocks(requests_mock, key, active_answer(key))
    response = call_notes(api, token_signed_by(key))
    assert response.status_code == 200
    assert response.json["username"] == "alice"
    [call] = [request for request in requests_mock.request_history if request.method == "POST"]
    assert call.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("answer", [
    {"active": False},
    {"active": "true", "token_type": "Bearer", "jti": "jti-{kid}"},
    {"active": True, "token_type": "Bearer", "jti": "jti-of-another-token"},
    {"active": True, "token_type": "Bearer"},
    {"active": True, "token_type": "refresh_token", "jti": "jti-{kid}"},
], ids=["inactive", "active is not the JSON true", "another token's jti", "no jti", "a refresh token"])
def test_an_introspection_answer_that_does_not_confirm_this_very_token_is_invalid_token(requests_mock, key, answer):
    answer = {name: value.format(kid=key.kid) if isinstance(value, str) else value for name, value in answer.items()}
    api = online_api_against_mocks(requests_mock, key, answer)
    assert_invalid_token(call_notes(api, token_signed_by(key)))


@pytest.mark.parametrize("mock", [
    {"exc": requests.ConnectionError},
    {"exc": requests.Timeout},
    {"status_code": 500, "text": "oops"},
    {"status_code": 401, "json": {"error": "invalid_client"}},
    {"status_code": 200, "text": "not json"},
    {"status_code": 200, "json": ["active", True]},
], ids=["unreachable", "timeout", "500", "our credentials refused", "not JSON", "not a JSON object"])
def test_an_introspection_that_fails_is_503_never_invalid_token(requests_mock, key, mock):
    assert_unavailable(call_notes(online_api_against_mocks(requests_mock, key, **mock), token_signed_by(key)))


def test_introspection_is_not_asked_about_a_token_that_fails_offline(requests_mock, key):
    api = online_api_against_mocks(requests_mock, key, active_answer(key))
    assert_invalid_token(call_notes(api, token_signed_by(key, exp=int(time.time()) - 100)))
    assert not [request for request in requests_mock.request_history if request.method == "POST"]
