"""The OAuth endpoints' HTTP views (``oauth/views.py``): each answers only its methods, with a JSON
error and an ``Allow`` header otherwise, and an unexpected failure is a JSON 500 that tells nothing."""

import pytest

from authserver.http import paths
from tests.conftest import password_login
from tests.token_helpers import assert_oauth_error
from tests.token_helpers import assert_token_error


def test_options_is_refused_like_any_other_method(client):
    response = client.options("/oauth/token")
    assert_token_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"



def test_get_is_refused_with_allow_post(client, registered):
    response = client.get("/oauth/token?grant_type=password&username=alice&password=x")
    assert_token_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"



def test_unexpected_failure_is_a_json_500_without_details(app, client, registered, monkeypatch):
    from authserver.tokens import access_tokens

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(access_tokens.AccessTokenGenerator, "get_jwks", explode)
    response = password_login(client, registered)
    assert_token_error(response, 500, "server_error")
    assert "secret internal detail" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [paths.REVOCATION, paths.INTROSPECTION, paths.DEVICE_AUTHORIZATION])
@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_the_other_post_endpoints_refuse_other_methods_as_json(client, path, method):
    response = getattr(client, method)(path)
    assert_oauth_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("path", [paths.JWKS, paths.METADATA, paths.OPENID_CONFIGURATION])
def test_the_public_documents_are_json_and_refuse_writes(client, path):
    assert client.get(path).mimetype == "application/json"
    assert client.post(path).status_code == 405
