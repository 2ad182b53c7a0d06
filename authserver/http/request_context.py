"""What the current HTTP request tells about the device making it: its address, its User-Agent and
the name it gave itself. The session rules (``sessions.py``) take this as plain data and never read
the request themselves.

And what every request must be before any view sees it (:func:`register_input_checks`): a body of at
most ``MAX_REQUEST_BYTES`` however it is sent, and no NUL character in its path or parameters."""

from __future__ import annotations

import io

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from ..sessions.device_sessions import DeviceContext


def device_context(device_name: str | None = None) -> DeviceContext:
    """The device of the current request, cut to fit its columns (``models.py``): anyone can send a
    long User-Agent, and it must not stop them from signing in."""
    return DeviceContext(ip=client_ip(),
                         user_agent=storable(request.user_agent.string, 512),
                         device_name=storable(device_name, 200))


def client_ip() -> str | None:
    """The caller's address as it is stored (and counted by ``throttle.py``)."""
    return storable(request.remote_addr, 64)


def storable(text: str | None, length: int) -> str | None:
    """Text as a column can hold it: no NUL, at most ``length`` characters; None if nothing is left."""
    return (text or "").replace("\x00", "").strip()[:length] or None


FORM = "application/x-www-form-urlencoded"
# Every request we accept is a small form or JSON; a bigger body is refused (413) before anything is done.
MAX_REQUEST_BYTES = 64 * 1024


def limit_body(environ, limit: int = MAX_REQUEST_BYTES) -> None:
    """Refuse a body over ``limit`` bytes (413), on every request, whether or not its view reads it.

    A declared ``Content-Length`` is checked without reading. A body of unknown length (chunked:
    the WSGI server sets ``wsgi.input_terminated``) is read here, at most ``limit + 1`` bytes, and
    handed on as an ordinary body of known length; Werkzeug alone would read such a body up to the
    limit and parse what it got."""
    length = get_content_length(environ)
    if length is not None:
        if length > limit:
            raise RequestEntityTooLarge()
        return
    if not environ.get("wsgi.input_terminated"):
        return  # no length, no terminated stream: Werkzeug reads no body at all
    stream, body = environ["wsgi.input"], b""
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def register_input_checks(app) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES  # Werkzeug's own check, when a view reads the form

    @app.before_request
    def refuse_large_bodies():
        # Before anything reads the body (the request has not built its stream yet).
        limit_body(request.environ)

    @app.before_request
    def refuse_nul_characters():
        # No parameter of ours contains NUL, and PostgreSQL cannot store or even look one up:
        # refuse it up front as bad input rather than fail later as a database error. Looked for
        # in the raw query string and form body (a NUL there is "%00" or the byte itself), which
        # costs a scan instead of a parse on every request.
        raw = [request.environ.get("QUERY_STRING", "").encode("latin-1", "replace")]
        if request.mimetype == FORM:
            raw.append(request.get_data(cache=True))  # kept: oauth/request_checks.py reads it after the form
        if "\x00" in request.path or any(b"\x00" in part or b"%00" in part for part in raw):
            raise InvalidRequestError("Parameters must not contain NUL characters.")
