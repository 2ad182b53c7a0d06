"""``authserver_resource.mcp``: the MCP SDK's ``TokenVerifier`` backed by authserver_resource's checks, against
a live authserver on both databases (the whole SDK end to end is ``tests/conformance/test_mcp.py``)."""

from __future__ import annotations

import anyio
import pytest

from authserver.accounts import resources
from authserver.store.database import db
from authserver_resource.mcp import mcp_auth
from tests.conftest import password_login

MCP = "https://mcp.example/mcp"
OTHER = "https://other.example/api"


@pytest.fixture
def agent(app, factory):
    with app.app_context():
        now = app.extensions["authserver"].clock.now()
        resources.register_resource(MCP, "Notes (MCP)", "read", now)
        resources.register_resource(OTHER, None, None, now)
        db.session.commit()
    factory.user()
    return factory.client(scope="profile read")


@pytest.fixture
def verifier_and_settings(live_server, issuer):
    return mcp_auth(issuer=issuer, resource=MCP, scopes=["read"], jwks_uri=live_server + "/oauth/jwks")


def test_the_settings_name_authserver_and_the_resource_and_check_the_tokens_resource(verifier_and_settings, issuer):
    _, settings = verifier_and_settings
    assert str(settings.issuer_url).rstrip("/") == issuer and str(settings.resource_server_url) == MCP
    assert settings.required_scopes == ["read"] and settings.validate_token_resource is True


def test_a_token_for_the_mcp_server_is_verified_with_its_user_scopes_and_resource(client, agent, verifier_and_settings):
    verifier, _ = verifier_and_settings
    token = password_login(client, agent, resource=MCP).json["access_token"]
    verified = anyio.run(verifier.verify_token, token)
    assert verified is not None
    assert verified.resource == MCP and verified.scopes == ["read"] and verified.client_id == agent.client_id
    assert verified.subject == verified.claims["sub"] and verified.expires_at == verified.claims["exp"]


@pytest.mark.parametrize("asked", [None, OTHER], ids=["authserver's own audience", "another resource"])
def test_a_token_whose_aud_does_not_hold_the_mcp_server_is_refused(client, agent, verifier_and_settings, asked):
    verifier, _ = verifier_and_settings
    extra = {} if asked is None else {"resource": asked}
    token = password_login(client, agent, **extra).json["access_token"]
    assert anyio.run(verifier.verify_token, token) is None
    assert anyio.run(verifier.verify_token, "not-a-jwt") is None
