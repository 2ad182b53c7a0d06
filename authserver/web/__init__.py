"""Server-rendered pages: sign-in, "My devices" and the operators' sessions console.

Every page is a Jinja template under ``templates/`` with one stylesheet under ``static/``; there is
no script and no build step. The pages belong to one blueprint, ``web``; CSRF protection
(Flask-WTF) applies to that blueprint only, so the token endpoint and the JSON APIs, which are
called by programs rather than browsers, never see it.

Where things are:

- ``browser_sessions.py``: signing the browser in and out (Flask-Login), the device session of each request,
  ``admin_required``, ``safe_next``
- ``client.py``: the first-party client ``authserver-web`` every web sign-in belongs to
- ``signin.py``, ``my_devices.py``, ``console.py``: the pages; ``authorize.py`` and ``logout.py``: the
  pages of the authorization and end-session (OpenID Connect logout) endpoints
- ``device_cookie.py``: the sign-in page's device cookie (exempt from the account-wide sign-in budget)
- ``headers.py``: the security headers of every page
- ``filters.py``: the template filters

Errors on these pages are rendered as HTML by the app's one error handler (``errors.py``).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint
from flask import current_app
from flask import request
from flask_wtf.csrf import CSRFProtect

from ..openapi.document import form
from ..openapi.document import page_response

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
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


# Registered here, before any module of the package adds its hooks, so it runs first: a form post
# without a valid token is refused before the browser's device session is even looked up (browser_sessions.py).
@bp.before_request
def check_csrf():
    if current_app.config.get("WTF_CSRF_ENABLED", True) and request.endpoint not in CSRF_CHECKED_BY_VIEW:
        csrf.protect()


def register_web(app) -> None:
    from . import authorize  # noqa: F401
    from . import browser_sessions
    from . import console  # noqa: F401
    from . import device_verification  # noqa: F401
    from . import docs  # noqa: F401
    from . import filters  # noqa: F401
    from . import headers  # noqa: F401
    from . import logout  # noqa: F401
    from . import my_devices  # noqa: F401
    from . import signin  # noqa: F401

    settings = app.extensions["authserver"].settings
    # CSRFProtect's app-wide check stays off; check_csrf above runs it for this blueprint only.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # The cookie lives as long as the device session it names could (it is re-checked on every request).
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(seconds=settings.session_max_age_seconds)
    csrf.init_app(app)
    browser_sessions.init_app(app)
    app.register_blueprint(bp)
