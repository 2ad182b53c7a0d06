"""``authserver outbox run`` (the delivery worker, for deployments that run it apart from ``serve``)
and ``authserver outbox list`` (what is waiting, and why)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store import outbox
from ..store.database import db
from ..store.schema import database_label

log = logging.getLogger(__name__)

outbox_commands = click.Group("outbox", help="Outbound deliveries (logout tokens, security events).")


@outbox_commands.command("run", help="Deliver what the outbox holds until stopped (SIGTERM or Ctrl-C). "
                                     "Set AUTHSERVER_OUTBOUND_WORKER=false on the nodes whose `serve` should not.")
@click.option("--beside-server", is_flag=True, hidden=True,
              help="Started by `authserver serve`: its metrics go to the server's port; stop when it is gone.")
@with_appcontext
def outbox_run(beside_server):
    from ..ops import request_log
    from .worker import OutboxWorker

    app = current_app._get_current_object()
    settings = app.extensions["authserver"].settings
    request_log.configure_logging()
    if not beside_server and settings.metrics_port:
        _serve_metrics(app, settings.metrics_host, settings.metrics_port)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    worker = OutboxWorker(app)
    log.info("outbound delivery worker started (%s deliveries at once) on the database %s", worker.slots,
             database_label(settings.database_url))
    worker.run(stop, parent_pid=os.getppid() if beside_server else None)
    log.info("outbound delivery worker stopped")


outbox_run.logs_json = True  # the command line's plain line naming the database would break the JSON lines


def _serve_metrics(app, host: str, port: int) -> None:
    """Run apart, the worker serves its own counters, like `serve` does (a taken port: one line, exit 2)."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=app.extensions["authserver"].metrics.collecting_registry())
    except OSError as error:
        # As commands.usage_error says it (one line, exit status 2), without importing the layer above.
        click.echo(f"authserver: AUTHSERVER_METRICS cannot be used: port {port} on {host}: {error.strerror}", err=True)
        raise SystemExit(2) from None


@outbox_commands.command("list", help="The messages waiting to be delivered, next due first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def outbox_list(as_json):
    rows = [{"id": message.id, "kind": message.kind, "url": outbox.url_without_query(message.url),
             "attempts": message.attempts, "queued_at": _iso(message.created_at),
             "next_attempt_at": _iso(message.next_attempt_at), "last_error": message.last_error}
            for message in outbox.waiting()]
    db.session.rollback()
    if as_json:
        click.echo(json.dumps({"messages": rows}))
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['kind']}  {row['url']}  attempts {row['attempts']}  "
                   f"next {row['next_attempt_at']}  {row['last_error'] or ''}".rstrip())
    if not rows:
        click.echo("nothing waiting")


def _iso(moment) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
