"""``authserver_resource`` for a registered resource (RFC 8707): its Protected Resource Metadata (RFC 9728,
``authserver_resource/metadata.py``), the challenges pointing at it, and tokens accepted only when their
``aud`` holds the resource's URI, against a live authserver on both databases."""

from __future__ import annotations

import pytest
from flask import Flask
from flask import jsonify

from authserver.accounts import resources
from authserver.store.database import db
from authserver_resource import current_token
from authserver_resource import resource_protector
from authserver_resource.metadata import metadata_path
from authserver_resource.metadata import metadata_url
from tests.conftest import password_login
from tests.token_helpers import bearer
from tests.token_helpers import claims_of

NOTES = "https://notes.example/api/v1"
OTHER = "https://other.example/api"


@pytest.mark.parametrize(("resource", "path"), [
    ("https://notes.example/api/v1", "/.well-known/oauth-protected-resource/api/v1"),
    ("https://notes.example", "/.well-known/oauth-protected-resource"),
    ("https://notes.example/", "/.well-known/oauth-protected-resource"),
    ("http://127.0.0.1:8080/mcp", "/.well-known/oauth-protected-resource/mcp"),
])
def test_rfc9728_3_1_the_metadata_url_inserts_the_well_known_path_before_the_resources_path(resource, path):
    assert metadata_path(resource) == path
    assert metadata_url(resource).endswith(path) and metadata_url(resource).startswith(resource.split("/")[0])


@pytest.fixture
def registered_api(app, factory):
    with app.app_context():
        now = app.extensions["authserver"].clock.now()
        resources.register_resource(NOTES, "Notes", "profile", now)
        resources.register_resource(OTHER, "Other", None, now)
        db.session.commit()
    factory.user()
    return factory.client(scope="profile email")


@pytest.fixture
def notes_api(live_server, issuer):
    require_oauth = resource_protector(issuer, live_server + "/oauth/jwks", resource=NOTES,
                                       scopes_supported=["profile"])
    api = Flask("notes")
    require_oauth.init_app(api)

    @api.get("/api/v1/notes")
    @require_oauth("profile")
    def notes():
        return jsonify(sub=current_token["sub"], aud=current_token["aud"])

    @api.get("/api/v1/email")
    @require_oauth("email")
    def email():
        return jsonify(ok=True)

    return api.test_client()


CHALLENGE = 'resource_metadata="https://notes.example/.well-known/oauth-protected-resource/api/v1"'


def test_rfc9728_2_the_metadata_names_the_resource_its_server_scopes_and_bearer_methods(notes_api, issuer):
    response = notes_api.get("/.well-known/oauth-protected-resource/api/v1")
    assert response.status_code == 200
    assert response.json == {"resource": NOTES, "authorization_servers": [issuer], "scopes_supported": ["profile"],
                             "bearer_methods_supported": ["header"]}


def test_rfc9728_5_1_a_request_without_a_token_gets_401_pointing_at_the_metadata(notes_api):
    response = notes_api.get("/api/v1/notes")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer " + CHALLENGE


def test_rfc8707_a_token_for_the_resource_is_accepted(client, registered_api, notes_api):
    token = password_login(client, registered_api, resource=NOTES).json["access_token"]
    response = notes_api.get("/api/v1/notes", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json["aud"] == NOTES
    # Several resources: its URI among them is enough.
    token = password_login(client, registered_api, resource=[OTHER, NOTES]).json["access_token"]
    assert notes_api.get("/api/v1/notes", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("asked", [None, OTHER], ids=["authserver's own audience", "another resource"])
def test_rfc8707_a_token_whose_aud_does_not_hold_the_resource_is_invalid_token(client, registered_api, notes_api,
                                                                                asked):
    extra = {} if asked is None else {"resource": asked}
    token = password_login(client, registered_api, scope="profile", **extra).json["access_token"]
    assert NOTES not in str(claims_of(token)["aud"])
    response = notes_api.get("/api/v1/notes", headers=bearer(token))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"') and challenge.endswith(CHALLENGE)


def test_rfc6750_3_a_missing_scope_is_403_naming_it_and_the_metadata(client, registered_api, notes_api):
    token = password_login(client, registered_api, resource=NOTES).json["access_token"]
    response = notes_api.get("/api/v1/email", headers=bearer(token))
    assert response.status_code == 403 and response.json["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert 'scope="email"' in challenge and challenge.endswith(CHALLENGE)


def test_a_resource_and_another_audience_are_refused_together(issuer):
    with pytest.raises(ValueError):
        resource_protector(issuer, issuer + "/oauth/jwks", resource=NOTES, audience=OTHER)
