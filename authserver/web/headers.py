"""The security headers of every page (not of the stylesheet): pages show personal data, so they
are never cached, never framed, run no script, and their forms post only to this server.
``nosniff`` (and HSTS) are on every response of the app, pages included (``http_security.py``)."""

from __future__ import annotations

from flask import request

from .blueprint import bp

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # Flask-WTF checks the Referer of HTTPS form posts
}


@bp.after_request
def security_headers(response):
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response
