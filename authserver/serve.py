"""``authserver serve``: the app under gunicorn or granian (``--http-server``), set up for production.

- A port that is taken stops ``serve`` with one line, exit status 2 (not gunicorn's five retries);
  so does a database without this version's schema (the line names ``authserver db upgrade``).
  The first log line names the issuer, the database and the keys folder.
- Every worker builds its own app (nothing built before the fork, such as a pooled database
  connection, is shared); the master builds one first, so a bad setting stops ``serve`` with one
  line before the HTTP server starts, and the first signing key is made once.
- Either HTTP server runs ``--workers`` processes of ``--threads`` threads each: gunicorn's gthread
  worker (its sync worker for one thread), or granian's WSGI workers with as many blocking threads
  (Rust's hyper doing the HTTP/1.1 parsing and keep-alive). Everything else below is the same for both.
- Without ``AUTHSERVER_ISSUER``, the issuer is the URL the server listens on (:func:`listen_url`).
- Logs are JSON lines on standard error, the HTTP server's own included (``request_log.py``, and
  :data:`GRANIAN_LOGGING` for granian's).
- Metrics are collected across workers in prometheus-client's multiprocess mode: a fresh folder in
  ``PROMETHEUS_MULTIPROC_DIR`` (made here and removed on exit, or the operator's, emptied at start),
  set before anything imports prometheus-client. With ``AUTHSERVER_METRICS`` a port number (the
  default, 9464), the master process serves them there, on ``AUTHSERVER_METRICS_HOST`` (loopback by
  default), never on the public listener; a port that is taken, or is the one ``serve`` listens on,
  stops ``serve`` with one line, exit status 2.
- The outbound delivery worker runs beside the HTTP server as a child process of the master
  (``outbound/process.py``), unless ``AUTHSERVER_OUTBOUND_WORKER`` is false; it stops with ``serve``.
- SIGTERM stops ``serve`` gracefully: the workers finish the requests in flight (at most 30 s,
  gunicorn's graceful timeout, under either server), then the delivery worker stops. So does SIGINT
  (Ctrl-C) under granian; gunicorn takes SIGINT as its quick stop.
- granian is the default, chosen by measurement (benchmarks/README.md, "HTTP server"): same app,
  same workers and threads, interleaved, it answered more token requests for less CPU each.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile

import click

from .commands import usage_error
from .ops import request_log
from .ops.metrics import MULTIPROCESS_DIR
from .outbound.process import WorkerProcess
from .store.schema import database_label

log = logging.getLogger(__name__)

HTTP_SERVERS = ("granian", "gunicorn")
# Chosen by measurement (benchmarks/README.md, "HTTP server: granian against gunicorn").
DEFAULT_HTTP_SERVER = "granian"
# How long a stopping worker may take to finish its requests in flight: gunicorn's graceful_timeout.
GRACEFUL_STOP_SECONDS = 30
# granian's loggers (its own lines, and an access log that stays off) into the root logger's JSON
# lines; the root's handler given again, since a worker that is spawned, not forked, starts bare.
GRANIAN_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "authserver.ops.request_log.JSONFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"_granian": {"handlers": [], "propagate": True},
                "granian.access": {"handlers": [], "propagate": True}},
}


def listen_url(host: str, port: int) -> tuple[str, bool]:
    """The http URL of a listening address, and whether it is exact: a wildcard address is
    reached through some other name, so the loopback one stands in for it."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return f"http://127.0.0.1:{port}", False
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}", True


def default_issuer(host: str, port: int) -> None:
    """Without AUTHSERVER_ISSUER, the metadata's URLs and every token's `iss` name where we listen."""
    if os.environ.get("AUTHSERVER_ISSUER"):
        return
    issuer, exact = listen_url(host, port)
    os.environ["AUTHSERVER_ISSUER"] = issuer
    if not exact:
        click.echo(f"authserver: warning: AUTHSERVER_ISSUER is not set and {host} is every address: "
                   f"using {issuer}; set it to the URL clients use", err=True)


def prepare_metrics_folder() -> str | None:
    """Point prometheus-client's multiprocess mode at an empty folder; returns the folder if we made it."""
    folder = os.environ.get(MULTIPROCESS_DIR)
    if not folder:
        folder = tempfile.mkdtemp(prefix="authserver-metrics-")
        os.environ[MULTIPROCESS_DIR] = folder
        return folder
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # values of an earlier run would be added to this one's
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    return None


def serve_metrics(host: str, port: int, public_port: int) -> None:
    """Serve the metrics on their own port, in this (the master) process, before gunicorn starts: a
    port that is taken stops `serve` with one line, and the workers, forked later, only ever write
    their values."""
    from .ops.metrics import serve_on_port

    if port == public_port:
        usage_error(f"AUTHSERVER_METRICS cannot be used: port {port} is the one `serve` listens on; "
                    "metrics need a port of their own")
    try:
        serve_on_port(host, port)
    except OSError as error:
        usage_error(f"AUTHSERVER_METRICS cannot be used: port {port} on {host}: {error.strerror}")


