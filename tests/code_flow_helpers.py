"""What the authorization code flow tests share (RFC 6749 §4.1, PKCE RFC 7636, RFC 9207): a
third-party app registered for the flow, the authorization URL it sends the browser to, a browser
(Flask's test client) walking sign-in and the consent page the way a person does, reading the
redirect back to the app, and the app's code exchange.

Everything goes over HTTP through the app; the HTML is read the way a person reads it (headings,
the scope descriptions, the buttons' values), the CSRF token parsed from the page."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from tests.conftest import PASSWORD
from tests.conftest import token_request
from tests.web.conftest import browser
from tests.web.conftest import csrf_token

AUTHORIZE = "/oauth/authorize"
REDIRECT_URI = "https://app.example/oauth/callback"
STATE = "af0ifjsldkj"
CODE_GRANT_TYPES = ("authorization_code", "refresh_token")


def code_client(factory, name="Zapier", scope="profile email", auth_method="client_secret_basic",
                redirect_uris=(REDIRECT_URI,), first_party=False, grant_types=CODE_GRANT_TYPES):
    """A third-party app registered for the code flow (confidential unless ``auth_method`` is none)."""
    return factory.client(name=name, grant_types=grant_types, scope=scope, auth_method=auth_method,
                          redirect_uris=redirect_uris, first_party=first_party)


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    """A fresh S256 pair (RFC 7636 §4.1-4.2), computed here rather than by the library under test."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_url(client_id, redirect_uri=REDIRECT_URI, scope="profile email", state=STATE,
                  challenge: Pkce | str | None = None, method="S256", response_type="code", **extra) -> str:
    """The URL an app sends the browser to. None drops a parameter."""
    if isinstance(challenge, Pkce):
        challenge = challenge.challenge
    params = {"response_type": response_type, "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state, "code_challenge": challenge,
              "code_challenge_method": method if challenge else None, **extra}
    return AUTHORIZE + "?" + urlencode({name: value for name, value in params.items() if value is not None})


def signed_in(app, username="alice", password=PASSWORD):
    """A browser signed in on /signin."""
    http = browser(app)
    page = http.get("/signin")
    response = http.post("/signin", data={"username": username, "password": password,
                                          "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302, response.text
    return http


def sign_in_through(http, response, username="alice", password=PASSWORD):
    """From the redirect to the sign-in page: fill in the form there; returns the answer of the page
    the sign-in sends the browser back to (the authorization endpoint)."""
    assert response.status_code == 302, response.text
    assert response.headers["Location"].startswith("/signin?next="), response.headers["Location"]
    page = http.get(response.headers["Location"])
    assert page.status_code == 200
    form = {"username": username, "password": password, "csrf_token": csrf_token(page.text),
            "next": hidden_next(page.text)}
    after = http.post("/signin", data=form)
    assert after.status_code == 302, after.text
    return http.get(after.headers["Location"])


def hidden_next(html: str) -> str:
    match = re.search(r'name="next" value="([^"]*)"', html)
    assert match, "the sign-in page does not carry where to go back to"
    return unescape(match.group(1))


@dataclass(frozen=True)
class ConsentPage:
    html: str
    action: str
    csrf_token: str

    @property
    def text(self) -> str:
        """The page's visible text, tags dropped, whitespace squeezed."""
        return " ".join(unescape(re.sub(r"<[^>]+>", " ", self.html)).split())


def consent_page(response) -> ConsentPage:
    """The consent page a response must be: "X wants to:", a form with Allow and Deny."""
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    html = response.text
    assert "wants to:" in html, html
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action, "the consent page has no form"
    return ConsentPage(html, unescape(action.group(1)), csrf_token(html))


def decide(http, page: ConsentPage, decision: str):
    """Press Allow or Deny: post the page's form with that button's value."""
    return http.post(page.action, data={"csrf_token": page.csrf_token, "decision": decision})


def redirect_params(response, redirect_uri=REDIRECT_URI) -> dict:
    """The parameters of a redirect back to the app (RFC 6749 §4.1.2 / §4.1.2.1); each must appear once."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == redirect_uri, location
    params = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


def issuer_of(app) -> str:
    return app.extensions["authserver"].settings.issuer


def assert_code_redirect(app, response, state=STATE, redirect_uri=REDIRECT_URI) -> str:
    """A redirect carrying a code, the request's state and our issuer (RFC 9207); returns the code."""
    params = redirect_params(response, redirect_uri)
    assert set(params) == ({"code", "state", "iss"} if state else {"code", "iss"}), params
    assert params.get("state") == state
    assert params["iss"] == issuer_of(app)
    return params["code"]


def assert_error_redirect(app, response, error, state=STATE, redirect_uri=REDIRECT_URI) -> dict:
    """An error sent back to the app: the RFC code, the request's state, our issuer, never a code."""
    params = redirect_params(response, redirect_uri)
    assert params["error"] == error, params
    assert params.get("state") == state
    assert params["iss"] == issuer_of(app)
    assert "code" not in params
    return params


def exchange(http, registered, code, verifier: Pkce | str | None = None, redirect_uri=REDIRECT_URI, **extra):
    """The app's token request for a code (RFC 6749 §4.1.3, RFC 7636 §4.5). None drops a parameter."""
    if isinstance(verifier, Pkce):
        verifier = verifier.verifier
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, **extra}
    return token_request(http, registered, **{name: value for name, value in form.items() if value is not None})


def approve(app, http, registered, scope="profile email", challenge: Pkce | None = None, username="alice",
            state=STATE, **extra) -> str:
    """A signed-in browser (or one about to sign in as ``username``) goes through the authorization
    endpoint, allowing the consent page if it is shown; returns the code the app receives. ``extra``:
    more parameters of the authorization request (``nonce``...)."""
    response = http.get(authorize_url(registered.client_id, scope=scope, challenge=challenge, state=state, **extra))
    if response.headers.get("Location", "").startswith("/signin"):
        response = sign_in_through(http, response, username=username)
    if response.status_code == 200:
        response = decide(http, consent_page(response), "allow")
    return assert_code_redirect(app, response, state=state)


def connect(app, registered, scope="profile email", username="alice", http=None, **extra) -> dict:
    """An app connected end to end: sign-in, consent, code, exchange with PKCE; the token response."""
    http = http or browser(app)
    verifier = pkce()
    code = approve(app, http, registered, scope=scope, challenge=verifier, username=username, **extra)
    response = exchange(http, registered, code, verifier)
    assert response.status_code == 200, response.text
    return response.json
