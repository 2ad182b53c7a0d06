"""What every grant's answer shares (``oauth/grants/base.py``): the same token response (no-store, a
Bearer token, its lifetime, the scope always said) from every grant, and a refresh token only for a
client registered for the refresh grant, whatever grant opened the session."""

from __future__ import annotations

import pytest

from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.conftest import password_login
from tests.conftest import token_request


def assert_token_answer(response, scope: str, ttl: int) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == ttl and body["scope"] == scope
    return body


@pytest.mark.parametrize("grant_types", [("password", "refresh_token"), ("password",)])
def test_the_password_grant_gives_a_refresh_token_only_with_the_refresh_grant(app, client, factory, grant_types):
    factory.user()
    registered = factory.client(grant_types=grant_types)
    ttl = app.extensions["authserver"].settings.access_token_ttl_seconds
    body = assert_token_answer(password_login(client, registered, scope="email"), "email", ttl)
    assert ("refresh_token" in body) is ("refresh_token" in grant_types)


@pytest.mark.parametrize("grant_types", [("authorization_code", "refresh_token"), ("authorization_code",)])
def test_the_code_grant_gives_a_refresh_token_only_with_the_refresh_grant(app, factory, grant_types):
    factory.user()
    registered = code_client(factory, grant_types=grant_types)
    body = connect(app, registered, scope="profile")
    assert body["token_type"] == "Bearer" and body["scope"] == "profile"
    assert ("refresh_token" in body) is ("refresh_token" in grant_types)


def test_a_clients_own_token_has_the_same_answer_and_no_refresh_token(app, client, factory):
    backend = factory.client(name="backend", grant_types=("client_credentials",), scope="read")
    ttl = app.extensions["authserver"].settings.access_token_ttl_seconds
    body = assert_token_answer(token_request(client, backend, grant_type="client_credentials"), "read", ttl)
    assert "refresh_token" not in body
