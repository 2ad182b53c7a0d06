"""A minimal relying party ("Sign in with authserver") on Authlib's Flask client: the README's example,
which tests/conformance/test_authlib_openid.py runs against a real ``authserver serve``.

Authlib's client reads everything from the discovery document (``server_metadata_url``), sends
the browser to the authorization endpoint with PKCE (S256), ``state`` and a ``nonce``, exchanges
the code, and checks the ID token (signature with the JWKS, ``iss``, ``aud``, ``exp``, ``nonce``,
``at_hash``) before the app sees it. ``/logout`` signs out at the server too (RP-Initiated Logout).
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import redirect
from flask import session
from flask import url_for


def create_relying_party(issuer: str, client_id: str, client_secret: str, secret_key: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret_key
    oauth = OAuth(app)
    oauth.register(
        "authserver",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    tokens = app.extensions["relying_party.tokens"] = {}  # stands for your database: tokens stay server-side

    @app.get("/")
    def home():
        user = session.get("user")
        if user is None:
            return '<a href="/login">Sign in with authserver</a>'
        return f"Signed in as {user['preferred_username']}"

    @app.get("/login")
    def login():
        return oauth.authserver.authorize_redirect(url_for("callback", _external=True))

    @app.get("/callback")
    def callback():
        token = oauth.authserver.authorize_access_token()  # the code exchange; the ID token checked
        user = token["userinfo"]  # the ID token's claims: sub, sid, auth_time, preferred_username, email...
        tokens[user["sid"]] = token  # access and refresh token, for calling APIs and refreshing later
        session["user"] = {"sub": user["sub"], "sid": user["sid"], "preferred_username": user["preferred_username"]}
        session["id_token"] = token["id_token"]  # for logging out
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout():
        # RP-Initiated Logout: the server ends the session the ID token names, signs the browser out and
        # sends it back to /signed-out (registered with --post-logout-redirect-uri) with our state.
        session.pop("user", None)
        return oauth.authserver.logout_redirect(url_for("signed_out", _external=True),
                                                id_token_hint=session.pop("id_token", None))

    @app.get("/signed-out")
    def signed_out():
        oauth.authserver.validate_logout_response()  # the state we sent came back
        return "Signed out"

    return app
