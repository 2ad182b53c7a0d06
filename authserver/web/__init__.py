"""Server-rendered pages: sign-in, "My devices" and the operators' sessions console.

Every page is a Jinja template under ``templates/`` with one stylesheet under ``static/``; there is
no script and no build step. The pages belong to one blueprint, ``web`` (``blueprint.py``), whose
forms alone are CSRF-protected.

Where things are:

- ``blueprint.py``: the blueprint, CSRF, the form every POST sends, the page a spent failure budget answers
- ``browser_sessions.py``: signing the browser in and out (Flask-Login), the device session of each request,
  ``admin_required``, ``safe_next``
- ``client.py``: the first-party client ``authserver-web`` every web sign-in belongs to
- ``signin.py``, ``my_devices.py``, ``console.py``, ``authorize.py``, ``device_verification.py``, ``docs.py``: the
  pages; ``logout.py``: the pages of the end-session endpoint (OpenID Connect logout)
- ``known_browsers.py``: the sign-in page's device cookie (exempt from the account-wide sign-in budget)
- ``headers.py``: the security headers of every page
- ``filters.py``: the template filters

Errors on these pages are rendered as HTML by the app's one error handler (``errors.py``).
"""

from __future__ import annotations

import datetime as dt

# Each page module adds its routes and hooks to the blueprint when imported.
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
from .blueprint import bp
from .blueprint import csrf


def register_web(app) -> None:
    settings = app.extensions["authserver"].settings
    # CSRFProtect's app-wide check stays off; blueprint.check_csrf runs it for this blueprint only.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # The cookie lives as long as the device session it names could (it is re-checked on every request).
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(seconds=settings.session_max_age_seconds)
    csrf.init_app(app)
    browser_sessions.init_app(app)
    app.register_blueprint(bp)
