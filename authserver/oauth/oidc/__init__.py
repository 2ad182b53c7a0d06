"""OpenID Connect on the authorization code flow: "Sign in with authserver" for third-party apps.

The device session is the OpenID Connect session: its id is the ID token's ``sid``, as in the access
token, so ending it anywhere ends what the app holds. Where each part is:

- ``id_tokens.py``: ID tokens on the code and refresh grants (Core 1.0 §2, §3.1.3, §12.2), with Authlib's
  ``OpenIDCode`` / ``OpenIDToken`` extensions registered in ``oauth/server.py``
- ``claims.py``: what the ID token and UserInfo say about the user, by scope (``profile``, ``email``)
- ``prompt.py``: ``prompt`` and ``max_age`` at the authorization endpoint (``web/authorize.py``)
- ``discovery.py``: ``/.well-known/openid-configuration`` (Discovery 1.0), built from the RFC 8414 document
- ``logout.py``: RP-Initiated Logout 1.0, the end-session request's checks and what a logout ends

``oauth/views.py`` serves discovery and UserInfo (Core 1.0 §5.3, behind the APIs' one token validator),
``web/logout.py`` the end-session endpoint's pages; their OpenAPI shapes are ``openapi/oidc.py``'s.

The scopes ``openid``, ``profile`` and ``email`` are the server's own (``scopes.py``), granted like any other.
"""
