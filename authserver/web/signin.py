"""Signing in and out of the first-party web client (``/signin``, ``/account/signout``).

The sign-in page says who is asking: the app, when the browser came from the authorization endpoint
(its ``client_id`` is public), or a device, when it came from the device page; only a user who came
to manage their own devices sees the page's own purpose. A device's code is never looked up before
sign-in (that would let anyone test codes without spending the wrong-code budget), so the device is
named on the page after, with the app and what it asks for."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required

from ..accounts import throttle
from ..accounts import users
from ..errors import Throttled
from ..http import paths
from ..http.request_context import client_ip
from ..openapi.document import DATABASE_PAGES
from ..openapi.document import RETRY_AFTER
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from ..services import current_services
from ..store.clients import find_client
from . import known_browsers
from .blueprint import FORM_EXPIRED
from .blueprint import bp
from .blueprint import csrf_form
from .blueprint import throttled_page
from .browser_sessions import safe_next
from .browser_sessions import sign_in
from .browser_sessions import sign_out

BAD_CREDENTIALS = "The username or password is incorrect."
NEXT = {"type": "string", "description": "Where to go after signing in: a path on this server (others are ignored)."}
SIGNED_IN = browser_session() + [{}]  # used when present


@bp.get("/")
@operation("get", summary="Home: My devices", tags=["web"], security=SIGNED_IN,
           responses={302: redirect_response("To My devices (`/account/devices`).")})
def home():
    return redirect(url_for("web.my_devices"))


@bp.route("/signin", methods=["GET", "POST"])
@operation("get", summary="The sign-in page", tags=["web"], security=SIGNED_IN,
           query={"next": {"schema": NEXT},
                  "prompt": {"schema": {"type": "string"}, "description": "`login`: the form even when signed in "
                                                                           "(an app asked for a new sign-in)."}},
           responses={200: page_response("The sign-in form."), 302: redirect_response("Already signed in: to `next`."),
                      **DATABASE_PAGES})
@operation("post", summary="Sign in", tags=["web"], security=SIGNED_IN,
           description="Opens a device session of the first-party web client and names it in the cookie, and "
                       "gives the browser a device cookie (`authserver_device`, sent to `/signin` only): with it, "
                       "the browser is exempt from the username's account-wide budget of failed sign-ins.",
           body=csrf_form("The sign-in form.", username={"type": "string"}, password={"type": "string"}, next=NEXT),
           responses={302: redirect_response("Signed in: to `next`, or My devices."),
                      200: page_response("The form again, saying what went wrong (wrong or missing credentials)."),
                      400: FORM_EXPIRED,
                      429: page_response("Too many wrong passwords for this username (from this address, or from "
                                         "anywhere unless this browser's device cookie is for it), from this "
                                         "address, or with this device cookie.", RETRY_AFTER),
                      **DATABASE_PAGES})
def signin():
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        # prompt=login: an app asked that the user sign in again (OpenID Connect, web/authorize.py).
        if g.device_session is not None and request.args.get("prompt") != "login":
            return redirect(target)
        return signin_page(request.args.get("next", ""))

    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ip = client_ip()
    device = known_browsers.known_device(username)
    if username:
        try:
            # The token endpoint's throttle, so the page is no way around it.
            throttle.check_login(current_services(), username, ip, device_cookie=device)
        except Throttled as throttled:
            return throttled_page(throttled, "signin.html", username=username, **asking(request.form.get("next", "")))
    if not username or not password:
        error = "Enter your username and password."
    else:
        # Same message for an unknown user, a wrong password and a disabled account; failures are logged.
        user = users.authenticate_user(current_services(), username, password, ip=ip, device_cookie=device)
        if user is not None:
            sign_in(user)
            return known_browsers.issue(redirect(target), user.username)
        error = BAD_CREDENTIALS
    return signin_page(request.form.get("next", ""), error=error, username=username)


def signin_page(next_path: str, **context):
    return render_template("signin.html", **asking(next_path), **context)


def asking(next_path: str) -> dict:
    """The page's ``next`` and who asks the user to sign in: ``app`` (a client's name) when ``next`` is
    the authorization endpoint, ``device`` when it is the device page; neither for the user's own pages."""
    parts = urlsplit(safe_next(next_path)) if next_path else None
    context = {"next": next_path, "app": None, "device": False}
    if parts is not None and parts.path == paths.AUTHORIZATION:
        client_id = parse_qs(parts.query).get("client_id", [""])[0]
        client = find_client(client_id) if client_id else None
        context["app"] = client.name if client is not None else None
    elif parts is not None and parts.path == paths.DEVICE_VERIFICATION:
        context["device"] = True
    return context


@bp.post("/account/signout")
@operation("post", summary="Sign out", tags=["web"], security=browser_session(),
           body=csrf_form("The sign-out form."),
           responses={302: redirect_response("Signed out (the device session ended): to `/signin`."),
                      400: FORM_EXPIRED, **DATABASE_PAGES})
@login_required
def signout():
    sign_out()
    flash("You have signed out.", "success")
    return redirect(url_for("web.signin"))
