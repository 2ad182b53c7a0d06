"""OAuth 2.0 wiring: Authlib's RFC modules filled in with authserver's models and session rules.

``server.py`` holds the single list of enabled grants and endpoints; ``views.py`` serves them;
``oidc/`` is OpenID Connect on top.
"""


def register_oauth(app, services) -> None:
    from .registration.views import bp as registration_bp
    from .server import create_authorization_server
    from .views import bp
    from .views import oidc_bp

    app.extensions["authserver.oauth"] = create_authorization_server(app, services)
    app.register_blueprint(bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(registration_bp)
