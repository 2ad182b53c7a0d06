"""authserver: an OAuth 2.0 authorization server with revocable device sessions.

:func:`create_app` builds the server in this order: settings (and the issuer as the one public
origin) → the per-process services (clock, passwords, key ring, device sessions, metrics) → what
every request goes through (its id and log line, timing, the database's unit of work, the input
checks) → the authorization server (Authlib) → blueprints (OAuth endpoints, JSON APIs, web pages,
health checks, metrics, the OpenAPI document) → the one error handler → the command line.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from .accounts.clients import ClientCache
from .accounts.passwords import Passwords
from .accounts.throttle import BUDGETS
from .accounts.users import FAILURE_REASONS
from .clock import SystemClock
from .errors import register_error_handlers
from .http.cookie_sessions import CookieSessions
from .http.request_context import register_input_checks
from .http.security import IssuerBoundFlask
from .http.security import bind_to_issuer
from .oauth.oidc.backchannel import BackchannelLogout
from .ops.metrics import Metrics
from .ops.metrics import register_metrics
from .ops.request_log import register_request_log
from .services import Services
from .sessions.device_sessions import END_REASONS
from .sessions.device_sessions import DeviceSessions
from .sessions.legacy_sessions import LegacySessions
from .sessions.refresh_tokens import RefreshTokens
from .settings import Settings
from .ssf.events import SharedSignals
from .store import database
from .store.database import db
from .store.schema import migrations_dir
from .tokens.dpop import DPoPProofs
from .tokens.keys import KeyRing
from .tokens.keys import load_or_create_secret


def create_app(settings: Settings | None = None, clock=None) -> Flask:
    settings = settings or Settings.from_env()
    app = IssuerBoundFlask(__name__)
    app.url_map.converters["path"] = AnyPathConverter
    app.session_interface = CookieSessions()
    configure(app, settings)
    services = build_services(settings, clock or SystemClock())
    app.extensions["authserver"] = services
    # Before the unit of work: Flask runs after-request hooks last-registered first, so the
    # commit happens inside what is timed, and the request's log line has the status it really got.
    register_request_log(app)
    register_metrics(app)
    database.init_database(app, settings)
    Migrate(app, db, directory=migrations_dir())
    register_input_checks(app)

    from .api import register_api
    from .commands import register_commands
    from .oauth import register_oauth
    from .openapi.document import register_openapi
    from .ops.health import bp as health_bp
    from .ssf.views import bp as ssf_bp
    from .web import register_web

    register_oauth(app, services)
    register_api(app)
    register_web(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(ssf_bp)
    register_openapi(app)
    register_error_handlers(app, rollback=database.rollback)
    register_commands(app)
    return app


class AnyPathConverter(PathConverter):
    """Werkzeug's ``path`` stops at a line break, so a URL naming a user that cannot exist
    (``/console/users/a%0Ab/disable``) matched no route and got the router's JSON 404 instead of
    the page's own (found by schemathesis). This one takes every character, as ``string`` does."""

    regex = "[^/](?s:.)*?"


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SQLALCHEMY_DATABASE_URI=database.database_uri(settings),
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings),
        SECRET_KEY=load_or_create_secret(settings.keys_dir, "web-secret.key"),
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    # URLs, HSTS, nosniff and the session cookie's name from the issuer, never from the request's Host.
    bind_to_issuer(app, settings)
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    # Authlib refuses plain HTTP unless told; TLS is terminated in front of us (see AUTHSERVER_ISSUER).
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    # Authlib logs whole token responses at DEBUG: keep tokens out of logs whatever the root level.
    logging.getLogger("authlib").setLevel(logging.INFO)


def build_services(settings: Settings, clock) -> Services:
    # A retired key stays published until the last token it signed has expired: access and ID tokens
    # (the access-token lifetime), and logout tokens, which may be retried up to the outbound max age.
    keyring = KeyRing(settings.keys_dir, max(settings.access_token_ttl_seconds, settings.outbound_max_age_seconds),
                      settings.key_rotation_lead_seconds,
                      now=lambda: clock.now().timestamp())
    keyring.ensure_key()
    refresh_key = load_or_create_secret(settings.keys_dir, "refresh-hmac.key")
    from .oauth.server import supported_grant_types  # the grants import the services module

    metrics = Metrics(known_labels={"grant_type": tuple(supported_grant_types()), "cause": END_REASONS,
                                    "reason": FAILURE_REASONS, "budget": BUDGETS})
    # Every ended session of a client with a back-channel logout URI queues its logout token, and every
    # ended session a session-revoked security event for each stream that wants one.
    shared_signals = SharedSignals(settings, keyring)
    sessions = DeviceSessions(settings, clock, metrics, on_ended=(BackchannelLogout(settings, keyring).sessions_ended,
                                                                  shared_signals.sessions_ended))
    legacy_key = load_or_create_secret(settings.keys_dir, "legacy-hmac.key")
    return Services(settings=settings, clock=clock, passwords=Passwords(settings), keyring=keyring,
                    sessions=sessions, refresh_tokens=RefreshTokens(settings, sessions, refresh_key),
                    metrics=metrics, clients=ClientCache(), shared_signals=shared_signals,
                    legacy=LegacySessions(settings, clock, sessions, legacy_key, metrics),
                    dpop=DPoPProofs(settings, clock, load_or_create_secret(settings.keys_dir, "dpop-nonce.key")))
