"""My devices (``/account/devices``): the signed-in user's live sessions and connected apps, and
signing devices out or disconnecting an app (``consents.withdraw_consent``)."""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required

from .. import consents
from ..services import current_services
from ..sessions import ENDED_BY_USER
from . import bp
from .auth import sign_out


def device_label(device_session) -> str:
    return device_session.device_name or "Unknown device"


@bp.get("/account/devices")
@login_required
def my_devices():
    current = g.device_session
    sessions = current_services().sessions.list_sessions(current.user_id)
    sessions.sort(key=lambda s: s.id != current.id)  # this device first, then most recently active
    return render_template("my_devices.html", sessions=sessions, current_id=current.id,
                           apps=consents.list_consents(current.user_id))


@bp.post("/account/apps/<client_id>/disconnect")
@login_required
def disconnect_app(client_id):
    current = g.device_session
    consent = consents.find_consent(current.user_id, client_id)
    if consent is None:
        abort(404)
    name = consent.client.name
    consents.withdraw_consent(current_services(), current.user, client_id, ip=request.remote_addr)
    flash(f"Disconnected {name}: it can no longer use your account.", "success")
    return redirect(url_for("web.my_devices"))


@bp.post("/account/devices/<sid>/signout")
@login_required
def sign_out_device(sid):
    current = g.device_session
    target = current_services().sessions.find_user_session(sid, current.user_id)
    if target is None:
        abort(404)  # unknown, or another user's: the same answer
    if target.id == current.id:
        sign_out()
        flash("You have signed out.", "success")
        return redirect(url_for("web.signin"))
    label = device_label(target)
    if current_services().sessions.end_session(target.id, ENDED_BY_USER, actor=current.user.username,
                                               ip=request.remote_addr):
        flash(f"Signed out {label}.", "success")
    else:
        flash(f"{label} was already signed out.", "info")
    return redirect(url_for("web.my_devices"))


@bp.post("/account/devices/signout-others")
@login_required
def sign_out_other_devices():
    current = g.device_session
    count = current_services().sessions.end_user_sessions(current.user_id, ENDED_BY_USER,
                                                          actor=current.user.username, ip=request.remote_addr,
                                                          keep_session_id=current.id)
    if count:
        flash(f"Signed out {count} other device{'' if count == 1 else 's'}.", "success")
    else:
        flash("No other device was signed in.", "info")
    return redirect(url_for("web.my_devices"))
