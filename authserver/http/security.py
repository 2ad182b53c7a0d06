"""The issuer (``AUTHSERVER_ISSUER``) is the server's one public origin, whatever a request says.

- **URLs.** Every absolute URL the server builds names the issuer's scheme and host, never the
  request's ``Host`` (or ``X-Forwarded-Host``, which is never trusted): Werkzeug's redirects
  (``//oauth//jwks`` answers 308 to the issuer's ``/oauth/jwks``), ``url_for(_external=True)``,
  ``request.url`` and ``request.host_url`` (which Authlib and Flask-WTF read). The metadata, the
  ``verification_uri`` and every token's ``iss`` are the issuer already. A request with another
  ``Host`` is answered, not refused: routing ignores the host, so there is nothing it can steer,
  and the nodes are reached by other names all the time (the proxy's health checks, compose's and
  the Dockerfile's probes on ``127.0.0.1``, metrics scrapers, the tests' servers on a random
  port). Which names reach the server is the proxy's choice (``deploy/Caddyfile`` answers one).
- **Headers of every response.** ``X-Content-Type-Options: nosniff`` (JSON included, errors too),
  and ``Strict-Transport-Security`` when the issuer is ``https``. That header is sent whatever the
  transport of the hop in front of us: TLS ends at the proxy, and browsers ignore it over http.
- **The session cookie** is ``__Host-session`` when the issuer is ``https`` and the cookie is
  ``Secure`` (``AUTHSERVER_COOKIE_SECURE``): a browser then refuses it from plain http, with a
  ``Domain`` or another ``Path``, so no sibling host or page can set or shadow it.

Everything is worked out once per app (:func:`bind_to_issuer`); a request costs two header writes.
(And Flask's question whether each hook and view is ``async``, asked on every request, is answered
once per function.)
"""

from __future__ import annotations

from types import FunctionType
from urllib.parse import urlsplit

import flask

# One year, the sites of this host only: the issuer's parent domain may serve other sites over http.
HSTS = "max-age=31536000"
SECURE_COOKIE_NAME = "__Host-session"  # Flask's "session" with the prefix browsers enforce


class IssuerBoundFlask(flask.Flask):
    """Flask whose URL adapter is bound to the issuer's scheme and host instead of the request's."""

    public_scheme = "http"
    public_host = "localhost"
    # Plain functions, whose "is it async?" Flask asks again for every hook of every request.
    _plain_functions: frozenset = frozenset()

    def ensure_sync(self, func):
        if func in self._plain_functions:
            return func
        synced = super().ensure_sync(func)
        if synced is func and isinstance(func, FunctionType):  # the app's own hooks and views: a fixed few
            self._plain_functions = self._plain_functions | {func}  # replaced whole: no lock needed
        return synced

    def create_url_adapter(self, request):
        adapter = super().create_url_adapter(request)
        if request is not None and adapter is not None:
            request.host = adapter.server_name = self.public_host
            adapter.url_scheme = self.public_scheme
        return adapter


def is_https(issuer: str) -> bool:
    return issuer.startswith("https://")


def session_cookie_name(settings) -> str:
    return SECURE_COOKIE_NAME if is_https(settings.issuer) and settings.cookie_secure else "session"


def bind_to_issuer(app: IssuerBoundFlask, settings) -> None:
    issuer = urlsplit(settings.issuer)
    app.public_scheme, app.public_host = issuer.scheme, issuer.netloc
    app.config.update(SESSION_COOKIE_NAME=session_cookie_name(settings), SESSION_COOKIE_PATH="/",
                      SESSION_COOKIE_DOMAIN=None)
    headers = {"X-Content-Type-Options": "nosniff"}
    if is_https(settings.issuer):
        headers["Strict-Transport-Security"] = HSTS
    headers = tuple(headers.items())

    @app.after_request
    def transport_headers(response):
        for name, value in headers:
            response.headers[name] = value
        return response
