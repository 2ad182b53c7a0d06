"""Signing in and out of the first-party web client (``/signin``, ``/account/signout``)."""

from __future__ import annotations

from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required

from .. import accounts
from ..request_context import client_ip
from ..services import current_services
from ..throttle import login_retry_after
from . import bp
from .auth import safe_next
from .auth import sign_in
from .auth import sign_out

BAD_CREDENTIALS = "The username or password is incorrect."


@bp.get("/")
def home():
    return redirect(url_for("web.my_devices"))


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.device_session is not None:
            return redirect(target)
        return render_template("signin.html", next=request.args.get("next", ""))

    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ip = client_ip()
    retry_after = login_retry_after(current_services(), username, ip) if username else None
    if retry_after:
        # The token endpoint's throttle, so the page is no way around it.
        minutes = -(-retry_after // 60)
        error = f"Too many failed sign-ins. Try again in {minutes} minute{'' if minutes == 1 else 's'}."
        page = render_template("signin.html", error=error, username=username, next=request.form.get("next", ""))
        return page, 429, {"Retry-After": str(retry_after)}
    if not username or not password:
        error = "Enter your username and password."
    else:
        # Same message for an unknown user, a wrong password and a disabled account; failures are logged.
        user = accounts.authenticate_user(current_services(), username, password, ip=ip)
        if user is not None:
            sign_in(user)
            return redirect(target)
        error = BAD_CREDENTIALS
    return render_template("signin.html", error=error, username=username, next=request.form.get("next", ""))


@bp.post("/account/signout")
@login_required
def signout():
    sign_out()
    flash("You have signed out.", "success")
    return redirect(url_for("web.signin"))
