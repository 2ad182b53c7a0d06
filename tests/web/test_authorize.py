"""The authorization endpoint's page for clients that registered themselves (RFC 7591): the consent page
every time, saying so; a registered loopback redirect URI matching on any port at the authorization and
token endpoints (RFC 8252 §7.3); the sessions console marking such a client. (The code flow itself:
tests/oauth/grants/test_authorization_code.py.)"""

from __future__ import annotations

import pytest

from tests.code_flow_helpers import assert_error_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import redirect_params
from tests.code_flow_helpers import signed_in
from tests.conftest import RegisteredClient
from tests.conftest import refresh

LOOPBACK = "http://127.0.0.1/callback"


@pytest.fixture
def settings_overrides():
    return {"client_registration": "open"}


@pytest.fixture
def agent(client, registered):
    """A public client that registered itself, as an MCP client does (alice exists: ``registered``)."""
    response = client.post("/oauth/register", json={
        "client_name": "Cursor", "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile"})
    assert response.status_code == 201, response.text
    return RegisteredClient(response.json["client_id"], None, "none")


def authorize(http, agent, verifier, redirect_uri, **extra):
    return http.get(authorize_url(agent.client_id, redirect_uri=redirect_uri, scope="openid profile",
                                  challenge=verifier, **extra))


def test_rfc8252_s7_3_a_self_registered_native_client_uses_any_loopback_port_end_to_end(app, agent):
    http = signed_in(app)
    for port in (50001, 61234):
        redirect_uri = f"http://127.0.0.1:{port}/callback"
        verifier = pkce()
        page = consent_page(authorize(http, agent, verifier, redirect_uri))
        code = redirect_params(decide(http, page, "allow"), redirect_uri)["code"]
        # The exchange repeats the port the authorization request used (RFC 6749 §4.1.3)…
        assert exchange(http, agent, code, verifier, redirect_uri=LOOPBACK).json["error"] == "invalid_grant"
    verifier = pkce()
    code = redirect_params(decide(http, consent_page(authorize(http, agent, verifier, "http://127.0.0.1:7/callback")),
                                  "allow"), "http://127.0.0.1:7/callback")["code"]
    response = exchange(http, agent, code, verifier, redirect_uri="http://127.0.0.1:7/callback")
    assert response.status_code == 200, response.text
    assert refresh(http, agent, response.json["refresh_token"]).status_code == 200


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:50001/callback/x", "http://localhost:50001/callback",
                                          "https://127.0.0.1:50001/callback", "http://127.0.0.1:50001/callback?a=b"])
def test_only_the_port_of_a_loopback_redirect_uri_may_differ(app, agent, redirect_uri):
    response = authorize(signed_in(app), agent, pkce(), redirect_uri)
    assert response.status_code == 400 and "Location" not in response.headers


def test_a_self_registered_client_gets_the_consent_page_every_time_naming_it_so(app, agent):
    http = signed_in(app)
    page = consent_page(authorize(http, agent, pkce(), LOOPBACK))
    assert "Cursor wants to:" in page.text and "This app is self-registered" in page.text
    decide(http, page, "allow")
    # Allowed before, same scopes: asked again all the same (anyone may register a client named anything).
    assert "This app is self-registered" in consent_page(authorize(http, agent, pkce(), LOOPBACK)).text
    assert_error_redirect(app, authorize(http, agent, pkce(), LOOPBACK, prompt="none"), "consent_required",
                          redirect_uri=LOOPBACK)


def test_an_operators_client_that_was_allowed_before_is_not_asked_again(app, factory, registered):
    notes = code_client(factory, name="Notes", auth_method="none", redirect_uris=(LOOPBACK,))
    http = signed_in(app)
    page = consent_page(http.get(authorize_url(notes.client_id, redirect_uri=LOOPBACK, challenge=pkce())))
    assert "self-registered" not in page.text
    decide(http, page, "allow")
    assert http.get(authorize_url(notes.client_id, redirect_uri=LOOPBACK, challenge=pkce())).status_code == 302


def test_the_sessions_console_marks_a_self_registered_clients_sessions(app, factory, agent):
    http = signed_in(app)
    verifier = pkce()
    code = redirect_params(decide(http, consent_page(authorize(http, agent, verifier, LOOPBACK)), "allow"),
                           LOOPBACK)["code"]
    assert exchange(http, agent, code, verifier, redirect_uri=LOOPBACK).status_code == 200
    factory.user("root", admin=True)
    console = signed_in(app, "root")
    html = console.get("/console?username=alice").text
    assert "via Cursor" in html and "Self-registered" in html
