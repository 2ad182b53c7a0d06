"""The device verification page (RFC 8628 §3.3): a signed-in user enters the code a TV, CLI or
sensor shows (pre-filled from ``verification_uri_complete``), sees which app and device asks for
which scopes, and approves or denies. Wrong codes are counted per user and per IP, like wrong
passwords (``throttle.py``), so that the short codes cannot be guessed (§5.1)."""

from __future__ import annotations

from flask import g
from flask import render_template
from flask import request
from flask_login import login_required

from ..accounts import resources
from ..accounts import throttle
from ..errors import Throttled
from ..http import paths
from ..openapi.document import DATABASE_PAGES
from ..openapi.document import RETRY_AFTER
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..scopes import describe_held
from ..services import current_services
from ..sessions.user_agents import describe_user_agent
from ..store import device_authorizations
from ..store import security_events
from .blueprint import bp
from .blueprint import csrf_form
from .blueprint import throttled_page
from .browser_sessions import SIGNED_OUT

WRONG_CODE = "That code is not valid. Check the code on your device; it may have expired or been used already."

# For /openapi.json: what entering a code answers (pending_authorization).
USER_CODE = {"type": "string", "description": "The code the device shows, e.g. `WDJB-MJHT`."}
CODE_REFUSED = {400: page_response("The code is wrong, expired or used (counted against guessing); an expired form."),
                429: page_response("Too many wrong codes from this user or address.", RETRY_AFTER)}


@bp.get(paths.DEVICE_VERIFICATION)
@operation("get", summary="Connect a device: enter its code (RFC 8628 §3.3)", tags=["device"],
           security=browser_session(), query={"user_code": {"schema": USER_CODE}},
           description="`verification_uri_complete` fills the code in.",
           responses={200: page_response("The code form."), 302: SIGNED_OUT, **DATABASE_PAGES})
@login_required
def device_verification():
    return render_template("device.html", user_code=request.args.get("user_code", ""))


@bp.post(paths.DEVICE_VERIFICATION)
@operation("post", summary="Look up a device code", tags=["device"], security=browser_session(),
           body=csrf_form("The code form.", user_code=USER_CODE),
           responses={200: page_response("Which app on which device asks for what: Approve and Deny."),
                      302: SIGNED_OUT, **CODE_REFUSED, **DATABASE_PAGES})
@login_required
def device_lookup():
    user_code = request.form.get("user_code", "")
    authorization, refusal = pending_authorization(user_code)
    if authorization is None:
        return refusal
    # What the device's restricted session may use: the account scopes are not offered as if it could.
    return render_template("device_confirm.html", authorization=authorization, user_code=user_code,
                           scopes=describe_held(authorization.scope, restricted=True),
                           device=authorization.device_name or describe_user_agent(authorization.user_agent).label,
                           resources=resources.described(authorization.resources))  # RFC 8707


@bp.post(paths.DEVICE_VERIFICATION + "/decision")
@operation("post", summary="Approve or deny a device", tags=["device"], security=browser_session(),
           description="Approval lets the device's next poll get tokens of a restricted device session.",
           body=csrf_form("The decision.", user_code=USER_CODE, decision={"enum": ["approve", "deny"]}),
           responses={200: page_response("Done: the device is connected, or was refused."),
                      302: SIGNED_OUT, **CODE_REFUSED, **DATABASE_PAGES})
@login_required
def device_decision():
    authorization, refusal = pending_authorization(request.form.get("user_code", ""))
    if authorization is None:
        return refusal
    approved = request.form.get("decision") == "approve"
    services = current_services()
    if not device_authorizations.decide(authorization, g.device_session.user, approved, services.clock.now()):
        return render_template("device.html", error=WRONG_CODE), 400
    return render_template("device_done.html", approved=approved, client=authorization.client)


def pending_authorization(user_code: str):
    """(authorization, None) for a good code; (None, the page to answer) otherwise, counting the failure."""
    services, user, ip = current_services(), g.device_session.user, request.remote_addr
    try:
        throttle.check_user_codes(services, user.id, ip)
    except Throttled as throttled:
        return None, throttled_page(throttled, "device.html", user_code=user_code)
    authorization = device_authorizations.find_pending(user_code, services.clock.now())
    if authorization is None:
        security_events.record_event(security_events.USER_CODE_FAILED, services.clock.now(), user=user, ip=ip)
        return None, (render_template("device.html", error=WRONG_CODE, user_code=user_code), 400)
    return authorization, None