def refuse_taken_port(host: str, port: int) -> None:
    """One line and exit status 2 when another process listens on the port (gunicorn would retry for 5 s,
    logging each try, then exit 1). Bound as gunicorn binds (SO_REUSEADDR), and let go at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                usage_error(f"port {port} on {host} is taken by another process (a server already running?): "
                            "stop it or choose another with --port")
            usage_error(f"cannot listen on {host}:{port}: {error.strerror}")


def run(host: str, port: int, workers: int, load_settings, load_app, load_worker_app=None, threads: int = 1,
        http_server: str = DEFAULT_HTTP_SERVER) -> None:
    """``load_worker_app`` builds each worker's app: a module-level function, so that a worker that
    is spawned rather than forked (granian does so where Python's default is not fork, 3.14+) can be
    handed it by name."""
    default_issuer(host, port)
    settings = load_settings()
    refuse_taken_port(host, port)
    request_log.configure_logging()
    made_folder = prepare_metrics_folder() if settings.metrics != "off" else None
    load_app()
    if settings.metrics_port:
        serve_metrics(settings.metrics_host, settings.metrics_port, port)
    log.info("serving %s from the database %s with the keys in %s", settings.issuer,
             database_label(settings.database_url), settings.keys_dir)
    if settings.metrics_port:
        log.info("metrics at %s/metrics", listen_url(settings.metrics_host, settings.metrics_port)[0])

    serve_with = run_granian if http_server == "granian" else run_gunicorn
    master = os.getpid()
    outbound_worker = WorkerProcess.start() if settings.outbound_worker else None
    try:
        serve_with(host, port, workers, threads, load_worker_app or load_app)
    finally:
        # Workers leave through here too (gunicorn forks inside run()); only the master cleans up.
        if os.getpid() == master:
            if outbound_worker:  # its deliveries in flight end within the timeout
                outbound_worker.stop(timeout_seconds=settings.outbound_timeout_seconds + 10)
            if made_folder:
                shutil.rmtree(made_folder, ignore_errors=True)


def forget_metrics_of(pid: int | None) -> None:
    """A worker that exited: its live gauges leave the sums (prometheus-client's multiprocess mode)."""
    if pid and os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def run_gunicorn(host: str, port: int, workers: int, threads: int, load_worker_app) -> None:
    from gunicorn.app.base import BaseApplication

    def worker_exited(server, worker):
        forget_metrics_of(worker.pid)

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            if threads > 1:  # gthread with keep-alive: chosen by measurement (benchmarks/README.md)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", threads)
                self.cfg.set("keepalive", 5)
            self.cfg.set("graceful_timeout", GRACEFUL_STOP_SECONDS)
            self.cfg.set("accesslog", None)  # the app logs every request (request_log.py)
            self.cfg.set("errorlog", "-")
            self.cfg.set("logger_class", request_log.GunicornLogger)
            self.cfg.set("child_exit", worker_exited)
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn 25+ opens a control socket at one path per user: two servers of one user
                # (two nodes on a machine) would take it from each other. Nothing here uses it.
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return load_worker_app()

    Gunicorn().run()


def run_granian(host: str, port: int, workers: int, threads: int, load_worker_app) -> None:
    """granian's WSGI server: ``workers`` processes, each running the app in ``threads`` blocking
    threads behind its Rust HTTP/1.1 server. A worker that dies is started again, as gunicorn does
    (granian would stop instead); its metrics are let go as gunicorn's ``child_exit`` does."""
    from granian.constants import HTTPModes
    from granian.constants import Interfaces
    from granian.server.mp import MPServer

    class Granian(MPServer):
        # Private hooks of granian 2 (pinned <3 in pyproject.toml): the pids of the workers it replaces or stops.
        def _respawn_workers(self, indexes, *args, **kwargs):
            gone = [self.wrks[index].inner.pid for index in indexes]
            super()._respawn_workers(indexes, *args, **kwargs)
            for pid in gone:
                forget_metrics_of(pid)

        def _stop_workers(self):
            gone = [worker.inner.pid for worker in self.wrks]
            super()._stop_workers()
            for pid in gone:
                forget_metrics_of(pid)

    server = Granian(
        "authserver",  # a name only: the app comes from load_worker_app
        address=host.strip("[]"),
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        http=HTTPModes.http1,  # as gunicorn: HTTP/1.1 (the TLS proxy in front speaks HTTP/2)
        log_dictconfig=GRANIAN_LOGGING,
        log_access=False,  # the app logs every request (request_log.py)
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_STOP_SECONDS,
    )
    server.serve(target_loader=load_worker_app, wrap_loader=False)
