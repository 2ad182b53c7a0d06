"""Server-rendered pages: sign-in, "My devices" and the operators' sessions console.

Every page is a Jinja template under ``templates/`` with one stylesheet under ``static/``; there is
no script and no build step. The pages belong to one blueprint, ``web``; CSRF protection
(Flask-WTF) applies to that blueprint only, so the token endpoint and the JSON APIs, which are
called by programs rather than browsers, never see it.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/web/static")
csrf = CSRFProtect()


def register_web(app) -> None:
    from . import browser  # noqa: F401  (hooks, filters, error pages)
    from . import console  # noqa: F401
    from . import devices  # noqa: F401
    from . import signin  # noqa: F401

    settings = app.extensions["authserver"].settings
    # CSRFProtect's app-wide check stays off; browser.check_csrf runs it for this blueprint only.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # The cookie lives as long as the device session it names could (it is re-checked on every request).
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(seconds=settings.session_max_age_seconds)
    csrf.init_app(app)
    app.register_blueprint(bp)
