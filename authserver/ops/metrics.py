"""Prometheus metrics (prometheus-client): what happened to tokens, sessions and sign-ins, and how
long each endpoint takes.

| metric | labels |
| --- | --- |
| ``authserver_tokens_issued_total`` | ``grant_type`` |
| ``authserver_refresh_rotations_total`` | (a successor minted) |
| ``authserver_refresh_grace_retries_total`` | (the same successor handed out again) |
| ``authserver_refresh_reuse_detections_total`` | |
| ``authserver_sessions_ended_total`` | ``cause`` (``sessions.END_REASONS``) |
| ``authserver_failed_signins_total`` | ``reason`` (``bad_credentials``, ``disabled``) |
| ``authserver_throttled_requests_total`` | ``budget`` (``throttle.BUDGETS``) |
| ``authserver_introspection_unknown_tokens_total`` | (tokens not ours a resource server asked about) |
| ``authserver_readiness_failures_total`` | (``/readyz`` answered 503) |
| ``authserver_request_duration_seconds`` (histogram) | ``endpoint`` (the Flask endpoint; ``unmatched`` for 404s) |
| ``authserver_outbound_delivered_total``, ``…_retried_total``, ``…_given_up_total`` | ``kind`` (``outbound/``) |
| ``authserver_outbound_queued_messages`` (gauge) | ``kind``: messages waiting, in flight included |
| ``authserver_outbound_oldest_message_age_seconds`` (gauge) | (how long the oldest has waited) |
| ``authserver_stream_queued_events`` (gauge) | ``stream``: a security event stream's SETs waiting (held included) |
| ``authserver_stream_oldest_event_age_seconds`` (gauge) | ``stream``: how long its oldest has waited (its lag) |
| ``authserver_legacy_sessions`` (gauge) | ``state``: ``imported``, ``exchanged``, ``expired``, ``remaining`` |
| ``authserver_legacy_sessions_migrated_ratio`` (gauge) | (the share exchanged: users moved over) |

Domain code counts with :meth:`Metrics.count` on the ``metrics`` of the services it is given; the
increment waits for the database transaction it belongs to and is dropped if that rolls back, so the
metrics agree with what was stored (a reuse detection whose request failed with a 500 did not happen).

Under gunicorn every worker is a process of its own: ``authserver serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before anything imports prometheus-client (its
multiprocess mode is chosen at import, which is why nothing here imports it at module level), each
worker writes its values there, and a scrape adds them up (:meth:`Metrics.exposition`), whichever
worker answers it. Outside gunicorn (tests, one process) each app has a registry of its own.

Where a scrape finds them is ``AUTHSERVER_METRICS``: by default on a port of their own, on
loopback (``AUTHSERVER_METRICS_HOST``), served from gunicorn's master process (``serve_on_port``,
started by ``serve.py``), so they never reach the public listener and the app's ``/metrics`` answers
404; ``on`` serves them at ``GET /metrics`` on the public port instead (only when configured so),
and ``off`` nowhere.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request
from flask_sqlalchemy.session import Session
from sqlalchemy import event

from ..openapi.document import operation
from ..store.database import db

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
PENDING = "authserver.metrics"

# name: (help, label names)
COUNTERS = {
    "tokens_issued": ("Access tokens issued, by grant type.", ("grant_type",)),
    "refresh_rotations": ("Refresh tokens rotated: a new successor minted.", ()),
    "refresh_grace_retries": ("Retried refreshes inside the grace window: the same successor handed out again.", ()),
    "refresh_reuse_detections": ("Rotated refresh tokens presented again: each ended its device session.", ()),
    "sessions_ended": ("Device sessions ended, by cause.", ("cause",)),
    "failed_signins": ("Failed sign-ins (token endpoint and sign-in page), by reason.", ("reason",)),
    "throttled_requests": ("Requests refused with 429 because a failure budget was spent, by budget.", ("budget",)),
    "introspection_unknown_tokens": ("Tokens not ours at all that resource servers presented for introspection "
                                     "(each counts toward INTROSPECTION_MAX_FAILURES only).", ()),
    "readiness_failures": ("Readiness checks (/readyz) answered 503: no signing key, or a database that does not "
                           "answer.", ()),
    "outbound_delivered": ("Outbound messages acknowledged by their receiver, by kind.", ("kind",)),
    "outbound_retried": ("Outbound delivery attempts that failed and were scheduled again, by kind.", ("kind",)),
    "outbound_given_up": ("Outbound messages given up (refused, rejected or too old), by kind.", ("kind",)),
}
# name: (help, label names). Set by the delivery worker from the outbox table (outbound/worker.py); across
# processes the largest live value wins, since every worker reads the same table.
GAUGES = {
    "outbound_queued_messages": ("Outbound messages waiting to be delivered (in flight included), by kind.",
                                 ("kind",)),
    "outbound_oldest_message_age_seconds": ("How long the oldest outbound message has waited; 0 when none does.",
                                            ()),
    "stream_queued_events": ("Security events waiting for each stream (held and in flight included).", ("stream",)),
    "stream_oldest_event_age_seconds": ("How long the oldest security event waiting for each stream has waited: "
                                        "its lag; 0 when none does.", ("stream",)),
    # Set from the legacy_sessions table by the token exchanges themselves (sessions/legacy_sessions.py).
    "legacy_sessions": ("Sessions imported from an older store, by state: imported (all), exchanged, expired "
                        "(too old to exchange), remaining.", ("state",)),
    "legacy_sessions_migrated_ratio": ("Share of the imported legacy sessions already exchanged (0 to 1).", ()),
}

bp = Blueprint("metrics", __name__)


class Metrics:
    """This process's metric objects. ``known_labels`` are label values to show at zero from the start."""

    def __init__(self, known_labels: dict[str, tuple[str, ...]] | None = None):
        import prometheus_client
        from prometheus_client import values

        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        if self.multiprocess:
            if not getattr(values.ValueClass, "_multiprocess", False):
                raise RuntimeError(f"prometheus_client was imported before {MULTIPROCESS_DIR} was set")
            os.makedirs(os.environ[MULTIPROCESS_DIR], exist_ok=True)  # e.g. a command run where it is set
        # Multiprocess: values live in files, collected at scrape time; no registry of our own.
        self.registry = None if self.multiprocess else prometheus_client.CollectorRegistry()
        self.counters = {}
        for name, (documentation, labels) in COUNTERS.items():
            counter = prometheus_client.Counter(f"authserver_{name}", documentation, labels, registry=self.registry)
            for label in labels:
                for value in (known_labels or {}).get(label, ()):
                    counter.labels(value)
            self.counters[name] = counter
        self.gauges = {name: prometheus_client.Gauge(f"authserver_{name}", documentation, labels,
                                                     registry=self.registry, multiprocess_mode="livemax")
                       for name, (documentation, labels) in GAUGES.items()}
        self.request_duration = prometheus_client.Histogram(
            "authserver_request_duration_seconds", "Time to answer a request, by endpoint.", ("endpoint",),
            registry=self.registry)
        # Each labelled child looked up once: prometheus-client checks the labels and takes a lock on
        # every .labels() call. A few dozen endpoints and label values at most, so never trimmed.
        self._children: dict = {}
        self._durations: dict = {}

    def observe_duration(self, endpoint: str, seconds: float) -> None:
        child = self._durations.get(endpoint)
        if child is None:
            child = self._durations[endpoint] = self.request_duration.labels(endpoint)
        child.observe(seconds)

    def count(self, name: str, amount: float = 1, **labels) -> None:
        """Count an event once the current transaction commits (at once if none is open)."""
        session = db.session()
        if not session.in_transaction():
            self.increment(name, amount, **labels)
            return
        session.info.setdefault(PENDING, []).append((self, name, amount, labels))

    def increment(self, name: str, amount: float = 1, **labels) -> None:
        if not labels:
            self.counters[name].inc(amount)
            return
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.counters[name].labels(**labels)
        child.inc(amount)

    def set_gauge(self, name: str, value: float, **labels) -> None:
        gauge = self.gauges[name]
        (gauge.labels(**labels) if labels else gauge).set(value)

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its content type: every worker's values added up."""
        import prometheus_client

        return prometheus_client.generate_latest(self.collecting_registry()), prometheus_client.CONTENT_TYPE_LATEST

    def collecting_registry(self):
        if not self.multiprocess:
            return self.registry
        return multiprocess_registry()


