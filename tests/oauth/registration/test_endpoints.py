"""Dynamic client registration (RFC 7591) and its management (RFC 7592) over HTTP: what a registration
answers and stores, every refused metadata (nothing stored), the token mode's initial access token with
its uses counted atomically, the registration access token bound to its client, the per-IP budget. What
the views refuse before the endpoints look at anything (registration off, other methods, a body that is
not a JSON object) is test_views.py; the rules below HTTP are tests/accounts/test_registration.py."""

from __future__ import annotations

import json

import pytest
import requests

from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import SecurityEvent
from tests.code_flow_helpers import connect
from tests.conftest import RegisteredClient
from tests.conftest import at_once
from tests.conftest import refresh
from tests.oauth.registration.helpers import MCP_CLIENT
from tests.oauth.registration.helpers import OPEN
from tests.oauth.registration.helpers import REGISTER
from tests.oauth.registration.helpers import client_count
from tests.oauth.registration.helpers import configuration
from tests.oauth.registration.helpers import register
from tests.token_helpers import bearer
from tests.token_helpers import introspect


@pytest.fixture
def settings_overrides():
    return OPEN


# -- a registration ------------------------------------------------------------------------------
def test_rfc7591_s3_2_1_a_registration_answers_201_with_the_metadata_and_what_was_issued(app, client, issuer):
    response = register(client)
    assert response.status_code == 201, response.text
    body = response.json
    assert body["client_id"].startswith("client_")
    assert body["client_name"] == "Claude"
    assert body["redirect_uris"] == MCP_CLIENT["redirect_uris"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["scope"] == "openid read"
    assert "client_secret" not in body  # a public client
    assert isinstance(body["client_id_issued_at"], int) and body["client_secret_expires_at"] == 0
    assert body["registration_client_uri"] == f"{issuer}/oauth/register/{body['client_id']}"
    assert body["registration_access_token"]
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        stored = db.session.get(Client, body["client_id"])
        assert stored.is_self_registered and not stored.first_party and not stored.can_introspect
        # Secrets are stored only as digests.
        assert body["registration_access_token"] not in (stored.registration_token_digest or "")


def test_a_confidential_registration_gets_a_secret_that_authenticates_stored_as_a_digest(app, client):
    response = register(client, {**MCP_CLIENT, "token_endpoint_auth_method": "client_secret_post",
                                 "client_uri": "https://agent.example", "software_id": "agent",
                                 "software_version": "1"})
    assert response.status_code == 201, response.text
    body = response.json
    assert body["client_secret"] and body["client_uri"] == "https://agent.example" and body["software_id"] == "agent"
    with app.app_context():
        stored = db.session.get(Client, body["client_id"])
        assert stored.secret_digest != body["client_secret"] and stored.check_client_secret(body["client_secret"])


def test_without_scope_the_client_gets_the_registration_scopes(client):
    body = register(client, {"redirect_uris": ["https://agent.example/cb"]}).json
    assert body["scope"] == "openid profile email offline_access read"
    assert body["grant_types"] == ["authorization_code"] and body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_name"] == "agent.example"


# -- bad input: 400, nothing stored ------------------------------------------------------------
BAD_METADATA = [
    ("a non-loopback http redirect URI", {"redirect_uris": ["http://agent.example/cb"]}, "invalid_redirect_uri"),
    ("a fragment", {"redirect_uris": ["https://agent.example/cb#x"]}, "invalid_redirect_uri"),
    ("javascript:", {"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ("data:", {"redirect_uris": ["data:text/html,hi"]}, "invalid_redirect_uri"),
    ("a private-use scheme without a dot", {"redirect_uris": ["myapp:/cb"]}, "invalid_redirect_uri"),
    ("no redirect URI for the code grant", {"redirect_uris": []}, "invalid_redirect_uri"),
    ("the password grant", {"grant_types": ["password"]}, "invalid_client_metadata"),
    ("the client credentials grant", {"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    ("an unknown grant", {"grant_types": ["authorization_code", "implicit"]}, "invalid_client_metadata"),
    ("an unknown auth method", {"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ("a scope outside the list", {"scope": "openid admin"}, "invalid_client_metadata"),
    ("a response type other than code", {"response_types": ["token"]}, "invalid_client_metadata"),
    ("a scope that is not a string", {"scope": ["openid"]}, "invalid_client_metadata"),
    ("redirect_uris that is not an array", {"redirect_uris": "https://agent.example/cb"}, "invalid_client_metadata"),
    ("a name too long", {"client_name": "x" * 201}, "invalid_client_metadata"),
]


@pytest.mark.parametrize("metadata, error", [case[1:] for case in BAD_METADATA], ids=[case[0] for case in BAD_METADATA])
def test_rfc7591_s3_2_2_bad_metadata_is_refused_and_nothing_is_stored(app, client, metadata, error):
    response = register(client, {**MCP_CLIENT, **metadata})
    assert response.status_code == 400, response.text
    assert response.json["error"] == error
    assert client_count(app) == 0


# -- modes -------------------------------------------------------------------------------------
def test_when_on_the_metadata_and_discovery_list_the_registration_endpoint(client, issuer):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        document = client.get(path).json
        assert document["registration_endpoint"] == f"{issuer}/oauth/register"
        assert document["client_id_metadata_document_supported"] is True


class TestTokenMode:
    @pytest.fixture
    def settings_overrides(self):
        return {"client_registration": "token"}

    def token(self, runner, *options):
        result = runner.invoke(args=["clients", "registration-token", *options, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output.splitlines()[-1])["token"]

    def test_without_or_with_a_wrong_initial_access_token_401_and_nothing_stored(self, app, client):
        assert register(client).status_code == 401
        response = register(client, **bearer("reg_not-a-token"))
        assert response.status_code == 401 and response.json["error"] == "invalid_token"
        assert client_count(app) == 0

    def test_a_token_from_the_command_registers_as_many_clients_as_its_uses(self, app, client, runner):
        token = self.token(runner, "--uses", "2")
        with app.app_context():  # stored as a digest only
            assert token not in json.dumps([list(row) for row in db.session.execute(
                db.text("SELECT * FROM registration_tokens")).all()], default=str)
        assert register(client, **bearer(token)).status_code == 201
        assert register(client, **bearer(token)).status_code == 201
        assert register(client, **bearer(token)).status_code == 401
        assert client_count(app) == 2

    def test_bad_metadata_does_not_spend_a_use(self, app, client, runner):
        token = self.token(runner, "--uses", "1")
        assert register(client, {**MCP_CLIENT, "grant_types": ["password"]}, **bearer(token)).status_code == 400
        assert register(client, **bearer(token)).status_code == 201

    def test_an_expired_token_is_refused(self, app, client, runner, clock):
        token = self.token(runner, "--expires-in", "60")
        clock.advance(61)
        assert register(client, **bearer(token)).status_code == 401
        assert client_count(app) == 0

    def test_two_registrations_racing_for_a_one_use_token_exactly_one_succeeds(self, app, runner, live_server):
        token = self.token(runner, "--uses", "1")
        statuses = at_once(2, lambda: requests.post(live_server + REGISTER, json=MCP_CLIENT, headers=bearer(token),
                                                     timeout=30).status_code)
        assert sorted(statuses) == [201, 401]
        assert client_count(app) == 1


# -- RFC 7592 ----------------------------------------------------------------------------------
def test_rfc7592_s2_1_the_registration_access_token_reads_the_client(client):
    registered = register(client).json
    response = configuration(client, registered)
    assert response.status_code == 200, response.text
    assert response.json["client_id"] == registered["client_id"]
    assert response.json["redirect_uris"] == MCP_CLIENT["redirect_uris"]
    assert response.json["registration_access_token"] == registered["registration_access_token"]


def test_rfc7592_s2_another_clients_registration_token_is_401(client):
    alice, bob = register(client).json, register(client).json
    for method in ("get", "put", "delete"):
        response = configuration(client, alice, method, token=bob["registration_access_token"],
                                 json={**MCP_CLIENT, "client_id": alice["client_id"]})
        assert response.status_code == 401, (method, response.text)
        assert response.json["error"] == "invalid_token"
    assert configuration(client, alice, token="nonsense").status_code == 401
    assert configuration(client, alice).status_code == 200  # untouched


def test_rfc7592_s2_2_an_update_replaces_the_metadata(client):
    registered = register(client).json
    update = {**MCP_CLIENT, "client_id": registered["client_id"], "client_name": "Claude Code",
              "redirect_uris": ["http://localhost/cb"]}
    response = configuration(client, registered, "put", json=update)
    assert response.status_code == 200, response.text
    assert response.json["client_name"] == "Claude Code" and response.json["redirect_uris"] == ["http://localhost/cb"]
    assert configuration(client, registered).json["client_name"] == "Claude Code"


def test_an_update_with_bad_metadata_is_refused_and_changes_nothing(client):
    registered = register(client).json
    update = {**MCP_CLIENT, "client_id": registered["client_id"], "redirect_uris": ["http://agent.example/cb"]}
    response = configuration(client, registered, "put", json=update)
    assert response.status_code == 400 and response.json["error"] == "invalid_redirect_uri"
    assert configuration(client, registered).json["redirect_uris"] == MCP_CLIENT["redirect_uris"]


def test_rfc7592_s2_2_an_update_cannot_turn_a_public_client_confidential(client):
    registered = register(client).json
    update = {**MCP_CLIENT, "client_id": registered["client_id"], "token_endpoint_auth_method": "client_secret_basic"}
    response = configuration(client, registered, "put", json=update)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    assert "client_secret" not in response.json
    assert configuration(client, registered).json["token_endpoint_auth_method"] == "none"


def test_rfc7592_s2_3_delete_removes_the_client(app, client):
    registered = register(client).json
    assert configuration(client, registered, "delete").status_code == 204
    assert configuration(client, registered).status_code == 401
    assert client_count(app) == 0


# -- throttling --------------------------------------------------------------------------------
class TestBudget:
    @pytest.fixture
    def settings_overrides(self):
        return {"client_registration": "open", "registration_max_per_ip": 2, "registration_window_seconds": 600}

    def test_registrations_from_one_ip_past_the_budget_are_429_until_the_window_passes(self, app, client, clock):
        assert register(client).status_code == 201
        assert register(client).status_code == 201
        response = register(client)
        assert response.status_code == 429 and response.json["error"] == "temporarily_unavailable"
        assert int(response.headers["Retry-After"]) > 0
        assert client_count(app) == 2
        clock.advance(601)
        assert register(client).status_code == 201
        with app.app_context():
            assert db.session.query(SecurityEvent).filter_by(kind="client_registered").count() == 3


def test_rfc7592_s2_3_deleting_a_client_ends_its_sessions_and_its_tokens_stop_working(app, client, factory,
                                                                                      introspector):
    factory.user()
    registered = register(client, {**MCP_CLIENT, "redirect_uris": ["https://app.example/oauth/callback"]}).json
    agent = RegisteredClient(registered["client_id"], None, "none")
    tokens = connect(app, agent, scope="openid read")
    assert introspect(client, introspector, tokens["access_token"]).json["active"] is True
    assert configuration(client, registered, "delete").status_code == 204
    assert introspect(client, introspector, tokens["access_token"]).json == {"active": False}
    assert refresh(client, agent, tokens["refresh_token"]).status_code == 401  # the client is gone
    with app.app_context():
        assert db.session.query(SecurityEvent).filter_by(kind="session_ended", client_id=agent.client_id).count() == 1
