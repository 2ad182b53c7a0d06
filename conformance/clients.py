"""Third-party OAuth 2.0 client libraries, configured the way an integrator would, against a live
authserver. Used by tests/test_conformance.py; see conformance/README.md.

Every client learns the endpoints from the RFC 8414 metadata, never from hard-coded paths. The
test server listens on an ephemeral port while its issuer is the configured one, so
:func:`discover` re-roots the advertised URLs onto the address the server really answers on (with
a deployed server, where the issuer is the server's own URL, that is a no-op).

Each client authenticates with the one method it was registered with, the way its library does it:

| library | client_secret_basic | client_secret_post | none |
| --- | --- | --- | --- |
| requests-oauthlib | default (`requests.auth.HTTPBasicAuth`) | `include_client_id=True` + `client_secret` | `include_client_id=True`, no secret |
| Authlib | `token_endpoint_auth_method="client_secret_basic"` | `"client_secret_post"` | `"none"` |

requests-oauthlib's default for a client without a secret is Basic with an *empty* password, which
authserver (like RFC 6749 §2.3.1 reads) takes as a failed ``client_secret_basic``: a public client
must pass ``include_client_id=True``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import LegacyApplicationClient
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

METADATA_PATH = "/.well-known/oauth-authorization-server"
URL_MEMBERS = ("token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint",
               "authorization_endpoint", "device_authorization_endpoint")


def discover(base_url: str, issuer: str) -> dict:
    """The server's RFC 8414 metadata, fetched from ``base_url``, with its endpoint URLs served there.

    Checks what a client relies on before using any of it: the document is JSON, ``issuer`` is the
    one the client was configured with (RFC 8414 §3.3), and every endpoint lives under the issuer."""
    response = requests.get(base_url + METADATA_PATH, timeout=10)
    response.raise_for_status()
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    metadata = response.json()
    assert metadata["issuer"] == issuer, (metadata["issuer"], issuer)
    served = dict(metadata)
    for name in URL_MEMBERS:
        if name in metadata:
            assert metadata[name].startswith(issuer + "/"), (name, metadata[name])
            served[name] = base_url + metadata[name][len(issuer):]
    return served


@contextmanager
def insecure_transport_allowed():
    """oauthlib refuses http:// token endpoints unless OAUTHLIB_INSECURE_TRANSPORT is set."""
    previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


@dataclass
class SentRequests:
    """The token requests a library put on the wire (headers and form), to show which client
    authentication it really used."""

    requests: list = field(default_factory=list)

    def hook(self, response, *args, **kwargs):
        request = response.request
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        self.requests.append({"url": request.url, "headers": dict(request.headers),
                              "form": {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}})
        return response

    def last_token_request(self) -> dict:
        return next(r for r in reversed(self.requests) if r["url"].endswith("/token"))


def used_auth_method(sent: dict) -> str:
    """Which RFC 6749 §2.3 client authentication a recorded request carried."""
    basic = sent["headers"].get("Authorization", "").startswith("Basic ")
    if basic and "client_secret" not in sent["form"]:
        return "client_secret_basic"
    if not basic and "client_secret" in sent["form"] and "client_id" in sent["form"]:
        return "client_secret_post"
    if not basic and "client_secret" not in sent["form"] and "client_id" in sent["form"]:
        return "none"
    return "mixed"


# -- requests-oauthlib -----------------------------------------------------------------------
class RequestsOAuthlibClient:
    """requests-oauthlib's OAuth2Session with oauthlib's LegacyApplicationClient (password grant)."""

    def __init__(self, metadata: dict, registered, scope: list[str] | None = None):
        self.metadata = metadata
        self.registered = registered
        self.sent = SentRequests()
        self.session = RequestsOAuthlibSession(client=LegacyApplicationClient(client_id=registered.client_id),
                                               scope=scope)
        self.session.hooks["response"].append(self.sent.hook)

    def _auth_kwargs(self) -> dict:
        """How this library is told to authenticate the client, per registered method."""
        method, client = self.registered.auth_method, self.registered
        if method == "client_secret_basic":
            return {"auth": requests.auth.HTTPBasicAuth(client.client_id, client.client_secret)}
        if method == "client_secret_post":
            return {"client_id": client.client_id, "client_secret": client.client_secret}
        return {"client_id": client.client_id}

    def fetch_token(self, username: str, password: str) -> dict:
        client = self.registered
        # The session's scope is only *checked* against the response; LegacyApplicationClient sends
        # the scope it is given here (or its own), so without this the server grants the client's
        # default scope and oauthlib raises "Scope has changed".
        extra = {"scope": self.session.scope} if self.session.scope else {}
        with insecure_transport_allowed():
            if client.auth_method == "client_secret_basic":
                # the library's default: Basic built from its client_id and the given secret
                return self.session.fetch_token(self.metadata["token_endpoint"], username=username,
                                                password=password, client_secret=client.client_secret, timeout=10,
                                                **extra)
            return self.session.fetch_token(
                self.metadata["token_endpoint"], username=username, password=password, include_client_id=True,
                client_secret=client.client_secret if client.auth_method == "client_secret_post" else None,
                timeout=10, **extra)

    def refresh_token(self, refresh_token: str | None = None) -> dict:
        """``OAuth2Session.refresh_token`` with client authentication; None refreshes the held token."""
        with insecure_transport_allowed():
            return self.session.refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token,
                                              timeout=10, **self._auth_kwargs())

    def get(self, url: str, **kwargs) -> requests.Response:
        with insecure_transport_allowed():
            return self.session.get(url, timeout=10, **kwargs)


# -- Authlib ---------------------------------------------------------------------------------
class AuthlibClient:
    """Authlib's requests-based OAuth2Session, configured from the metadata."""

    def __init__(self, metadata: dict, registered, scope: str | None = None, method: str | None = None,
                 update_token=None):
        self.metadata = metadata
        self.registered = registered
        self.sent = SentRequests()
        self.session = AuthlibSession(
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            token_endpoint_auth_method=method or registered.auth_method,
            token_endpoint=metadata["token_endpoint"],
            scope=scope,
            update_token=update_token,
        )
        self.session.hooks["response"].append(self.sent.hook)

    def fetch_token(self, username: str, password: str) -> dict:
        return self.session.fetch_token(grant_type="password", username=username, password=password, timeout=10)

    def refresh_token(self, refresh_token: str | None = None) -> dict:
        return self.session.refresh_token(refresh_token=refresh_token, timeout=10)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.session.get(url, timeout=10, **kwargs)


# -- PyJWT -----------------------------------------------------------------------------------
def verify_with_pyjwt(metadata: dict, access_token: str, issuer: str, audience: str) -> tuple[dict, dict]:
    """(header, claims) of an access token checked by PyJWT against the keys at the metadata's
    ``jwks_uri``, the way a resource server that trusts only the metadata would."""
    jwks_client = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False)
    signing_key = jwks_client.get_signing_key_from_jwt(access_token)
    claims = jwt.decode(access_token, signing_key.key, algorithms=["RS256"], audience=audience, issuer=issuer,
                        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
    return jwt.get_unverified_header(access_token), claims
