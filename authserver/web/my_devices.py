"""My devices (``/account/devices``): the signed-in user's live sessions (with the apps each browser
signed in to), connected apps, and signing devices out or disconnecting an app (``consents.withdraw_consent``)."""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required

from ..openapi.document import DATABASE_PAGES
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_USER
from ..store import consents
from .blueprint import FORM_EXPIRED
from .blueprint import bp
from .blueprint import csrf_form
from .browser_sessions import SIGNED_OUT
from .browser_sessions import sign_out


def device_label(device_session) -> str:
    return device_session.device_name or "Unknown device"


@bp.get("/account/devices")
@operation("get", summary="My devices", tags=["web"], security=browser_session(),
           responses={200: page_response("The signed-in user's live sessions."), 302: SIGNED_OUT, **DATABASE_PAGES})
@login_required
def my_devices():
    current = g.device_session
    sessions = current_services().sessions.list_sessions(current.user_id)
    sessions.sort(key=lambda s: s.id != current.id)  # this device first, then most recently active
    return render_template("my_devices.html", sessions=sessions, current_id=current.id,
                           apps=consents.list_consents(current.user_id), signed_in_to=apps_signed_in_to(sessions))


def apps_signed_in_to(sessions) -> dict[str, list[str]]:
    """{browser session id: the names of the apps it signed in to}: the live sessions the code flow
    opened through it (``DeviceSession.browser_session_id``)."""
    apps = {}
    for session in sessions:
        if session.browser_session_id:
            apps.setdefault(session.browser_session_id, []).append(session.client.name)
    return apps


@bp.post("/account/apps/<client_id>/disconnect")
@operation("post", summary="Disconnect an app (Connected apps)", tags=["web"], security=browser_session(),
           description="The consent is forgotten and every session of the user with that app ends.",
           body=csrf_form("The app's form on My devices."),
           responses={302: redirect_response("To My devices (to `/signin` when signed out)."), 400: FORM_EXPIRED,
                      404: page_response("The user has not connected this app."), **DATABASE_PAGES})
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
@operation("post", summary="Sign out one device", tags=["web"], security=browser_session(),
           body=csrf_form("The device's sign-out form."),
           responses={302: redirect_response("To My devices (to `/signin` for this device, or when signed out)."),
                      400: FORM_EXPIRED, 404: page_response("No such session of the signed-in user."),
                      **DATABASE_PAGES})
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
@operation("post", summary="Sign out all other devices", tags=["web"], security=browser_session(),
           body=csrf_form("The form of My devices."),
           responses={302: redirect_response("To My devices (to `/signin` when signed out)."), 400: FORM_EXPIRED,
                      **DATABASE_PAGES})
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
