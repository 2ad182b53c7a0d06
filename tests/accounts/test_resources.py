"""Protected resources (RFC 8707 resource indicators, ``authserver/accounts/resources.py``), over HTTP on
both databases: ``resource`` at the authorization endpoint and on every grant gives ``aud`` = the
resource(s) and only the scopes they allow; the grant remembers them (code, device authorization,
session) and a later request may name any of them, never another; an unregistered, relative or
fragment resource is ``invalid_target``; without ``resource`` nothing changes."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from authserver.accounts import resources
from authserver.errors import AccountError
from authserver.store.database import db
from tests.code_flow_helpers import assert_code_redirect
from tests.code_flow_helpers import assert_error_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import signed_in
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.conftest import token_request
from tests.device_helpers import decide as decide_device
from tests.device_helpers import device_client
from tests.device_helpers import enter_code
from tests.device_helpers import poll
from tests.device_helpers import signed_in_browser
from tests.device_helpers import start
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import introspect

NOTES = "https://notes.example/api"
MCP = "https://mcp.example/mcp"
OPEN = "https://open.example/"  # registered without --scope: no limit beyond the client's
UNREGISTERED = "https://elsewhere.example/api"
BAD_TARGETS = {
    "unregistered": UNREGISTERED,
    "relative": "/api",
    "no scheme": "notes.example/api",
    "fragment": NOTES + "#frag",
    "registered plus fragment": "https://notes.example/api#",
}


@pytest.fixture
def registered_resources(app):
    with app.app_context():
        now = app.extensions["authserver"].clock.now()
        resources.register_resource(NOTES, "Notes API", "profile email", now)
        resources.register_resource(MCP, "Notes MCP server", "profile read", now)
        resources.register_resource(OPEN, None, None, now)
        db.session.commit()


@pytest.fixture
def app_client(factory, registered_resources):
    factory.user()
    return factory.client(scope="profile email read sessions",
                          grant_types=("password", "refresh_token", "client_credentials"))


def for_resources(url: str, *uris: str) -> str:
    """An authorization request URL with one ``resource`` parameter per URI."""
    return url + "&" + urlencode({"resource": list(uris)}, doseq=True)


def assert_invalid_target(response):
    assert response.status_code == 400, response.text
    assert response.json["error"] == "invalid_target"
    assert response.headers["Cache-Control"] == "no-store"


def granted(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json


# -- registering them -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["/api", "notes.example/api", NOTES + "#x", "ftp://files.example/", "https://",
                                 "https://a b.example/", ""])
def test_a_resource_is_registered_only_as_an_absolute_http_uri_without_fragment(app, uri):
    with app.app_context(), pytest.raises(AccountError):
        resources.register_resource(uri, None, None, app.extensions["authserver"].clock.now())


def test_a_resource_is_registered_once(app, registered_resources):
    with app.app_context(), pytest.raises(AccountError, match="already registered"):
        resources.register_resource(NOTES, None, None, app.extensions["authserver"].clock.now())


# -- password and client credentials -----------------------------------------------------------------------------
def test_rfc8707_2_a_token_asked_for_a_resource_has_it_as_aud_and_only_its_scopes(client, app_client):
    token = granted(password_login(client, app_client, resource=MCP))
    claims = claims_of(token["access_token"])
    assert claims["aud"] == MCP
    assert token["scope"] == claims["scope"] == "profile read"  # the client's default ∩ what MCP allows


def test_without_resource_aud_is_the_servers_own(app, client, app_client):
    token = granted(password_login(client, app_client))
    assert claims_of(token["access_token"])["aud"] == app.extensions["authserver"].settings.token_audience
    assert token["scope"] == "profile email read sessions"


def test_several_resources_give_aud_as_a_list_in_order_and_only_scopes_all_allow(client, app_client):
    token = granted(password_login(client, app_client, resource=[NOTES, MCP, NOTES]))
    claims = claims_of(token["access_token"])
    assert claims["aud"] == [NOTES, MCP]
    assert claims["scope"] == "profile"  # NOTES allows profile email, MCP profile read


def test_a_resource_without_a_scope_limit_leaves_the_clients_scopes(client, app_client):
    token = granted(password_login(client, app_client, resource=OPEN))
    assert claims_of(token["access_token"])["aud"] == OPEN
    assert token["scope"] == "profile email read sessions"


def test_asking_for_a_scope_the_resource_does_not_allow_is_invalid_scope(client, app_client):
    response = password_login(client, app_client, resource=MCP, scope="profile email")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope", response.text


@pytest.mark.parametrize("target", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
@pytest.mark.parametrize("grant", ["password", "client_credentials"])
def test_rfc8707_2_an_unregistered_relative_or_fragment_resource_is_invalid_target(client, app_client, grant, target):
    form = {"grant_type": grant, "resource": target}
    if grant == "password":
        form.update(username="alice", password=PASSWORD)
    assert_invalid_target(token_request(client, app_client, **form))
    # One bad resource among good ones spoils the request too.
    assert_invalid_target(token_request(client, app_client, **{**form, "resource": [NOTES, target]}))


def test_a_client_credentials_token_for_a_resource_has_it_as_aud(client, app_client):
    token = granted(token_request(client, app_client, grant_type="client_credentials", resource=NOTES))
    claims = claims_of(token["access_token"])
    assert claims["aud"] == NOTES and claims["sub"] == app_client.client_id and "sid" not in claims
    assert token["scope"] == "profile email"


def test_only_resource_may_repeat_at_the_token_endpoint(client, app_client):
    response = token_request(client, app_client, grant_type="password", username="alice",
                             password=[PASSWORD] * 2, resource=[NOTES, MCP])
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert "password" in response.json["error_description"]


# -- refresh: narrowing to what the grant had ---------------------------------------------------------------------
def test_a_refresh_may_name_any_resource_the_grant_had_and_keeps_all_of_them(client, app_client):
    first = granted(password_login(client, app_client, resource=[NOTES, MCP]))
    narrowed = granted(refresh(client, app_client, first["refresh_token"], resource=MCP))
    assert claims_of(narrowed["access_token"])["aud"] == MCP
    assert narrowed["scope"] == "profile"
    # Narrowing is for that access token only: the next refresh is for all of the grant's resources.
    again = granted(refresh(client, app_client, narrowed["refresh_token"]))
    assert claims_of(again["access_token"])["aud"] == [NOTES, MCP]


@pytest.mark.parametrize("target", [UNREGISTERED, OPEN, "/api", NOTES + "#x"])
def test_rfc8707_a_refresh_naming_a_resource_the_grant_never_had_is_invalid_target_and_spends_nothing(
        client, app_client, target):
    first = granted(password_login(client, app_client, resource=NOTES))
    assert_invalid_target(refresh(client, app_client, first["refresh_token"], resource=target))
    assert_invalid_target(refresh(client, app_client, first["refresh_token"], resource=[NOTES, target]))
    # The token was not spent: it still rotates, for the grant's resource.
    successor = granted(refresh(client, app_client, first["refresh_token"]))
    assert claims_of(successor["access_token"])["aud"] == NOTES


def test_a_refresh_of_a_grant_without_resources_may_not_name_one(app, client, app_client):
    first = granted(password_login(client, app_client))
    assert_invalid_target(refresh(client, app_client, first["refresh_token"], resource=NOTES))
    successor = granted(refresh(client, app_client, first["refresh_token"]))
    assert claims_of(successor["access_token"])["aud"] == app.extensions["authserver"].settings.token_audience


# -- the authorization code flow ----------------------------------------------------------------------------------
@pytest.fixture
def zapier(factory, registered_resources):
    factory.user()
    return code_client(factory, scope="profile email read")


def test_rfc8707_the_consent_page_names_the_resources_and_the_code_remembers_them(app, zapier):
    browser, verifier = signed_in(app), pkce()
    page = browser.get(for_resources(authorize_url(zapier.client_id, scope=None, challenge=verifier), MCP, NOTES))
    assert page.status_code == 200, page.text
    text = consent_page(page).text
    assert "Notes MCP server" in text and "Notes API" in text and MCP in text
    code = assert_code_redirect(app, decide(browser, consent_page(page), "allow"))
    # The exchange may name one of them (the code is then spent); the session keeps both.
    token = granted(exchange(browser, zapier, code, verifier, resource=MCP))
    assert claims_of(token["access_token"])["aud"] == MCP
    assert token["scope"] == "profile"  # the client's default ∩ both resources' scopes
    again = granted(refresh(browser, zapier, token["refresh_token"]))
    assert claims_of(again["access_token"])["aud"] == [MCP, NOTES]


def test_a_code_exchange_naming_a_resource_the_user_did_not_authorize_is_invalid_target_and_spends_nothing(
        app, zapier):
    browser, verifier = signed_in(app), pkce()
    page = browser.get(for_resources(authorize_url(zapier.client_id, scope="profile", challenge=verifier), NOTES))
    code = assert_code_redirect(app, decide(browser, consent_page(page), "allow"))
    assert_invalid_target(exchange(browser, zapier, code, verifier, resource=MCP))
    token = granted(exchange(browser, zapier, code, verifier))
    assert claims_of(token["access_token"])["aud"] == NOTES


@pytest.mark.parametrize("target", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
def test_rfc8707_2_an_unregistered_relative_or_fragment_resource_is_sent_back_as_invalid_target(app, zapier, target):
    browser = signed_in(app)
    response = browser.get(for_resources(authorize_url(zapier.client_id, challenge=pkce()), NOTES, target))
    assert_error_redirect(app, response, "invalid_target")


def test_only_resource_may_repeat_at_the_authorization_endpoint(app, zapier):
    browser = signed_in(app)
    url = for_resources(authorize_url(zapier.client_id, challenge=pkce(), scope="profile"), NOTES)
    assert browser.get(for_resources(url, MCP)).status_code == 200  # the consent page
    for repeated in ("nonce=n-1&nonce=n-1", "code_challenge_method=S256", "scope=profile",
                     "prompt=consent&prompt=login"):
        response = browser.get(url + "&" + repeated)
        assert response.status_code == 400, (repeated, response.status_code)  # an error page, never a redirect


# -- the device flow ----------------------------------------------------------------------------------------------
def test_a_device_asking_for_a_resource_gets_it_as_aud_and_may_name_only_it(app, client, factory,
                                                                            registered_resources):
    factory.user()
    tv = device_client(factory, scope="profile read")
    assert_invalid_target(start(client, tv, resource=UNREGISTERED))
    started = start(client, tv, resource=MCP).json
    browser = signed_in_browser(app)
    confirm = enter_code(browser, started["user_code"])
    assert confirm.status_code == 200 and "Notes MCP server" in confirm.text and MCP in confirm.text
    assert decide_device(browser, started["user_code"]).status_code == 200
    token = granted(poll(client, tv, started["device_code"]))
    assert claims_of(token["access_token"])["aud"] == MCP and token["scope"] == "profile read"
    assert_invalid_target(refresh(client, tv, token["refresh_token"], resource=NOTES))
    assert claims_of(granted(refresh(client, tv, token["refresh_token"], resource=MCP))["access_token"])["aud"] == MCP


# -- introspection and the server's own APIs ------------------------------------------------------------------------
def test_introspection_reports_the_resources_as_aud(client, app_client, introspector):
    one = granted(password_login(client, app_client, resource=MCP))["access_token"]
    two = granted(password_login(client, app_client, resource=[MCP, NOTES]))["access_token"]
    assert introspect(client, introspector, one).json["aud"] == MCP
    answer = introspect(client, introspector, two).json
    assert answer["active"] is True and answer["aud"] == [MCP, NOTES]


def test_a_token_for_a_resource_is_not_good_at_the_servers_own_apis(client, app_client):
    own = granted(password_login(client, app_client, scope="profile sessions"))["access_token"]
    assert client.get("/api/me", headers=bearer(own)).status_code == 200
    resource_token = granted(password_login(client, app_client, resource=OPEN))["access_token"]
    response = client.get("/api/me", headers=bearer(resource_token))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert client.get("/api/sessions", headers=bearer(resource_token)).status_code == 401