def multiprocess_registry():
    from prometheus_client import CollectorRegistry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


# -- counting, in step with the database -------------------------------------------------------
def count(name: str, amount: float = 1, **labels) -> None:
    """:meth:`Metrics.count` on the current app's metrics, for ``sessions/``, which is not handed
    them yet (the sessions-store branch of issue 22 does; then this goes)."""
    current_app.extensions["authserver"].metrics.count(name, amount, **labels)


@event.listens_for(Session, "after_commit")
def _apply_pending(session):
    for metrics, name, amount, labels in session.info.pop(PENDING, ()):
        metrics.increment(name, amount, **labels)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    session.info.pop(PENDING, None)


# -- HTTP: the latency of every request, and /metrics --------------------------------------------
def register_metrics(app) -> None:
    """Time every request. Call before the unit of work is registered (``database.py``): Flask runs
    after-request hooks last-registered first, so the commit is inside the measured time."""

    metrics = app.extensions["authserver"].metrics

    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe_duration(response):
        started = g.pop("metrics_started", None)
        if started is not None:
            metrics.observe_duration(request.endpoint or "unmatched", time.perf_counter() - started)
        return response

    if app.extensions["authserver"].settings.metrics == "on":
        app.register_blueprint(bp)


@bp.get("/metrics")
@operation("get", summary="Prometheus metrics", tags=["operations"],
           description="Tokens by grant type, refresh rotations, grace retries, reuse detections, sessions ended by "
                       "cause, failed sign-ins, throttled requests, tokens not ours that resource servers asked about, "
                       "outbound deliveries, request latency by endpoint. Served here only with `AUTHSERVER_METRICS=on`; by default they "
                       "are on a loopback port of their own instead.",
           responses={200: {"description": "The Prometheus text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics_text():
    data, content_type = current_app.extensions["authserver"].metrics.exposition()
    response = Response(data, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def serve_on_port(host: str, port: int) -> None:
    """Serve the collected metrics on a port of their own (a thread of gunicorn's master process)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=multiprocess_registry())
