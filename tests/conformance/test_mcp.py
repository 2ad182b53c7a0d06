"""The official MCP Python SDK (PyPI ``mcp``) end to end, on both databases: an MCP server (``MCPServer``,
formerly FastMCP, streamable HTTP under uvicorn on a loopback port) protected through
``authserver_resource.mcp`` (the README's example), and the SDK's own OAuth client
(``OAuthClientProvider``) starting with no credentials.

The client gets the 401, follows ``resource_metadata`` to the Protected Resource Metadata (RFC 9728),
then authserver's metadata (RFC 8414), registers itself (RFC 7591), walks the code flow with PKCE and
``resource`` (RFC 8707) through the real sign-in and consent pages (this test is the user: it signs in
and presses Allow over HTTP), and calls a tool with a token whose ``aud`` is the MCP server. With its
clock moved past the token's lifetime it refreshes; when the user disconnects it under Connected apps,
its next call is refused with 401 (the server introspects) and its refresh token is dead.
"""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp.client.auth.oauth2 as sdk_oauth2
import mcp.shared.auth_utils as sdk_auth_utils
import pytest
import requests
import uvicorn
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import AuthorizationCodeResult
from mcp.shared.auth import OAuthClientMetadata
from werkzeug.serving import make_server

from authserver.accounts import resources
from authserver.store.database import db
from authserver_resource import IntrospectionValidator
from authserver_resource.mcp import mcp_auth
from tests.conftest import PASSWORD
from tests.conftest import free_port
from tests.conftest import password_login
from tests.token_helpers import bearer
from tests.token_helpers import claims_of

CALLBACK = "http://127.0.0.1:33418/callback"  # a native agent's loopback redirect URI; never served here
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ACCESS_TTL = 300


@pytest.fixture
def auth_port():
    return free_port()


@pytest.fixture
def settings_overrides(auth_port):
    # The issuer is the URL the server really answers on: the agent discovers everything from it.
    return {"issuer": f"http://127.0.0.1:{auth_port}", "client_registration": "open",
            "access_token_ttl_seconds": ACCESS_TTL}


