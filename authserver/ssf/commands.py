"""``authserver streams``: the operator's security event streams (create, list, status, verify,
delete). A stream made here belongs to the operator, not to a client, and shows only here; the
rules are ``streams.py``'s, as for the management API. The authorization header is never printed."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ..errors import StreamNotFound
from ..errors import StreamRefused
from ..services import current_services
from ..store.database import db
from ..store.models import STREAM_STATUSES
from . import streams
from .events import EVENTS_SUPPORTED

streams_commands = click.Group("streams", help="Security event streams (Shared Signals Framework): where SETs "
                                               "are pushed.")


def _fail(message: str):
    click.echo(f"authserver: {message}", err=True)
    raise SystemExit(1)


def _stream(stream_id):
    try:
        return streams.find_stream(stream_id, None, operator=True)
    except StreamNotFound:
        _fail(f"no stream {stream_id!r}")


def _committed(change):
    """Run ``change()`` and commit; a refusal is one line, exit status 1, and nothing stored."""
    try:
        result = change()
    except StreamRefused as error:
        db.session.rollback()
        _fail(str(error))
    db.session.commit()
    return result


def _config(stream) -> dict:
    return {**streams.stream_config(current_services().settings, stream), "status": stream.status}


@streams_commands.command("create", help="Create a stream: its SETs are pushed to --endpoint (RFC 8935).")
@click.option("--endpoint", required=True, help="The receiver's URL: https when the issuer is, a public address "
                                                "unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE.")
@click.option("--authorization-header", help="Sent as the Authorization header with every SET (a secret of the "
                                             "receiver's; never shown again).")
@click.option("--audience", help="The SETs' aud. Default: the endpoint's origin.")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENTS_SUPPORTED),
              help="Repeatable: the event types to send. Default: all.")
@click.option("--description", help="A note for people.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def streams_create(endpoint, authorization_header, audience, events, description, as_json):
    config = _committed(lambda: _config(streams.create_stream(
        current_services(), endpoint_url=endpoint, authorization_header=authorization_header, audience=audience,
        events_requested=list(events) or None, description=description)))
    click.echo(json.dumps(config) if as_json else f"stream {config['stream_id']}: {endpoint} (aud {config['aud']})")


@streams_commands.command("list", help="Every stream: id, status, endpoint, audience.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def streams_list(as_json):
    rows = [_config(stream) for stream in streams.list_streams(None, operator=True)]
    db.session.rollback()
    if as_json:
        click.echo(json.dumps({"streams": rows}))
        return
    for row in rows:
        click.echo(f"{row['stream_id']}  {row['status']}  {row['delivery']['endpoint_url']}  aud {row['aud']}")
    if not rows:
        click.echo("no streams")


@streams_commands.command("status", help="Enable, pause (events are held) or disable (no events) a stream.")
@click.argument("stream_id")
@click.argument("status", type=click.Choice(STREAM_STATUSES))
@click.option("--reason", help="Why, for the stream's status.")
@with_appcontext
def streams_status(stream_id, status, reason):
    stream = _stream(stream_id)
    _committed(lambda: streams.set_status(current_services(), stream, status, reason))
    click.echo(f"stream {stream_id} {status}")


@streams_commands.command("verify", help="Queue a verification event for a stream (SSF 1.0 §8.1.4).")
@click.argument("stream_id")
@click.option("--state", help="Echoed in the event, for the receiver to recognise it.")
@with_appcontext
def streams_verify(stream_id, state):
    stream = _stream(stream_id)
    _committed(lambda: streams.request_verification(current_services(), stream, state))
    click.echo(f"verification event queued for {stream_id}")


@streams_commands.command("delete", help="Delete a stream; what it was still owed is dropped.")
@click.argument("stream_id")
@with_appcontext
def streams_delete(stream_id):
    streams.delete_stream(_stream(stream_id))
    db.session.commit()
    click.echo(f"deleted stream {stream_id}")
