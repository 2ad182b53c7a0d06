"""Error pages and JSON errors: clients get RFC 6749 / 6750 shaped JSON, never a stack trace."""

from __future__ import annotations

import logging

from flask import abort
from flask import jsonify
from flask import request
from sqlalchemy.exc import DataError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException

from .database import db
from .database import is_lock_contention

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "1"
FORM = "application/x-www-form-urlencoded"


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


def has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def register_error_handlers(app) -> None:
    @app.before_request
    def refuse_nul_characters():
        # No parameter of ours contains NUL, and PostgreSQL cannot store or even look one up:
        # refuse it up front as bad input rather than fail later as a database error.
        args = request.args.items(multi=True)
        form = ()
        if request.mimetype == FORM:
            request.get_data(cache=True)  # keep the raw body: request_checks.py reads it after the form
            form = request.form.items(multi=True)
        if "\x00" in request.path or has_nul(value for pair in (*args, *form) for value in pair):
            abort(400, "Parameters must not contain NUL characters.")

    @app.errorhandler(DataError)
    def unstorable_value(error):
        # A value the database refuses (e.g. too long for its column): bad input, retrying won't help.
        db.session.rollback()
        log.warning("value refused by the database on %s: %s", request.path, type(error.orig).__name__)
        return http_error(BadRequest("A value in the request cannot be stored."))

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
