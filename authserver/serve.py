"""``authserver serve``: the app under gunicorn, set up for production.

- A port that is taken stops ``serve`` with one line, exit status 2 (not gunicorn's five retries);
  so does a database without this version's schema (the line names ``authserver db upgrade``).
  The first log line names the issuer, the database and the keys folder.
- Every worker builds its own app (nothing built before the fork, such as a pooled database
  connection, is shared); the master builds one first, so a bad setting stops ``serve`` with one
  line before gunicorn starts, and the first signing key is made once.
- Without ``AUTHSERVER_ISSUER``, the issuer is the URL the server listens on (:func:`listen_url`).
- Logs are JSON lines on standard error, gunicorn's included (``request_log.py``).
- Metrics are collected across workers in prometheus-client's multiprocess mode: a fresh folder in
  ``PROMETHEUS_MULTIPROC_DIR`` (made here and removed on exit, or the operator's, emptied at start),
  set before anything imports prometheus-client. With ``AUTHSERVER_METRICS`` a port number (the
  default, 9464), the master process serves them there, on ``AUTHSERVER_METRICS_HOST`` (loopback by
  default), never on the public listener; a port that is taken, or is the one ``serve`` listens on,
  stops ``serve`` with one line, exit status 2.
- The outbound delivery worker runs beside gunicorn as a child process of the master
  (``outbound/process.py``), unless ``AUTHSERVER_OUTBOUND_WORKER`` is false; it stops with ``serve``.
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


def run(host: str, port: int, workers: int, load_settings, load_app, load_worker_app=None, threads: int = 1) -> None:
    from gunicorn.app.base import BaseApplication

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

    def worker_exited(server, worker):
        if os.environ.get(MULTIPROCESS_DIR):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            if threads > 1:  # gthread with keep-alive: chosen by measurement (benchmarks/README.md)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", threads)
                self.cfg.set("keepalive", 5)
            self.cfg.set("accesslog", None)  # the app logs every request (request_log.py)
            self.cfg.set("errorlog", "-")
            self.cfg.set("logger_class", request_log.GunicornLogger)
            self.cfg.set("child_exit", worker_exited)
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn 25+ opens a control socket at one path per user: two servers of one user
                # (two nodes on a machine) would take it from each other. Nothing here uses it.
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return (load_worker_app or load_app)()

    master = os.getpid()
    outbound_worker = WorkerProcess.start() if settings.outbound_worker else None
    try:
        Gunicorn().run()
    finally:
        # Workers leave through here too (gunicorn forks inside run()); only the master cleans up.
        if os.getpid() == master:
            if outbound_worker:  # its deliveries in flight end within the timeout
                outbound_worker.stop(timeout_seconds=settings.outbound_timeout_seconds + 10)
            if made_folder:
                shutil.rmtree(made_folder, ignore_errors=True)
