"""OpenID Connect on the authorization code flow: "Sign in with authserver" for third-party apps.

The device session is the OpenID Connect session: its id is the ID token's ``sid``, as in the access
token, so ending it anywhere ends what the app holds. Where each part is:

- ``id_tokens.py``: ID tokens on the code and refresh grants (Core 1.0 §2, §3.1.3, §12.2), with Authlib's
  ``OpenIDCode`` / ``OpenIDToken`` extensions registered in ``oauth/server.py``
- ``claims.py``: what the ID token and UserInfo say about the user, by scope (``profile``, ``email``)
- ``prompt.py``: ``prompt`` and ``max_age`` at the authorization endpoint (``web/authorize.py``)
- ``discovery.py``: ``/.well-known/openid-configuration`` (Discovery 1.0), built from the RFC 8414 document
- ``userinfo.py``: the UserInfo endpoint (Core 1.0 §5.3), behind the APIs' one token validator

The scopes ``openid``, ``profile`` and ``email`` are the server's own (``scopes.py``), granted like any other.
"""

from flask import Blueprint

bp = Blueprint("oidc", __name__)


def register_oidc(app) -> None:
    # Imported here, not above: the views need the OAuth server (server.py), which imports id_tokens.py.
    from . import discovery  # noqa: F401
    from . import userinfo  # noqa: F401

    app.register_blueprint(bp)
