"""The end-session endpoint's pages (OpenID Connect RP-Initiated Logout 1.0): an app sends the browser
here (GET, or a form POST) to sign the user out.

With a valid ``id_token_hint`` the app's device session and the browser's sign-in end at once, and
the browser goes back to the app's registered ``post_logout_redirect_uri`` (with ``state``) or sees
the signed-out page. Without one, a signed-in user is asked first (§6: anyone can send a browser
here). A ``post_logout_redirect_uri`` the app (named by ``client_id`` or the hint) did not register is
an error page, never a redirect.
The checks are ``oauth/oidc/logout.py``'s.

Apps post here from their own pages, without this server's CSRF token; only the confirmation form,
which is this server's, carries one, and it is checked here.
"""

from __future__ import annotations

from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..errors import UnregisteredLogoutRedirect
from ..http import paths
from ..oauth.oidc.logout import EndSession
from ..openapi.document import DATABASE_PAGES
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from .blueprint import FORM_EXPIRED
from .blueprint import bp
from .blueprint import csrf
from .browser_sessions import sign_out

SIGN_OUT = "signout"
TEXT = {"type": "string"}
LOGOUT_REQUEST = {
    "id_token_hint": {"type": "string", "description": "An ID token this server issued to the app, expired or not."},
    "client_id": TEXT,
    "post_logout_redirect_uri": {"type": "string", "description": "Registered for the app; needs a valid hint."},
    "state": {"type": "string", "description": "Returned unchanged with the redirect."},
}
ANSWERS = {
    200: page_response("Signed out; or, without a valid hint, the question whether to sign out."),
    302: redirect_response("Signed out: to the app's `post_logout_redirect_uri` with `state`; a browser that "
                           "chose to stay signed in: to My devices."),
    400: page_response("A `post_logout_redirect_uri` the app did not register, a `client_id` that is not the "
                       "hint's audience (never redirected); an expired confirmation form."),
    **DATABASE_PAGES,
}
SIGNED_IN_OR_NOT = browser_session() + [{}]


@bp.route(paths.END_SESSION, methods=["GET", "POST"])
@operation("get", summary="End session (OpenID Connect RP-Initiated Logout 1.0)", tags=["oauth"],
           security=SIGNED_IN_OR_NOT, query={name: {"schema": schema} for name, schema in LOGOUT_REQUEST.items()},
           responses=ANSWERS)
@operation("post", summary="End session: an app's form, or the confirmation page's", tags=["oauth"],
           security=SIGNED_IN_OR_NOT,
           body={"required": False, "description": "The app's logout request, or the confirmation form.",
                 "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                     **LOGOUT_REQUEST, "csrf_token": TEXT, "decision": {"enum": [SIGN_OUT, "stay"]}}}}}},
           responses={**ANSWERS, 400: page_response(f"{ANSWERS[400]['description']} {FORM_EXPIRED['description']}")})
def end_session():
    server = current_app.extensions["authserver.oauth"]
    logout = server.validate_endpoint_request(EndSession.ENDPOINT_NAME)  # a client_id not the hint's: 400
    asked = logout.request.payload.data.get("post_logout_redirect_uri")
    # Without a client (no client_id, no valid hint) it is never used: there is no redirect without a valid hint.
    if asked and logout.client and not logout.client.check_post_logout_redirect_uri(asked):
        raise UnregisteredLogoutRedirect("The post_logout_redirect_uri is not registered for this client.")
    if logout.needs_confirmation and g.device_session is not None:
        if "decision" not in request.form:
            return render_template("signout_confirm.html", client=logout.client, hidden=carried(logout))
        csrf.protect()
        if request.form["decision"] != SIGN_OUT:
            return redirect(url_for("web.my_devices"))
    response = server.create_endpoint_response(EndSession.ENDPOINT_NAME, logout)
    sign_out()
    return response or render_template("signed_out.html", client=logout.client if logout.id_token_claims else None)


def carried(logout) -> dict:
    """What the confirmation form posts back of the app's request (the hint was not valid: left out)."""
    data = logout.request.payload.data
    return {name: data[name] for name in ("client_id", "post_logout_redirect_uri", "state") if data.get(name)}
