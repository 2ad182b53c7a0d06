"""What the registration endpoint tests share: an agent's metadata, registering it over HTTP, and the
registered client's configuration endpoint (RFC 7592) called with a registration access token."""

from __future__ import annotations

from authserver.store.database import db
from authserver.store.models import Client
from tests.token_helpers import bearer

REGISTER = "/oauth/register"
OPEN = {"client_registration": "open"}  # the settings of a server anyone may register at
MCP_CLIENT = {"client_name": "Claude", "redirect_uris": ["http://127.0.0.1:33418/callback"],
              "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
              "scope": "openid read"}


def client_count(app) -> int:
    with app.app_context():
        return db.session.query(Client).count()


def register(http, metadata=None, **headers):
    return http.post(REGISTER, json=MCP_CLIENT if metadata is None else metadata, headers=headers)


def configuration(http, registered, method="get", token=None, **kwargs):
    """``method`` at the client's ``registration_client_uri``, with its registration access token or ``token``."""
    path = registered["registration_client_uri"].split("://", 1)[1].split("/", 1)[1]
    return getattr(http, method)("/" + path, headers=bearer(token or registered["registration_access_token"]), **kwargs)
