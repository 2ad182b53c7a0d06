"""JSON APIs for bearer-token callers: the user's device sessions and the operators' admin API.

Every endpoint takes an access token of a live, unrestricted device session (see ``protector.py``)
and answers JSON; errors follow RFC 6750 §3 (token problems) or ``{"error": "not_found"}`` (``errors.py``).
"""


def register_api(app) -> None:
    from .admin import bp as admin_bp
    from .sessions import bp as sessions_bp

    app.register_blueprint(sessions_bp)
    app.register_blueprint(admin_bp)
