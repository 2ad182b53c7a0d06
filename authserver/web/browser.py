"""The signed-in browser: the first-party web client and the cookie that names its device session.

Signing in on ``/signin`` opens an ordinary device session for the client ``authserver-web``
(created on first use, see :func:`web_client`). The Flask session cookie -- signed, ``HttpOnly``,
``SameSite=Lax``, ``Secure`` unless ``AUTHSERVER_COOKIE_SECURE=false`` -- carries that session's
id and Flask-WTF's CSRF secret, nothing else: no token ever reaches the browser. Every request
looks the session up again (``live_session`` ends idle or too old ones on the way) and touches it,
so ending it anywhere -- "My devices", the console, the API, reuse detection, disabling the user --
signs the browser out at its next request.
"""

from __future__ import annotations

import functools
import json
from urllib.parse import urlsplit

from flask import abort
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError

from .. import accounts
from ..database import db
from ..devices import describe_user_agent
from ..models import Client
from ..oauth.grants import device_context
from ..oauth.grants import scope_for_user
from ..services import current_services
from ..sessions import ENDED_BY_USER
from . import bp
from . import csrf

WEB_CLIENT_ID = "authserver-web"
WEB_CLIENT_NAME = "authserver web"
# `admin` is granted only to admins (scope_for_user); the console checks User.is_admin on each request.
WEB_CLIENT_SCOPE = "profile admin"
SID = "sid"  # the one key of the cookie this module writes

# Pages show personal data: never cached, never framed, no script, forms post only here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # Flask-WTF checks the Referer of HTTPS form posts
}


# -- the first-party client ----------------------------------------------------------------
def web_client() -> Client:
    """The client every web sign-in belongs to, created on first use.

    A public client with no grant types: it exists so web sessions have a client like any other
    (listed by the API as "authserver web"), but the token endpoint refuses it, so the sign-in
    page is the only way in. The refresh token each web session is born with is never sent anywhere.
    """
    client = db.session.get(Client, WEB_CLIENT_ID)
    if client is not None:
        return client
    try:
        client, _secret = accounts.create_client(current_services(), WEB_CLIENT_NAME, [], WEB_CLIENT_SCOPE,
                                                 "none", client_id=WEB_CLIENT_ID)
    except IntegrityError:  # a parallel first sign-in created it
        db.session.rollback()
        client = db.session.get(Client, WEB_CLIENT_ID)
    return client


# -- signing in and out --------------------------------------------------------------------
def sign_in(user):
    """Open a device session for this browser and name it in the cookie."""
    sign_out()  # a browser holds one session at a time
    services = current_services()
    client = web_client()
    device_session, _unused_refresh_token = services.sessions.open_session(
        user, client, scope_for_user(client, user, None), device_context())
    db.session.commit()
    session.clear()
    session.permanent = True
    session[SID] = device_session.id
    g.device_session = device_session
    return device_session


def sign_out() -> None:
    """End this browser's device session, if it has one, and forget it."""
    device_session = g.get("device_session")
    if device_session is not None:
        current_services().sessions.end_session(device_session.id, ENDED_BY_USER,
                                                actor=device_session.user.username, ip=request.remote_addr)
    session.pop(SID, None)
    g.device_session = None


def signin_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.device_session is None:
            target = request.path if request.method == "GET" else None
            if target and request.query_string:
                target += "?" + request.query_string.decode("utf-8", "replace")
            return redirect(url_for("web.signin", next=target))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not g.device_session.user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return signin_required(wrapped)


def current_user():
    return g.device_session.user if g.get("device_session") is not None else None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.isprintable():
            return target
    return url_for("web.my_devices")


# -- every request of the blueprint --------------------------------------------------------
@bp.before_request
def check_csrf():
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.before_request
def load_device_session():
    g.device_session = None
    if request.endpoint == "web.static":
        return
    sid = session.get(SID)
    if not sid:
        return
    services = current_services()
    device_session = services.sessions.live_session(sid)
    if device_session is None:
        session.pop(SID, None)
        return
    services.sessions.touch_session(device_session, device_context())
    g.device_session = device_session


@bp.after_request
def security_headers(response):
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


@bp.context_processor
def page_context():
    return {"current_user": current_user()}


# -- error pages ---------------------------------------------------------------------------
@bp.errorhandler(CSRFError)
def csrf_failed(error):
    return render_template("error.html", code=400, title="This form has expired",
                           message="For your security, forms stop working after a while or when you sign "
                                   "in again. Go back, reload the page and try once more."), 400


@bp.errorhandler(400)
def bad_request(error):
    return render_template("error.html", code=400, title="This request could not be understood",
                           message="Go back, check what you typed and try again."), 400


@bp.errorhandler(403)
def forbidden(error):
    return render_template("error.html", code=403, title="You don't have access to this page",
                           message="This page is for operators. Ask an administrator if you need access."), 403


@bp.errorhandler(404)
def not_found(error):
    return render_template("error.html", code=404, title="Not found",
                           message="There is nothing here, or it belongs to someone else."), 404


# -- template filters ----------------------------------------------------------------------
@bp.app_template_filter("utc")
def format_utc(instant) -> str:
    return instant.strftime("%-d %b %Y, %H:%M UTC") if instant else ""


@bp.app_template_filter("ago")
def format_ago(instant) -> str:
    if instant is None:
        return ""
    seconds = int((current_services().clock.now() - instant).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


@bp.app_template_filter("device")
def describe_device(user_agent):
    return describe_user_agent(user_agent)


@bp.app_template_filter("event_detail")
def event_detail(raw: str | None) -> dict:
    try:
        detail = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}
