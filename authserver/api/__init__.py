"""JSON APIs for bearer-token callers under ``/api``: who the caller is (``/api/me``), the user's device
sessions and connected apps, and the operators' admin API.

Every endpoint takes a live access token (``protector.py`` says which: the scope each view names,
never a restricted session for what manages the account) and answers JSON that is never cached;
errors follow RFC 6750 §3 (token problems) or ``{"error": "not_found"}`` (``errors.py``).
"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


# Nested once, when the package is imported: the one blueprint serves every app (tests build many).
from .account_sessions import bp as sessions_bp  # noqa: E402
from .admin import bp as admin_bp  # noqa: E402
from .connected_apps import bp as consents_bp  # noqa: E402
from .me import bp as me_bp  # noqa: E402

for child in (me_bp, sessions_bp, consents_bp, admin_bp):
    bp.register_blueprint(child)


def register_api(app) -> None:
    app.register_blueprint(bp)
