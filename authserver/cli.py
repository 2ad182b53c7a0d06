"""The `authserver` command: builds the app from the environment (a bad setting or an unusable
database is one line, not a traceback), `serve`, and the subcommands of ``commands.py`` (and `db`
from Flask-Migrate)."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError

from . import create_app
from . import serve as serving
from .commands import stop_on_bad_setting
from .settings import Settings
from .settings import SettingsError
from .settings import setting_warnings

# gunicorn's worker model for `serve` (benchmarks/README.md: chosen by measurement).
DEFAULT_SERVE_THREADS = 4


# -- serve ---------------------------------------------------------------------------------
@click.command("serve", help="Serve with gunicorn (production WSGI server): JSON logs, metrics across workers.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=DEFAULT_SERVE_THREADS, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker: 1 is gunicorn's sync worker, more is gthread with keep-alive.")
def serve(host, port, workers, threads):
    serving.run(host, port, workers, load_settings=load_settings, load_app=load_app, threads=threads)


def load_settings() -> Settings:
    """The settings from the environment; a bad one stops with one line, exit 2."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        stop_on_bad_setting(error)


def load_app():
    """The app built from the environment; a bad setting or unusable path stops with one line, exit 2."""
    try:
        return create_app(Settings.from_env())
    except SettingsError as error:
        stop_on_bad_setting(error)


def _create_app(*_args):
    return load_app()


cli = FlaskGroup(name="authserver", create_app=_create_app, add_default_commands=False,
                 add_version_option=False, load_dotenv=False,
                 help="authserver: OAuth 2.0 authorization server with device sessions.")
cli.add_command(serve)


def main() -> None:
    try:
        Settings.from_env()
        warnings = setting_warnings()
    except SettingsError as error:
        stop_on_bad_setting(error)
    for line in warnings:
        click.echo(f"authserver: warning: {line}", err=True)
    try:
        cli.main(prog_name="authserver")
    except (OperationalError, ProgrammingError) as error:
        # Down, unreachable, refusing us or without our tables: an operator needs the reason, not a
        # traceback. The driver's first line names host and cause, never the password.
        reason = str(error.orig or error).strip().splitlines()[0]
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            reason += "; run `authserver db upgrade` first"
        click.echo(f"authserver: the database (AUTHSERVER_DATABASE_URL) cannot be used: {reason}", err=True)
        sys.exit(1)
