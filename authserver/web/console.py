"""The operators' sessions console (``/console``, admins only). Its start page shows the last 24 hours
as a chart (``activity_chart.py``) and the latest security events, searchable by username, client and
kind, a page at a time; from there, find a user, see their sessions and security events, end one
session or all of them, disable the user."""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..accounts import users
from ..openapi.document import DATABASE_PAGES
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from ..services import current_services
from ..sessions.device_sessions import ENDED_BY_ADMIN
from ..store import security_events
from ..store.users import search_users
from .activity_chart import last_24_hours
from .blueprint import FORM_EXPIRED
from .blueprint import bp
from .blueprint import csrf_form
from .browser_sessions import NOT_ADMIN
from .browser_sessions import SIGNED_OUT
from .browser_sessions import admin_required
from .my_devices import device_label

EVENT_LABELS = {
    security_events.LOGIN_SUCCEEDED: "Signed in",
    security_events.LOGIN_FAILED: "Failed sign-in",
    security_events.REFRESH_TOKEN_REUSED: "Refresh token reuse detected",
    security_events.AUTHORIZATION_CODE_REUSED: "Authorization code reuse detected",
    security_events.USER_CODE_FAILED: "Wrong device code entered",
    security_events.SESSION_ENDED: "Session ended",
    security_events.USER_DISABLED: "User disabled",
    security_events.ACCESS_TOKEN_REVOKED: "Access token revoked",
    security_events.CLIENT_AUTH_FAILED: "Failed client authentication",
    security_events.TOKEN_LOOKUP_FAILED: "Unknown token presented",
    security_events.INTROSPECTION_LOOKUP_FAILED: "Unknown token introspected",
    security_events.OUTBOUND_GIVEN_UP: "Outbound delivery given up",
}
ALERT_EVENTS = {security_events.LOGIN_FAILED, security_events.REFRESH_TOKEN_REUSED,
                security_events.AUTHORIZATION_CODE_REUSED, security_events.USER_DISABLED}
REASON_LABELS = {
    "bad_credentials": "wrong username or password",
    "disabled": "account disabled",
    "user": "signed out by the user",
    "admin": "ended by an operator",
    "revocation": "token revoked",
    "refresh_token_reuse": "refresh token reused",
    "idle_timeout": "unused for too long",
    "max_age": "reached its maximum age",
    "user_disabled": "user disabled",
    "other": "other causes",
}
# The start page's security events: this many a page.
EVENTS_PER_PAGE = 25


USERNAME = {"description": "A username.", "schema": {"type": "string", "minLength": 1, "maxLength": 150}}
# What every action of the console answers.
ACTION = {302: redirect_response("Back to the user in the console (to `/signin` when signed out)."),
          400: FORM_EXPIRED, 403: NOT_ADMIN, 404: page_response("No such user or session."), **DATABASE_PAGES}


def back_to(user):
    return redirect(url_for("web.console", username=user.username))


@bp.get("/console")
@operation("get", summary="Sessions console", tags=["web"], security=browser_session(),
           query={"username": {"schema": {"type": "string"}, "description": "Find this user (or users like it)."},
                  "user": {"schema": {"type": "string"}, "description": "Start page: the events of this username."},
                  "client": {"schema": {"type": "string"}, "description": "Start page: the events of this client id."},
                  "kind": {"schema": {"type": "string"}, "description": "Start page: the events of this kind."},
                  "before": {"schema": {"type": "integer"}, "description": "Start page: events older than this one "
                                                                           "(the next page)."}},
           responses={200: page_response("Without `username`: the last 24 hours as a chart and the latest security "
                                         "events; with it, the user's sessions and security events, or the users "
                                         "found."),
                      302: SIGNED_OUT, 403: NOT_ADMIN, **DATABASE_PAGES})
@admin_required
def console():
    query = request.args.get("username", "").strip()
    user = users.find_user(query) if query else None
    start_page = {} if query else start_page_context()
    return render_template(
        "console.html",
        **start_page,
        query=query,
        user=user,
        matches=search_users(query) if query and user is None else [],
        sessions=current_services().sessions.list_sessions(user.id) if user else [],
        events=security_events.recent_events(user) if user else [],
        current_id=g.device_session.id,
        event_labels=EVENT_LABELS,
        alert_events=ALERT_EVENTS,
        reason_labels=REASON_LABELS,
    )


def start_page_context() -> dict:
    """The start page's chart and a page of events matching the filters, with the link to the next page."""
    filters = {name: request.args.get(name, "").strip() for name in ("user", "client", "kind")}
    before = request.args.get("before", type=int)
    rows = security_events.search_events(username=filters["user"], client_id=filters["client"], kind=filters["kind"],
                                          before_id=before, limit=EVENTS_PER_PAGE + 1)
    recent = [event for event, _ in rows[:EVENTS_PER_PAGE]]
    older = None
    if len(rows) > EVENTS_PER_PAGE:
        older = url_for("web.console", **{name: value for name, value in filters.items() if value},
                        before=recent[-1].id)
    return {"chart": last_24_hours(current_services().clock.now()), "filters": filters, "recent": recent,
            "client_names": {event.client_id: name for event, name in rows if name}, "older": older}


@bp.post("/console/users/<path:username>/sessions/<sid>/end")
@operation("post", summary="End one session of a user", tags=["web"], security=browser_session(),
           parameters={"username": USERNAME}, body=csrf_form("The session's form."), responses=ACTION)
@admin_required
def end_user_session(username, sid):
    user = users.require_user(username)
    target = current_services().sessions.find_user_session(sid, user.id)
    if target is None:
        abort(404)
    if current_services().sessions.end_session(target.id, ENDED_BY_ADMIN, actor=g.device_session.user.username,
                                               ip=request.remote_addr):
        flash(f"Ended {user.username}'s session on {device_label(target)}.", "success")
    else:
        flash("That session had already ended.", "info")
    return back_to(user)


@bp.post("/console/users/<path:username>/sessions/end")
@operation("post", summary="End all sessions of a user", tags=["web"], security=browser_session(),
           parameters={"username": USERNAME}, body=csrf_form("The user's form."), responses=ACTION)
@admin_required
def end_all_user_sessions(username):
    user = users.require_user(username)
    count = current_services().sessions.end_user_sessions(user.id, ENDED_BY_ADMIN,
                                                          actor=g.device_session.user.username,
                                                          ip=request.remote_addr)
    flash(f"Ended {count} session{'' if count == 1 else 's'} of {user.username}.", "success")
    return back_to(user)


@bp.post("/console/users/<path:username>/disable")
@operation("post", summary="Disable a user", tags=["web"], security=browser_session(),
           description="The user can no longer sign in; every session of theirs ends.",
           parameters={"username": USERNAME}, body=csrf_form("The user's form."), responses=ACTION)
@admin_required
def disable_user(username):
    user = users.require_user(username)
    admin = g.device_session.user
    if user.id == admin.id:
        flash("You cannot disable your own account here.", "error")
        return back_to(user)
    if user.is_disabled:
        flash(f"{user.username} was already disabled.", "info")
        return back_to(user)
    count = users.disable_user(current_services(), user, actor=admin.username, ip=request.remote_addr)
    flash(f"Disabled {user.username} and ended {count} session{'' if count == 1 else 's'}.", "success")
    return back_to(user)
