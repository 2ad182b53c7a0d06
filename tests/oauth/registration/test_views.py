"""oauth/registration/views.py: the registration endpoint (RFC 7591) and each registered client's
configuration endpoint (RFC 7592) before Authlib's endpoints see a request: both are 404 while
registration is off, other methods are 405 naming the allowed ones, and a body must be a small JSON
object (400 ``invalid_client_metadata``, nothing stored or changed) before any token is looked at.
What the endpoints answer is test_endpoints.py."""

from __future__ import annotations

import json

import pytest

from authserver.accounts import registration
from authserver.oauth.registration.client_metadata import checked_metadata
from tests.conftest import in_unit_of_work
from tests.oauth.registration.helpers import MCP_CLIENT
from tests.oauth.registration.helpers import OPEN
from tests.oauth.registration.helpers import REGISTER
from tests.oauth.registration.helpers import client_count
from tests.oauth.registration.helpers import configuration
from tests.oauth.registration.helpers import register


@pytest.fixture
def settings_overrides():
    return OPEN


# -- registration off ----------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{}], indirect=False)
def test_off_by_default_the_endpoint_is_not_there_and_not_in_the_metadata(app, client, settings_overrides):
    assert register(client).status_code == 404
    assert "registration_endpoint" not in client.get("/.well-known/oauth-authorization-server").json
    assert client_count(app) == 0


@pytest.mark.parametrize("settings_overrides", [{}], indirect=False)
def test_off_a_clients_configuration_endpoint_is_not_there_either_and_the_client_stays(app, client, issuer,
                                                                                       settings_overrides):
    """A client that registered while registration was on: the operator has turned it off since."""
    def register_before(services):
        registered, _, access_token = registration.register(
            services, checked_metadata(MCP_CLIENT, services.settings), None)
        return {"client_id": registered.client_id, "registration_access_token": access_token,
                "registration_client_uri": f"{issuer}{REGISTER}/{registered.client_id}"}

    registered = in_unit_of_work(app, register_before)
    for method in ("get", "put", "delete", "patch"):
        response = configuration(client, registered, method, json={**MCP_CLIENT, "client_id": registered["client_id"]})
        assert response.status_code == 404, (method, response.text)
        assert response.json["error"] == "not_found"
    assert client_count(app) == 1


# -- methods -------------------------------------------------------------------------------------
def test_other_methods_are_405(client):
    response = client.get(REGISTER)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_the_configuration_endpoint_takes_get_put_and_delete_only(client):
    registered = register(client).json
    for method in ("post", "patch", "options"):
        response = configuration(client, registered, method, json={**MCP_CLIENT, "client_id": registered["client_id"]})
        assert response.status_code == 405, (method, response.text)
        assert response.headers["Allow"] == "GET, PUT, DELETE" and response.json["error"] == "invalid_request"
    assert configuration(client, registered).json["client_name"] == "Claude"  # still there, unchanged


# -- the body ------------------------------------------------------------------------------------
NOT_A_SMALL_JSON_OBJECT = [
    (b"client_name=x", "application/x-www-form-urlencoded"),
    (b"{not json", "application/json"),
    (b"[]", "application/json"),
    (json.dumps(MCP_CLIENT).encode(), "text/plain"),
    (json.dumps({**MCP_CLIENT, "software_id": "x" * 9000}).encode(), "application/json"),
]
BODY_IDS = ["a form", "broken JSON", "an array", "JSON as text/plain", "over the size limit"]


@pytest.mark.parametrize("body, content_type", NOT_A_SMALL_JSON_OBJECT, ids=BODY_IDS)
def test_a_body_that_is_not_a_small_json_object_is_invalid_client_metadata(app, client, body, content_type):
    response = client.post(REGISTER, data=body, content_type=content_type)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    assert client_count(app) == 0


@pytest.mark.parametrize("body, content_type", NOT_A_SMALL_JSON_OBJECT, ids=BODY_IDS)
def test_an_update_whose_body_is_not_a_small_json_object_is_invalid_client_metadata_and_changes_nothing(
        client, body, content_type):
    registered = register(client).json
    response = configuration(client, registered, "put", data=body, content_type=content_type)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    after = configuration(client, registered).json
    assert (after["client_name"], after["redirect_uris"]) == ("Claude", MCP_CLIENT["redirect_uris"])


@pytest.mark.parametrize("settings_overrides", [{"client_registration": "token"}], indirect=False)
def test_a_bad_body_is_refused_as_such_before_the_initial_access_token_is_looked_at(app, client, settings_overrides):
    response = client.post(REGISTER, data=b"[]", content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    assert register(client).status_code == 401  # a good body without a token: the token is what is wrong
    assert client_count(app) == 0


def test_a_body_over_the_server_wide_limit_is_413(app, client):
    response = client.post(REGISTER, data=b"{" + b" " * 70_000 + b"}", content_type="application/json")
    assert response.status_code == 413
    assert client_count(app) == 0
