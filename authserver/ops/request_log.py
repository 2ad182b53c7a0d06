"""Structured logs: one JSON object per line, for every logger of the process, with the request id
of the request being answered.

- Every request gets an id: the caller's ``X-Request-Id`` when it is a sane one (up to 128 letters,
  digits and ``._:-``; a proxy in front usually sets it), a new one otherwise. It is echoed in the
  response's ``X-Request-Id`` and carried by every line logged while the request is answered.
- Every request ends with one ``request`` line: ``method``, ``path`` (never the query string),
  ``status``, ``duration_ms``, ``ip``, and the ``client_id`` and ``session_id`` the request turned
  out to be about (:func:`annotate`, called where they become known), or null. Bodies, headers,
  tokens, secrets, passwords and codes are never logged. Health checks and scrapes that succeed are
  logged at DEBUG, so load balancers do not drown the log.
- The formatter is :func:`json.dumps`, which escapes every control character: a CR, LF or NUL in
  a path or a header stays inside its JSON string and can never start a line of its own (and, ASCII
  only, U+2028 too: the reason its output is not orjson's, which writes that character as it is).
- Per request, only the line itself is built: the encoder, the level names and the request hooks'
  constants are made once per process; a new request id is 16 random bytes in hex, laid out as a
  version 4 UUID's hex (as ``uuid4().hex`` was); and a line no handler would take is never built.

``authserver serve`` installs the formatter on the root logger (:func:`configure_logging`) and on
gunicorn's error log (:class:`GunicornLogger`); gunicorn's own access log is off, since the
``request`` lines say more.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import time

from flask import g
from flask import has_request_context
from flask import request
from gunicorn.glogging import Logger as _GunicornLogger

from ..http.request_context import client_ip

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # the header as WSGI hands it over
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_LOGGED_PATH = 1024
# Answered often and successfully by design: DEBUG, not INFO.
QUIET_ENDPOINTS = {"health.healthz", "health.readyz", "metrics.metrics_text"}

log = logging.getLogger("authserver.requests")


# json.dumps(entry, default=str), without a new encoder per line
_ENCODER = json.JSONEncoder(default=str)
_LEVEL_NAMES = {level: logging.getLevelName(level).lower()
                for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)}


class JSONFormatter(logging.Formatter):
    """``{"time", "level", "logger", "pid", "message", "request_id"?, ...fields, "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": _LEVEL_NAMES.get(record.levelno) or record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None) or {}
        # A request line carries its id already; any other line looks it up.
        request_id = fields.get("request_id") or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(entry)


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def annotate(**fields) -> None:
    """Name what the current request is about (``client_id``, ``session_id``) on its ``request`` line."""
    if has_request_context():
        g.setdefault("request_log_fields", {}).update(fields)


def register_request_log(app) -> None:
    """Call first of all the request hooks: its after-request hook then runs last (Flask runs them
    last-registered first), after the commit, and logs the status the caller really gets."""

    @app.before_request
    def start_request():
        g.request_started = time.perf_counter()
        given = request.environ.get(REQUEST_ID_ENVIRON)
        g.request_id = given if given and ACCEPTABLE_REQUEST_ID.fullmatch(given) else new_request_id()

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        if started is None:  # not a request of ours (before_request never ran)
            return response
        response.headers[REQUEST_ID_HEADER] = g.request_id
        level = logging.DEBUG if response.status_code < 400 and request.endpoint in QUIET_ENDPOINTS else logging.INFO
        if not log.isEnabledFor(level):
            return response
        log.log(level, "request", extra={"fields": {
            "request_id": g.request_id,
            "method": request.method,
            "path": request.path[:MAX_LOGGED_PATH],
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "ip": client_ip(),
            "client_id": None,
            "session_id": None,
            **g.get("request_log_fields", {}),
        }})
        return response


def new_request_id() -> str:
    """What ``uuid.uuid4().hex`` gives (32 hex digits, version 4, RFC 4122 variant), without building a UUID."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


# -- the process's logging, for `authserver serve` ------------------------------------------------
def configure_logging(stream=None, level=logging.INFO) -> None:
    """Every logger of this process writes JSON lines to ``stream`` (standard error by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


class GunicornLogger(_GunicornLogger):
    """gunicorn's error log (start-up, workers, bad requests it refuses itself) in the same JSON
    lines. Its access log stays off (``accesslog`` is None): the app's ``request`` lines replace it."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(JSONFormatter())