@pytest.fixture
def auth_server(app, auth_port):
    server = make_server("127.0.0.1", auth_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{auth_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def alice(factory):
    """alice, and her own app with the `sessions` scope (what she disconnects agents with)."""
    factory.user()
    return factory.client(name="Alice's phone", scope="profile sessions", first_party=True)


def notes_server(issuer: str, resource: str, introspector) -> MCPServer:
    """The README's MCP server: ~20 lines, authserver's checks through authserver_resource.mcp."""
    introspection = IntrospectionValidator(issuer + "/oauth/introspect", introspector.client_id,
                                           introspector.client_secret)
    verifier, auth = mcp_auth(issuer=issuer, resource=resource, scopes=["read"], introspection=introspection)
    server = MCPServer("Notes", token_verifier=verifier, auth=auth)

    @server.tool()
    def whoami() -> str:
        """The user the agent acts for."""
        return get_access_token().subject

    return server


@pytest.fixture
def mcp_url(app, auth_server, introspector):
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    with app.app_context():  # what the operator does: `authserver resources add URL --name … --scope read`
        resources.register_resource(resource, "Notes (MCP)", "read", app.extensions["authserver"].clock.now())
        db.session.commit()
    asgi = notes_server(auth_server, resource, introspector).streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the MCP server did not start"
        time.sleep(0.01)  # waiting for a server thread to bind, not for time to pass
    yield resource
    server.should_exit = True
    thread.join(timeout=10)


class MemoryStorage:
    """The SDK's ``TokenStorage``: what an agent keeps between runs."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class User:
    """alice in her browser: signs in, reads the consent page, presses Allow; the redirect to the
    agent's loopback URI is where the SDK's callback handler picks the code up."""

    def __init__(self, issuer: str):
        self.issuer = issuer
        self.browser = requests.Session()
        self.consent_pages: list[str] = []
        self.redirect: dict | None = None
        self.gone = False  # after disconnecting the agent, alice approves nothing more

    def sign_in(self):
        page = self.browser.get(self.issuer + "/signin", timeout=30)
        response = self.browser.post(self.issuer + "/signin", data={
            "username": "alice", "password": PASSWORD, "csrf_token": CSRF.search(page.text).group(1)},
            allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text

    async def redirect_handler(self, url: str) -> None:
        if self.gone:
            raise PermissionError("alice disconnected this agent and approves nothing more")
        page = self.browser.get(url, allow_redirects=False, timeout=30)
        assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
        self.consent_pages.append(page.text)
        answer = self.browser.post(url, data={"csrf_token": CSRF.search(page.text).group(1), "decision": "allow"},
                                   allow_redirects=False, timeout=30)
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        assert location.startswith(CALLBACK + "?"), location
        self.redirect = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}

    async def callback_handler(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=self.redirect["code"], state=self.redirect["state"],
                                       iss=self.redirect.get("iss"))


class AgentClock:
    """The agent's idea of the time (the SDK's ``time`` in its OAuth module): moved, never slept."""

    def __init__(self):
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


class Exchanges:
    """Every HTTP exchange the agent makes, discovery and OAuth included (httpx event hooks)."""

    def __init__(self):
        self.seen: list[tuple[str, str, int]] = []

    async def record(self, response):
        self.seen.append((response.request.method, response.request.url.path, response.status_code))

    def since(self, start: int) -> list[tuple[str, str, int]]:
        return self.seen[start:]


async def call_tool(url: str, provider, exchanges: Exchanges) -> str:
    async with httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [exchanges.record]}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool("whoami", {})
                assert not result.is_error, result
                return result.content[0].text


def run(call, *args):
    async def bounded():
        with anyio.fail_after(60):
            return await call(*args)

    return anyio.run(bounded)


def test_an_mcp_agent_discovers_registers_connects_refreshes_and_is_cut_off(app, client, auth_server, mcp_url,
                                                                             alice, monkeypatch):
    user, storage, exchanges, clock = User(auth_server), MemoryStorage(), Exchanges(), AgentClock()
    for module in (sdk_oauth2, sdk_auth_utils):  # where the SDK reads the time for a token's expiry
        monkeypatch.setattr(module, "time", clock)
    user.sign_in()
    provider = OAuthClientProvider(
        server_url=mcp_url, storage=storage, redirect_handler=user.redirect_handler,
        callback_handler=user.callback_handler,
        client_metadata=OAuthClientMetadata(client_name="Notes agent", redirect_uris=[CALLBACK],
                                            grant_types=["authorization_code", "refresh_token"],
                                            response_types=["code"], token_endpoint_auth_method="none"))
    alice_id = claims_of(password_login(client, alice, scope="profile sessions").json["access_token"])["sub"]

    # 1. No credentials: 401 → resource metadata → server metadata → registration → consent → token → tool.
    assert run(call_tool, mcp_url, provider, exchanges) == alice_id
    paths = [(method, path, status) for method, path, status in exchanges.seen]
    assert paths[0] == ("POST", "/mcp", 401)
    assert ("GET", "/.well-known/oauth-protected-resource/mcp", 200) in paths
    assert ("GET", "/.well-known/oauth-authorization-server", 200) in paths
    assert ("POST", "/oauth/register", 201) in paths
    assert ("POST", "/oauth/token", 200) in paths
    assert paths.index(("POST", "/oauth/register", 201)) < paths.index(("POST", "/oauth/token", 200))
    assert paths[-2:] == [("POST", "/mcp", 200), ("DELETE", "/mcp", 200)]  # the tool's call, the session's end
    assert len(user.consent_pages) == 1 and "Notes agent" in user.consent_pages[0], exchanges.seen
    assert "Notes (MCP)" in user.consent_pages[0] and mcp_url in user.consent_pages[0]  # the resource is named
    first = storage.tokens
    claims = claims_of(first.access_token)
    assert claims["aud"] == mcp_url and claims["scope"] == "read"
    assert claims["client_id"] == storage.client_info.client_id

    # 2. The agent's clock passes the token's lifetime: it refreshes (a new refresh token) and calls again.
    clock.offset = ACCESS_TTL + 60
    start = len(exchanges.seen)
    assert run(call_tool, mcp_url, provider, exchanges) == alice_id
    assert exchanges.since(start)[0] == ("POST", "/oauth/token", 200)
    second = storage.tokens
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    assert claims_of(second.access_token)["aud"] == mcp_url
    assert len(user.consent_pages) == 1  # no new consent for a refresh

    # 3. alice disconnects the agent under Connected apps: its next call is refused with 401.
    own = password_login(client, alice, scope="sessions").json["access_token"]
    connected = client.get("/api/consents", headers=bearer(own)).json["consents"]
    assert [app_["client_name"] for app_ in connected] == ["Notes agent"]
    disconnected = client.delete(f"/api/consents/{storage.client_info.client_id}", headers=bearer(own))
    assert disconnected.status_code == 204
    user.gone = True
    start = len(exchanges.seen)
    with pytest.raises(ExceptionGroup) as refused:  # the SDK tries to re-authorize, and alice approves nothing
        run(call_tool, mcp_url, provider, exchanges)
    assert refused.group_contains(PermissionError)
    assert ("POST", "/mcp", 401) in exchanges.since(start)
    dead = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": second.refresh_token,
                                             "client_id": storage.client_info.client_id})
    assert dead.status_code == 400 and dead.json["error"] == "invalid_grant"
