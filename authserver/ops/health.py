"""Health checks for load balancers and orchestrators, unauthenticated and cheap.

- ``GET /healthz``: the process is up and answering. Touches nothing else, so a database outage
  never gets every node restarted.
- ``GET /readyz``: this node can serve: a signing key is loaded and the database answers (with our
  tables) within ``READY_TIMEOUT_SECONDS``. Otherwise ``503 temporarily_unavailable`` whose
  one-line description is the reason, so the load balancer sends traffic elsewhere; each such
  answer is counted (``authserver_readiness_failures_total``), so an alert can see what the load
  balancer saw (the metrics are served apart from the app, and answer while the database does not).

The database is asked on a connection of its own, in a thread the request waits for at most the
timeout: a database that accepts connections and then hangs must not hang the check with it. At
most one such probe runs per process; while one is still waiting, the answer is 503 at once.
"""

from __future__ import annotations

import threading

from flask import Blueprint
from flask import jsonify

from ..errors import TemporarilyUnavailable
from ..openapi.document import RETRY_AFTER
from ..openapi.document import error_response
from ..openapi.document import json_response
from ..openapi.document import operation
from ..services import current_services
from ..store.database import db

bp = Blueprint("health", __name__)

READY_TIMEOUT_SECONDS = 1.0
# What the probe runs: cheap, and it fails when the schema is missing (no `authserver db upgrade` yet).
PROBE_QUERY = "SELECT 1 FROM users WHERE 1 = 0"

_probe_lock = threading.Lock()
_probe_running = threading.Event()


@bp.get("/healthz")
@operation("get", summary="Liveness", tags=["operations"],
           description="The process is up and answering; the database is not asked.",
           responses={200: json_response("Alive.", {"type": "object", "required": ["status"],
                                                    "properties": {"status": {"const": "ok"}},
                                                    "additionalProperties": False})})
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@operation("get", summary="Readiness", tags=["operations"],
           description=f"A signing key is loaded and the database answers with our tables within "
                       f"{READY_TIMEOUT_SECONDS:g} s.",
           responses={200: json_response("Ready to serve.", {"type": "object", "required": ["status"],
                                                             "properties": {"status": {"const": "ready"}},
                                                             "additionalProperties": False}),
                      503: error_response("`temporarily_unavailable`, the reason in `error_description` (no signing "
                                          "key, no schema, a database that does not answer).", RETRY_AFTER)})
def readyz():
    reason = signing_key_problem() or database_problem(db.engine, READY_TIMEOUT_SECONDS)
    if reason:
        current_services().metrics.count("readiness_failures")
        raise TemporarilyUnavailable(f"Not ready: {reason}.", 503, retry_after=5)
    return jsonify(status="ready")


def signing_key_problem() -> str | None:
    try:
        current_services().keyring.signing_key_set()
    except Exception as error:  # no key left in the folder, an unreadable folder...
        return "no signing key is loaded (" + first_line(error) + ")"
    return None


def database_problem(engine, timeout: float) -> str | None:
    """Why the database cannot serve us, or None. Waits at most ``timeout`` seconds."""
    with _probe_lock:
        if _probe_running.is_set():
            return "the database has not answered an earlier check yet"
        _probe_running.set()
    outcome = {}

    def probe():
        try:
            # A pooled DBAPI connection, outside SQLAlchemy's transaction events: on SQLite no
            # BEGIN IMMEDIATE, so the check never waits for (or holds) the write lock.
            connection = engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute(PROBE_QUERY)
                cursor.fetchall()
                cursor.close()
            finally:
                connection.close()
        except Exception as error:
            outcome["error"] = error
        finally:
            _probe_running.clear()

    thread = threading.Thread(target=probe, name="readyz-database-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"the database did not answer within {timeout:g} s"
    error = outcome.get("error")
    if error is None:
        return None
    reason = first_line(error)
    if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
        return "the database has no schema; run `authserver db upgrade`"
    return "the database cannot be used: " + reason


def first_line(error: Exception) -> str:
    """The driver's first line (host and cause, never the password), without what an error
    description may not hold (RFC 6749: printable ASCII without '"' or '\\')."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return "".join(c for c in line if " " <= c <= "~" and c not in '"\\')[:200]
