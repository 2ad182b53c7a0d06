"""Flask's signed-cookie sessions (the web pages' sign-in, CSRF token and flashes), without their cost
on the requests that carry no session cookie: the token endpoint, introspection, the JSON APIs.

Flask's interface builds an ``itsdangerous`` serializer on every request (key list, signer, and a
trial ``dumps`` to learn that the serializer writes text) before it even looks for the cookie, and
reads seven cookie settings after every request before finding the session empty and untouched.
:class:`CookieSessions` keeps one serializer per process (built again if ``SECRET_KEY`` or
``SECRET_KEY_FALLBACKS`` change), opens an empty session at once when the request has no ``Cookie``
header, and returns at once after a request that neither read, changed nor filled its session.
Everything else (signing, what a cookie holds, when it is set, refreshed or deleted, ``Vary: Cookie``)
is Flask's own code, unchanged.
"""

from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    def __init__(self):
        self._serializer = None  # (the keys it was built for, the serializer)

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app, request):
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()  # what Flask opens for a request without the cookie
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if not session and not session.modified and not session.accessed:
            return  # Flask would add no header and set or delete no cookie
        super().save_session(app, session, response)
