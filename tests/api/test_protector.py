"""authserver's own API protector, in process (``authserver/api/protector.py``, RFC 6750): only a
live access token of ours reaches the view, with its device session."""

import pytest

from authserver.accounts import users
from authserver.store.database import db
from tests.conftest import password_login
from tests.conftest import refresh
from tests.token_helpers import FORGERS
from tests.token_helpers import NO_BEARER_TOKEN
from tests.token_helpers import PROTECTED
from tests.token_helpers import add_protected_route
from tests.token_helpers import assert_invalid_token
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import forger_id
from tests.token_helpers import revoke

SESSIONS_API = "/api/sessions"


@pytest.fixture
def app(app):
    add_protected_route(app)
    return app


@pytest.fixture
def registered(factory):
    factory.user()
    return factory.client(scope="profile email sessions")


@pytest.fixture
def tokens(client, registered):
    response = password_login(client, registered, scope="profile sessions")
    assert response.status_code == 200, response.json
    return response.json


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
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="admin")
        db.session.commit()
    assert_invalid_token(client.get(PROTECTED, headers=bearer(tokens["access_token"])))


@pytest.mark.parametrize("forger", FORGERS, ids=forger_id)
@pytest.mark.parametrize("path", [PROTECTED, SESSIONS_API])
def test_rfc6750_3_1_a_forged_or_expired_token_is_invalid_token(app, client, tokens, path, forger):
    # The genuine token passes, so the refusal is the forgery's doing, not the endpoint's.
    assert client.get(path, headers=bearer(tokens["access_token"])).status_code == 200
    assert_invalid_token(client.get(path, headers=bearer(forger(app, tokens["access_token"]))))


@pytest.mark.parametrize("authorization", NO_BEARER_TOKEN.values(), ids=NO_BEARER_TOKEN.keys())
def test_rfc6750_3_1_a_request_without_a_bearer_token_is_refused_with_401(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get(PROTECTED, headers=headers)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.lower().startswith("bearer")  # scheme names ignore case
    assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no token was sent
