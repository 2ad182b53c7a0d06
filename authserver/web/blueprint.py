"""The ``web`` blueprint every page belongs to, with what all its forms share: CSRF protection
(Flask-WTF) for this blueprint only, so the token endpoint and the JSON APIs, which are called by
programs rather than browsers, never see it; the form every POST of a page sends, as
``/openapi.json`` declares it; and the form again, answered 429, when a failure budget is spent."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFProtect

from ..errors import WEB_BLUEPRINT
from ..errors import Throttled
from ..openapi.document import form
from ..openapi.document import page_response

bp = Blueprint(WEB_BLUEPRINT, __name__, template_folder="templates", static_folder="static",
               static_url_path="/web/static")
csrf = CSRFProtect()

# For /openapi.json: what the CSRF check below answers, and the form every POST of a page sends.
FORM_EXPIRED = page_response("The form's CSRF token is missing, expired or of another sign-in.")


def csrf_form(description: str, **fields) -> dict:
    return form({"type": "object", "required": ["csrf_token"],
                 "properties": {"csrf_token": {"type": "string", "description": "From the page that showed the form."},
                                **fields}}, description)


# Pages that apps post to from their own pages (OpenID Connect's end-session endpoint, logout.py): their
# views check the token of this server's own form only.
CSRF_CHECKED_BY_VIEW = {"web.end_session"}


# Registered here, before any page adds its hooks, so it runs first: a form post without a valid
# token is refused before the browser's device session is even looked up (browser_sessions.py).
@bp.before_request
def check_csrf():
    if current_app.config.get("WTF_CSRF_ENABLED", True) and request.endpoint not in CSRF_CHECKED_BY_VIEW:
        csrf.protect()


def throttled_page(throttled: Throttled, template: str, **context):
    """The form's page again, saying how long to wait (in whole minutes, rounded up), answered 429
    with ``Retry-After``: a spent failure budget (``accounts/throttle.py``)."""
    minutes = -(-throttled.retry_after // 60)
    error = f"Too many {throttled.what}. Try again in {minutes} minute{'' if minutes == 1 else 's'}."
    return render_template(template, error=error, **context), 429, {"Retry-After": str(throttled.retry_after)}
