"""The ``web`` blueprint every page belongs to, with what all its forms share: CSRF protection
(Flask-WTF) for this blueprint only, so the token endpoint and the JSON APIs, which are called by
programs rather than browsers, never see it; and the form every POST of a page sends, as
``/openapi.json`` declares it."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask_wtf.csrf import CSRFProtect

from ..errors import WEB_BLUEPRINT
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


# Registered here, before any page adds its hooks, so it runs first: a form post without a valid
# token is refused before the browser's device session is even looked up (browser_sessions.py).
@bp.before_request
def check_csrf():
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
