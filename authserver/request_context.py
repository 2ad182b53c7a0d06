"""What the current HTTP request tells about the device making it: its address, its User-Agent and
the name it gave itself. The session rules (``sessions.py``) take this as plain data and never read
the request themselves."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import request

from .sessions import DeviceContext


def device_context(device_name: str | None = None) -> DeviceContext:
    """The device of the current request, cut to fit its columns (``models.py``): anyone can send a
    long User-Agent, and it must not stop them from signing in."""
    return DeviceContext(ip=storable(request.remote_addr, 64),
                         user_agent=storable(request.user_agent.string, 512),
                         device_name=storable(device_name, 200))


def storable(text: str | None, length: int) -> str | None:
    """Text as a column can hold it: no NUL, at most ``length`` characters; None if nothing is left."""
    return (text or "").replace("\x00", "").strip()[:length] or None


FORM = "application/x-www-form-urlencoded"


def register_input_checks(app) -> None:
    @app.before_request
    def refuse_nul_characters():
        # No parameter of ours contains NUL, and PostgreSQL cannot store or even look one up:
        # refuse it up front as bad input rather than fail later as a database error.
        args = request.args.items(multi=True)
        form = ()
        if request.mimetype == FORM:
            request.get_data(cache=True)  # keep the raw body: oauth/request_checks.py reads it after the form
            form = request.form.items(multi=True)
        if "\x00" in request.path or any("\x00" in value for pair in (*args, *form) for value in pair):
            raise InvalidRequestError("Parameters must not contain NUL characters.")
