"""Authlib's OpenID Connect client (its Flask integration, ``conformance/openid_rp.py``, the README's
relying party) against a real ``authserver serve``: discovery, the code flow with PKCE and a nonce
through the real sign-in and consent pages (driven over HTTP as a browser does), the ID token
checked by Authlib, UserInfo, refresh with a new ID token, a dead session refused, and RP-initiated
logout.

The relying party runs on a werkzeug server of its own; one ``requests.Session`` is the browser.
"""

from __future__ import annotations

import re
import secrets
import threading
from html import unescape
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.oidc import discovery
from joserfc.errors import BadSignatureError
from werkzeug.serving import make_server

from conformance.openid_rp import create_relying_party
from tests.conftest import free_port
from tests.served import Served

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with Served(tmp_path_factory.mktemp("authserver"), cookie_secure="false") as server:
        yield server


class RelyingParty:
    """The README's relying party, served on 127.0.0.1 (its cookie named apart from the server's)."""

    def __init__(self, issuer: str, client: dict, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_relying_party(issuer, client["client_id"], client["client_secret"], secrets.token_hex(16))
        self.app.config["SESSION_COOKIE_NAME"] = "relying_party"
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def oauth(self):
        return self.app.extensions["authlib.integrations.flask_client"].authserver

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def relying_party(served):
    port = free_port()
    client = served.create_client("--name", "Authlib relying party", "--scope", "openid profile email",
                                  "--redirect-uri", f"http://127.0.0.1:{port}/callback",
                                  "--post-logout-redirect-uri", f"http://127.0.0.1:{port}/signed-out")
    with RelyingParty(served.url, client, port) as rp:
        yield rp


@pytest.fixture(scope="module")
def alice(served):
    return served.create_user("alice", PASSWORD, "--email", "alice@example.com")


def form_of(page: requests.Response) -> tuple[str, dict]:
    """The page's form: where it posts, and its hidden fields (the CSRF token, `next`)."""
    action = re.search(r'<form method="post" action="([^"]*)"', page.text)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return urljoin(page.url, unescape(action.group(1)) if action else page.url), {
        name: unescape(value) for name, value in fields.items()}


def sign_in_with_authserver(browser: requests.Session, rp: RelyingParty, username="alice") -> requests.Response:
    """A person at the relying party: Sign in, the server's sign-in page, its consent page (Allow)."""
    page = browser.get(rp.url + "/login", timeout=30)  # redirected through /oauth/authorize to /signin
    assert page.url.startswith(rp.oauth.load_server_metadata()["issuer"] + "/signin"), page.url
    action, fields = form_of(page)
    page = browser.post(action, data={**fields, "username": username, "password": PASSWORD}, timeout=30)
    if "wants to:" in page.text:
        assert "Sign you in with your account" in page.text
        action, fields = form_of(page)
        page = browser.post(action, data={**fields, "decision": "allow"}, timeout=30)
    return page


def test_authlib_discovers_signs_in_checks_the_id_token_calls_userinfo_and_refreshes(served, relying_party, alice):
    rp = relying_party
    with rp.app.app_context():
        metadata = rp.oauth.load_server_metadata()
    discovery.OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == served.url

    browser = requests.Session()
    page = sign_in_with_authserver(browser, rp)
    assert page.url == rp.url + "/" and page.text == "Signed in as alice"

    [token] = rp.app.extensions["relying_party.tokens"].values()
    claims = token["userinfo"]  # checked by Authlib: signature, iss, aud, exp, nonce, at_hash
    assert claims["sub"] == alice["id"] and claims["aud"] == rp.oauth.client_id
    assert claims["preferred_username"] == "alice" and claims["email"] == "alice@example.com"
    assert claims["email_verified"] is False and claims["nonce"] and claims["at_hash"]

    with rp.app.test_request_context():
        userinfo = rp.oauth.userinfo(token=token)
        assert dict(userinfo) == {"sub": alice["id"], "preferred_username": "alice", "email": "alice@example.com",
                                  "email_verified": False}
        # Authlib refuses the ID token for another nonce, and one whose payload was changed.
        with pytest.raises(Exception, match="nonce"):
            rp.oauth.parse_id_token(token, nonce="another nonce")
        header, payload, signature = token["id_token"].split(".")
        forged = {**token, "id_token": ".".join((header, payload[:-4] + "AAAA", signature))}
        with pytest.raises((BadSignatureError, ValueError)):
            rp.oauth.parse_id_token(forged, nonce=claims["nonce"])

        refreshed = rp.oauth.fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        again = rp.oauth.parse_id_token(refreshed, nonce=None)
        assert "nonce" not in again
        assert (again["sub"], again["sid"], again["auth_time"]) == (claims["sub"], claims["sid"], claims["auth_time"])
        assert again["at_hash"] != claims["at_hash"]

        # The app logs out by revoking its refresh token: the session ends, its tokens die at UserInfo.
        revoked = requests.post(metadata["revocation_endpoint"], data={"token": refreshed["refresh_token"]},
                                auth=(rp.oauth.client_id, rp.oauth.client_secret), timeout=30)
        assert revoked.status_code == 200
        with pytest.raises(requests.HTTPError) as refused:
            rp.oauth.userinfo(token=refreshed)
        assert refused.value.response.status_code == 401
        with pytest.raises(OAuthError, match="invalid_grant"):
            rp.oauth.fetch_access_token(grant_type="refresh_token", refresh_token=refreshed["refresh_token"])


def test_a_second_sign_in_of_the_same_browser_comes_straight_back(served, relying_party, alice):
    """Signed in and allowed before: no page at all on the way back to the app."""
    browser = requests.Session()
    sign_in_with_authserver(browser, relying_party)
    page = browser.get(relying_party.url + "/login", timeout=30)
    assert page.url == relying_party.url + "/" and page.text == "Signed in as alice"
    assert len(relying_party.app.extensions["relying_party.tokens"]) == 2  # two sessions, one per sign-in


def test_authlib_logs_out_at_the_server_rp_initiated(served, relying_party, alice):
    """The app's /logout: the server ends the app's session and the browser's sign-in, and sends the
    browser back with the app's state (Authlib checks it)."""
    rp = relying_party
    browser = requests.Session()
    sign_in_with_authserver(browser, rp)
    [token] = rp.app.extensions["relying_party.tokens"].values()
    page = browser.get(rp.url + "/logout", timeout=30)
    assert page.url.startswith(rp.url + "/signed-out?state=") and page.text == "Signed out"
    assert browser.get(rp.url + "/", timeout=30).text.startswith('<a href="/login">')
    with rp.app.test_request_context():
        with pytest.raises(requests.HTTPError) as refused:
            rp.oauth.userinfo(token=token)
        assert refused.value.response.status_code == 401
    # The browser is signed out of the server too: signing in to the app again needs the password.
    assert browser.get(rp.url + "/login", timeout=30).url.startswith(served.url + "/signin")
