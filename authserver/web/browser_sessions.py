"""Signing the browser in and out (Flask-Login), and the device session of each request.

Signing in on ``/signin`` opens an ordinary device session for the first-party client
(``client.py``). What Flask-Login calls the user is that session (:class:`SignedInBrowser`): the
Flask session cookie -- signed, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless
``AUTHSERVER_COOKIE_SECURE=false`` -- keeps its id, Flask-Login's two bookkeeping entries and
Flask-WTF's CSRF secret, nothing else: no token ever reaches the browser, and there is no
remember-me cookie. Every request looks the session up again (``live_session`` ends idle or too
old ones on the way) and touches it, so ending it anywhere -- "My devices", the console, the API,
reuse detection, disabling the user -- signs the browser out at its next request.

Views read the session as ``g.device_session`` (None when signed out) and templates its user as
``signed_in_user``; Flask-Login's ``current_user`` is read here only.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import abort
from flask import g
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user

from ..http.request_context import device_context
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from ..ops.request_log import annotate
from ..scopes import granted_scope
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_USER
from ..store.models import DeviceSession
from .blueprint import bp
from .client import web_client

# For /openapi.json: what a page for signed-in browsers answers a signed-out one (send_to_signin).
SIGNED_OUT = redirect_response("Not signed in (or the session ended): to `/signin`, and back here after.")

login_manager = LoginManager()
# No "fresh login" marks for a changed IP or User-Agent: the device session records both, and
# the user sees them in "My devices".
login_manager.session_protection = None


class SignedInBrowser(UserMixin):
    """Flask-Login's user: the live device session this browser signed in with."""

    def __init__(self, device_session: DeviceSession):
        self.device_session = device_session

    def get_id(self) -> str:
        return self.device_session.id


def init_app(app) -> None:
    # What LoginManager.init_app does (attach it as app.login_manager) without its two app-wide
    # hooks: the after_request of the remember-me cookie, which there is none of (and which reads
    # the session on every response of the app, adding "Vary: Cookie" to the JSON APIs'), and the
    # context processor, which would put current_user in every template (they get signed_in_user).
    app.login_manager = login_manager


@login_manager.user_loader
def load_signed_in_browser(sid: str) -> SignedInBrowser | None:
    """The live device session the cookie names, touched; None once it has ended or expired."""
    services = current_services()
    device_session = services.sessions.live_session(sid)
    if device_session is None:
        return None
    services.sessions.touch_session(device_session, device_context())
    annotate(client_id=device_session.client_id, session_id=device_session.id)
    return SignedInBrowser(device_session)


@login_manager.unauthorized_handler
def send_to_signin():
    """A signed-out browser goes to the sign-in page, and back to this page after (GETs only)."""
    target = request.path if request.method == "GET" else None
    if target and request.query_string:
        target += "?" + request.query_string.decode("utf-8", "replace")
    return redirect(url_for("web.signin", next=target))


@bp.before_request
def load_device_session():
    """Set ``g.device_session``: once per request, after ``check_csrf`` (``__init__.py``).

    Here rather than lazily wherever Flask-Login's ``current_user`` is first read, so the page of a
    request refused before this point, or of a failed look-up, is rendered signed out and never
    looks the session up (and touches it) from inside a template.
    """
    g.device_session = None
    if request.endpoint == "web.static":
        return
    if current_user.is_authenticated:
        g.device_session = current_user.device_session
    elif "_user_id" in session:  # Flask-Login's key: the session it names has ended, forget it
        logout_user()


@bp.context_processor
def page_context():
    device_session = g.get("device_session")
    return {"signed_in_user": device_session.user if device_session is not None else None}


def sign_in(user) -> DeviceSession:
    """Open a device session for this browser and name it in the cookie."""
    sign_out()  # a browser holds one session at a time
    client = web_client()
    device_session = current_services().sessions.open_session(
        user, client, granted_scope(client, user, None), device_context())
    session.clear()  # a new cookie, with a new CSRF secret
    session.permanent = True
    login_user(SignedInBrowser(device_session))
    g.device_session = device_session
    annotate(client_id=device_session.client_id, session_id=device_session.id)
    return device_session


def sign_out() -> None:
    """End this browser's device session, if it has one, and forget it."""
    device_session = g.get("device_session")
    if device_session is not None:
        current_services().sessions.end_session(device_session.id, ENDED_BY_USER,
                                                actor=device_session.user.username, ip=request.remote_addr)
    logout_user()
    g.device_session = None


NOT_ADMIN = page_response("The signed-in user is not an administrator.")


def admin_required(view):
    """Like ``login_required``, and the signed-in user must be an administrator (403 otherwise)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not g.device_session.user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapped)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.isprintable():
            return target
    return url_for("web.my_devices")
