"""Error pages and JSON errors: clients get RFC 6749 / 6750 shaped JSON, never a stack trace."""

from __future__ import annotations

import logging

from flask import jsonify
from flask import request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from .database import db
from .database import is_lock_contention

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "1"


def wants_json() -> bool:
    return not request.path.startswith("/account") and not request.path.startswith("/console") \
        and not request.path.startswith("/signin")


def json_error(status: int, error: str, description: str, headers=None):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app) -> None:
    @app.errorhandler(DBAPIError)
    def database_error(error):
        db.session.rollback()
        if is_lock_contention(error):
            # Another request holds the lock (e.g. a parallel refresh): retryable, not a grant error.
            log.warning("lock contention on %s", request.path)
            return json_error(409, "temporarily_unavailable", "The request conflicted with another; retry.",
                              {"Retry-After": RETRY_AFTER_SECONDS})
        log.exception("database error on %s", request.path)
        return json_error(503, "temporarily_unavailable", "The server cannot complete the request now; retry.",
                          {"Retry-After": RETRY_AFTER_SECONDS})

    @app.errorhandler(HTTPException)
    def http_error(error):
        if not wants_json():
            return error
        code = {404: "not_found", 405: "invalid_request"}.get(error.code, "invalid_request")
        response = json_error(error.code, code, error.description or error.name)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error):
        db.session.rollback()
        log.exception("unexpected error on %s", request.path)
        return json_error(500, "server_error", "The server encountered an unexpected condition.")
