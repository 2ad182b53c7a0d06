"""The `authserver` command: its own click group (no Flask options), the app built from the environment
on first use (a bad setting, a missing database or schema is one line, not a traceback), and the
commands of its own: `serve`, `db` (what an operator runs of Alembic: upgrade, current, history) and
`doctor` (``ops/doctor.py``); the subcommands of ``commands.py`` are added to it as to every app's ``cli``.

Every command that uses the database says which one, and which keys folder, on standard error
(standard output stays one JSON object with ``--json``). Only `db upgrade` creates a database: any
other command finding none, or one without this version's schema, stops and names `db upgrade`."""

from __future__ import annotations

import os
import sys

import click
import flask_migrate
from flask.cli import ScriptInfo
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError

from . import create_app
from . import serve as serving
from .commands import fail
from .commands import register_commands
from .commands import stop_on_bad_setting
from .ops.doctor import run_checks
from .ops.doctor import table as doctor_table
from .settings import Settings
from .settings import SettingsError
from .settings import setting_warnings
from .store.database import db
from .store.schema import database_label
from .store.schema import database_revisions
from .store.schema import schema_problem
from .store.schema import sqlite_file_missing

# Where the database was before AUTHSERVER_HOME: relative to the working directory, with keys in ./keys.
OLD_DEFAULT_DATABASE = os.path.join("instance", "authserver.db")
# Threads per worker of `serve`, under either HTTP server (benchmarks/README.md: chosen by measurement).
DEFAULT_SERVE_THREADS = 4


def load_settings() -> Settings:
    """The settings from the environment; a bad one stops with one line, exit 2."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        stop_on_bad_setting(error)


def load_app(settings: Settings | None = None, checked: bool = True):
    """The app built from the environment. ``checked`` (all but `db upgrade`, which creates, and serve's
    workers, whose master checked): a database that does not exist or lacks this version's schema stops
    the command with one line naming `db upgrade`."""
    settings = settings or load_settings()
    where = database_label(settings.database_url)
    if checked and sqlite_file_missing(settings.database_url):
        # Connecting would create an empty file: most likely the wrong folder, not a new server.
        hint = ""
        if os.path.exists(OLD_DEFAULT_DATABASE):  # data of a version whose default was the working directory
            hint = (f" (./{OLD_DEFAULT_DATABASE} here is the old default: set AUTHSERVER_DATABASE_URL="
                    f"sqlite:///{OLD_DEFAULT_DATABASE} and AUTHSERVER_KEYS_DIR=keys to keep using it)")
        fail(f"there is no database at {where}: run `authserver db upgrade` to create one, or set "
             f"AUTHSERVER_HOME (or AUTHSERVER_DATABASE_URL) to the server's{hint}")
    if checked:
        # Before the app: building it makes the keys folder and the first key.
        engine = create_engine(settings.database_url)
        try:
            problem = schema_problem(engine)
        finally:
            engine.dispose()
        if problem:
            fail(f"the database at {where} {problem}: run `authserver db upgrade`")
    try:
        return create_app(settings)
    except SettingsError as error:
        stop_on_bad_setting(error)


def load_worker_app():
    """The app of one of `serve`'s workers: the master checked the database before starting them."""
    return load_app(checked=False)


def announce(settings: Settings) -> None:
    """The line naming the database and keys folder a command uses (standard error: stdout may be JSON)."""
    click.echo(f"authserver: database {database_label(settings.database_url)}, keys {settings.keys_dir}", err=True)


class AppInfo(ScriptInfo):
    """What Flask's ``with_appcontext`` loads the app from: ours, announced once it is up."""

    def __init__(self):
        super().__init__(create_app=self._build, set_debug_flag=False)
        self.creating = False

    def _build(self):
        settings = load_settings()
        app = load_app(settings, checked=not self.creating)
        context = click.get_current_context(silent=True)
        # A command whose standard error is JSON log lines names them in a log line of its own.
        if not (context and getattr(context.command, "logs_json", False)):
            announce(settings)
        return app


@click.group("authserver", context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Settings come from AUTHSERVER_* variables (README: Settings); `authserver doctor` checks them.")
@click.pass_context
def cli(ctx):
    """authserver: OAuth 2.0 authorization server with device sessions and rotating refresh tokens."""
    ctx.obj = AppInfo()


# -- serve ---------------------------------------------------------------------------------
@cli.command("serve", epilog="""\b
Examples:
  authserver serve                          # http://127.0.0.1:5000
  authserver serve --host 0.0.0.0 --port 8000 --workers 4
  authserver serve --http-server gunicorn
  AUTHSERVER_ISSUER=https://auth.example.com authserver serve --host 0.0.0.0""")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int,
              help="Worker processes (about one per core).")
@click.option("--threads", default=DEFAULT_SERVE_THREADS, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker answering requests (gunicorn: 1 is the sync worker, more is gthread "
                   "with keep-alive; granian: its blocking threads).")
@click.option("--http-server", type=click.Choice(serving.HTTP_SERVERS), default=serving.DEFAULT_HTTP_SERVER,
              show_default=True, help="The HTTP server running the workers (same options, logs, metrics and "
                                      "errors under both; benchmarks/README.md compares them).")
def serve(host, port, workers, threads, http_server):
    """Serve the app with gunicorn or granian (production servers): JSON logs, metrics across workers."""
    serving.run(host, port, workers, load_settings=load_settings, load_app=load_app,
                load_worker_app=load_worker_app, threads=threads, http_server=http_server)


# -- doctor --------------------------------------------------------------------------------
@cli.command("doctor", epilog="""\b
Examples:
  authserver doctor
  authserver doctor --host 0.0.0.0 --port 8000    # as `serve` will be started""")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address `serve` listens on.")
@click.option("--port", default=5000, show_default=True, type=int, help="The port `serve` listens on.")
def doctor(host, port):
    """Check settings, database, schema, keys, issuer, TLS and clock; exit status 0 only when all pass."""
    checks = run_checks(os.environ, serving.listen_url(host, port)[0])
    click.echo(doctor_table(checks))
    sys.exit(0 if all(check.ok for check in checks) else 1)


# -- db ------------------------------------------------------------------------------------
@cli.group("db")
def db_commands():
    """The database schema: create it, migrate it, show its revision."""


@db_commands.command("upgrade")
@click.pass_obj
def db_upgrade(info: AppInfo):
    """Create the database and schema, or migrate it to this version; safe to run twice."""
    info.creating = True
    settings = load_settings()
    new_file = sqlite_file_missing(settings.database_url)
    app = info.load_app()
    with app.app_context():
        empty = not database_revisions(db.engine)
        flask_migrate.upgrade()
    if new_file:
        click.echo(f"authserver: created a new database at {database_label(settings.database_url)}", err=True)
    elif empty:
        click.echo(f"authserver: created the schema in {database_label(settings.database_url)}", err=True)


@db_commands.command("current")
@click.pass_obj
def db_current(info: AppInfo):
    """Print the schema revision the database is at."""
    with info.load_app().app_context():
        flask_migrate.current()


@db_commands.command("history")
@click.pass_obj
def db_history(info: AppInfo):
    """List the schema revisions, newest first."""
    with info.load_app().app_context():
        flask_migrate.history()


class _CommandLine:
    """``register_commands`` adds its groups to ``app.cli``; this hands it the `authserver` group instead."""

    def __init__(self, group):
        self.cli = group


register_commands(_CommandLine(cli))


def main() -> None:
    if sys.argv[1:2] != ["doctor"]:  # doctor reports a bad setting in its table, with the others
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
