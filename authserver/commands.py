"""The `authserver` subcommands that act on the app's database and keys: users, clients, resources, keys,
sessions.
``create_app`` registers them on every app (``cli.py`` is the command itself); each that writes
commits once, when it has done everything. A failure is one line on standard error."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress
from rich.progress import SpinnerColumn
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn

from .accounts import clients
from .accounts import registration
from .accounts import resources
from .accounts import users
from .errors import AccountError
from .errors import UserNotFound
from .oauth.server import supported_grant_types
from .outbound.commands import outbox_commands
from .services import current_services
from .settings import SettingsError
from .ssf.commands import streams_commands
from .store import retention
from .store.database import db
from .store.models import AUTH_METHODS

DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")


def fail(message: str):
    click.echo(f"authserver: {message}", err=True)
    sys.exit(1)


def stop_on_bad_setting(error: SettingsError):
    """The contract: a bad setting stops start-up with one line naming it, exit status 2."""
    usage_error(str(error))


def usage_error(message: str):
    """Bad arguments or settings: one line, exit status 2 (what a script tells apart from a failure, 1)."""
    click.echo(f"authserver: {message}", err=True)
    sys.exit(2)


@contextlib.contextmanager
def progress_bar(total: float, description: str):
    """A progress bar on standard error when it is a terminal, and nothing otherwise (a pipe, a log file,
    cron; standard output stays the command's answer). Yields ``update(done, description)``."""
    if not sys.stderr.isatty():
        yield lambda done, description=None: None
        return
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done, description=None: progress.update(task, completed=done,
                                                            description=description or progress.tasks[0].description)


def emit(as_json: bool, data: dict, text: str) -> None:
    click.echo(json.dumps(data) if as_json else text)


def unit_of_work(command):
    """A command that writes commits once, when it has done everything (``database.py``)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        result = command(*args, **kwargs)
        db.session.commit()
        return result

    return run


def _user_or_fail(username):
    try:
        return users.require_user(username)
    except UserNotFound:
        fail(f"no user named {username!r}")


# -- users ---------------------------------------------------------------------------------
users_commands = click.Group("users", help="Create and disable users, change their passwords.")


@users_commands.command("create", epilog="""\b
Examples:
  echo 'a long passphrase' | authserver users create alice --password-stdin --email alice@example.com
  authserver users create root --admin       # asks for the password twice""")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else it is asked for).")
@click.option("--email", help="The user's email address (the `email` scope shows it).")
@click.option("--admin", is_flag=True, help="The user may be granted the `admin` scope.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def users_create(username, password_stdin, email, admin, as_json):
    """Create a user who signs in with a password (8 to 128 characters, not a common one)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(current_services(), username, password, email=email, admin=admin)
    except AccountError as error:
        fail(str(error))
    emit(as_json, {"id": user.id, "username": user.username}, f"created user {user.username} ({user.id})")


@users_commands.command("disable")
@click.argument("username")
@with_appcontext
@unit_of_work
def users_disable(username):
    """Stop a user signing in, and end every session of theirs at once."""
    user = _user_or_fail(username)
    ended = users.disable_user(current_services(), user, actor="cli")
    click.echo(f"disabled {username}; ended {ended} session(s)")


@users_commands.command("set-password", help="Give a user a new password (announced to security event streams).")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
@unit_of_work
def users_set_password(username, password_stdin):
    user = _user_or_fail(username)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        users.set_password(current_services(), user, password, actor="cli")
    except AccountError as error:
        fail(str(error))
    click.echo(f"password of {username} changed")


# -- clients -------------------------------------------------------------------------------
clients_commands = click.Group("clients", help="Register OAuth clients.")


@clients_commands.command("create", epilog="""\b
Examples:
  # a first-party app signing users in with their password
  authserver clients create --name "Example app" --grant-type password --grant-type refresh_token \\
      --scope "profile email sessions" --json
  # a third-party web app: the authorization code flow with PKCE
  authserver clients create --name "Notes" --redirect-uri https://notes.example/callback --scope profile
  # a resource server that introspects tokens
  authserver clients create --name "Notes API" --introspect""")
@click.option("--name", required=True, help="The name users see on the consent page and in Connected apps.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(supported_grant_types()),
              help=f"Repeatable. Default: {' '.join(DEFAULT_GRANT_TYPES)} (none for an --introspect client "
                   "without --redirect-uri).")
@click.option("--scope", default="", help='Space-separated scopes the client may ask for, e.g. "profile admin".')
@click.option("--auth-method", default="client_secret_basic", type=click.Choice(AUTH_METHODS), show_default=True,
              help="How the client authenticates at the token endpoint; `none` is a public client (no secret).")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Repeatable. Where the authorization code flow may send the browser back, matched exactly.")
@click.option("--introspect", is_flag=True, help="The client may call the introspection endpoint.")
@click.option("--first-party", is_flag=True,
              help="One of your own apps: the consent page is skipped, and a public client may have the password "
                   "grant.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True,
              help="Repeatable. OpenID Connect: where the app may send the browser after a logout.")
@click.option("--backchannel-logout-uri", help="OpenID Connect: where the server POSTs logout tokens to the app.")
@click.option("--dpop", is_flag=True, help="Every token request must carry a DPoP proof (RFC 9449): bound tokens only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def clients_create(name, grant_types, scope, auth_method, redirect_uris, introspect, first_party,
                   post_logout_redirect_uris, backchannel_logout_uri, dpop, as_json):
    """Register an OAuth client; its secret is printed once."""
    if not grant_types and not (introspect and not redirect_uris):
        grant_types = DEFAULT_GRANT_TYPES  # a resource server (--introspect, no redirect URI) gets no grant
    if "password" in grant_types and auth_method == "none" and not first_party:
        # RFC 9700 §2.4: the password grant exposes the user's password to the client; a public client
        # can be anyone's app, so only one of your own (--first-party) may have it.
        usage_error("the password grant for a public client (--auth-method none) needs --first-party: "
                    "only your own apps may ask for users' passwords (RFC 9700 §2.4)")
    try:
        client, secret = clients.create_client(
            current_services(), name, list(grant_types), scope, auth_method,
            list(redirect_uris), introspect, first_party=first_party,
            post_logout_redirect_uris=list(post_logout_redirect_uris), backchannel_logout_uri=backchannel_logout_uri,
            dpop_bound_access_tokens=dpop)
    except AccountError as error:
        fail(str(error))
    data = {"client_id": client.client_id}
    if secret:
        data["client_secret"] = secret
    text = f"client_id: {client.client_id}" + (f"\nclient_secret: {secret}" if secret else "")
    emit(as_json, data, text)


@clients_commands.command("registration-token")
@click.option("--uses", type=click.IntRange(1), help="How many clients it may register (default: any number).")
@click.option("--expires-in", type=click.IntRange(1, 315_360_000),
              help="Seconds until it stops working (default: never).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def clients_registration_token(uses, expires_in, as_json):
    """An initial access token for dynamic client registration (RFC 7591 §3) while
    AUTHSERVER_CLIENT_REGISTRATION=token: shown once, stored only as a digest."""
    token = registration.issue_registration_token(current_services(), uses, expires_in)
    if current_services().settings.client_registration != "token":
        click.echo("authserver: note: AUTHSERVER_CLIENT_REGISTRATION is not `token`; the token is needed only then",
                   err=True)
    emit(as_json, {"token": token}, f"registration token: {token}")


# -- resources (RFC 8707) --------------------------------------------------------------------
resources_commands = click.Group("resources", help="Register the APIs and MCP servers tokens may be asked for.")


def resource_json(resource) -> dict:
    return {"resource": resource.uri, "name": resource.name, "scope": resource.scope}


@resources_commands.command("add", help="Register a protected API or MCP server (RFC 8707) tokens may be asked for.")
@click.argument("uri")
@click.option("--name", help="What the consent page calls it (otherwise its URI).")
@click.option("--scope", default=None, help='Space-separated scopes a token for it may carry, e.g. "read write" '
                                             "(default: no limit beyond the client's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def resources_add(uri, name, scope, as_json):
    try:
        resource = resources.register_resource(uri, name, scope, current_services().clock.now())
    except AccountError as error:
        fail(str(error))
    emit(as_json, resource_json(resource), f"resource: {resource.uri}")


@resources_commands.command("list", help="The registered resources, by URI.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def resources_list(as_json):
    listed = resources.list_resources()
    text = "\n".join(f"{r.uri}\t{r.name or ''}\t{r.scope if r.scope is not None else '(any scope)'}" for r in listed)
    emit(as_json, {"resources": [resource_json(r) for r in listed]}, text or "no resources")


# -- keys ----------------------------------------------------------------------------------
keys_commands = click.Group("keys", help="Manage the signing keys.")


@keys_commands.command("rotate")
@click.option("--wait", is_flag=True,
              help="Return only once the new key signs (after AUTHSERVER_KEY_ROTATION_LEAD_SECONDS).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def keys_rotate(wait, as_json):
    """Publish a new signing key; it signs after AUTHSERVER_KEY_ROTATION_LEAD_SECONDS."""
    services = current_services()
    key = services.keyring.rotate()
    lead = services.settings.key_rotation_lead_seconds
    if wait and lead:
        # Real time, not the app's clock: the running servers' clocks are what start signing with it.
        started = time.monotonic()
        with progress_bar(lead, f"waiting for {key.kid} to sign") as update:
            while (waited := time.monotonic() - started) < lead:
                update(waited)
                time.sleep(min(0.5, lead - waited))
    emit(as_json, {"kid": key.kid}, f"new signing key {key.kid} " + ("signs now" if wait else "published"))


# -- sessions ------------------------------------------------------------------------------
sessions_commands = click.Group("sessions", help="Inspect and end device sessions.")


@sessions_commands.command("list")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def sessions_list(username, as_json):
    """List a user's live device sessions."""
    from .api.serializers import iso_utc
    from .api.serializers import session_json

    user = _user_or_fail(username)
    rows = current_services().sessions.list_sessions(user.id)
    if as_json:
        click.echo(json.dumps({"sessions": [session_json(s, None) for s in rows]}))
        return
    for s in rows:
        click.echo(f"{s.id}  {s.client_id}  {s.device_name or '-'}  {s.ip or '-'}  "
                   f"last active {iso_utc(s.last_active_at)}")
    if not rows:
        click.echo("no live sessions")


@sessions_commands.command("revoke")
@click.argument("session_id", required=False)
@click.option("--user", "username", help="End every session of this user.")
@with_appcontext
@unit_of_work
def sessions_revoke(session_id, username):
    """End one device session (SESSION_ID), or every session of a user (--user)."""
    from .sessions.device_sessions import ENDED_BY_ADMIN

    service = current_services().sessions
    if bool(session_id) == bool(username):
        fail("give either a SESSION_ID or --user NAME")
    if username:
        user = _user_or_fail(username)
        click.echo(f"ended {service.end_user_sessions(user.id, ENDED_BY_ADMIN, actor='cli')} session(s)")
        return
    if service.find_user_session(session_id) is None:
        fail(f"no session {session_id!r}")
    ended = service.end_session(session_id, ENDED_BY_ADMIN, actor="cli")
    click.echo("ended 1 session" if ended else "that session had already ended")


@sessions_commands.command("prune")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@unit_of_work
def sessions_prune(as_json):
    """End sessions past their lifetime; delete what is past the retention (run it daily)."""
    with progress_bar(len(retention.STEPS), "pruning") as update:
        counts = retention.prune(current_services(), on_step=lambda name: update(retention.STEPS.index(name), name))
    emit(as_json, counts, ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))


# -- legacy sessions (RFC 8693 token exchange) ----------------------------------------------------
legacy_commands = click.Group("legacy", help="Move users of an older session store over without a new sign-in.")


@legacy_commands.command("import", help="Import an export of legacy sessions (JSON lines): only digests are kept; "
                                         "re-running adds nothing twice.")
@click.argument("file", type=click.File("rb"))  # bytes, line by line: never read whole
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def legacy_import(file, as_json):
    """Import JSON lines {"token", "username", "device_name", "user_agent", "ip", "created_at"}: only a
    digest of each token is kept; a re-run adds nothing twice. Each batch is committed as it is
    written, so an interrupted import keeps what it did and a re-run finishes it."""
    services = current_services()
    with import_progress(file) as advance:
        def batch_done(report):
            db.session.commit()
            advance(report)

        report = services.legacy.import_lines(file, on_batch=batch_done)
    data = report.as_json()
    shown = ", ".join(str(number) for number in report.malformed_lines)
    more = "…" if report.malformed > len(report.malformed_lines) else ""
    emit(as_json, data, f"imported: {report.imported}, unknown user: {report.unknown_user}, duplicate: "
                        f"{report.duplicate}, malformed: {report.malformed}"
                        + (f" (lines {shown}{more})" if report.malformed else ""))


@contextlib.contextmanager
def import_progress(file):
    """A progress bar (rich, on standard error) by bytes read, only when standard error is a terminal;
    yields the function that advances it after each batch."""
    if not sys.stderr.isatty():
        yield lambda report: None
        return
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import DownloadColumn
    from rich.progress import Progress
    from rich.progress import TextColumn
    from rich.progress import TimeRemainingColumn

    try:
        total = os.fstat(file.fileno()).st_size or None
    except (OSError, ValueError):  # standard input or a pipe: no size, the bar only counts
        total = None
    columns = (TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[imported]} imported"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("import", total=total, imported=0)
        yield lambda report: progress.update(task, completed=file.tell() if total else None,
                                             imported=report.imported)


@legacy_commands.command("status", help="How many legacy sessions are imported, exchanged, expired and "
                                         "remaining.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def legacy_status(as_json):
    """How far the move has gone: imported, exchanged, expired (too old to exchange), remaining."""
    status = current_services().legacy.status()
    emit(as_json, status, f"imported: {status['imported']}, exchanged: {status['exchanged']} "
                          f"({status['migrated_share']:.1%}), expired: {status['expired']}, "
                          f"remaining: {status['remaining']}")


def register_commands(app) -> None:
    for group in (users_commands, clients_commands, resources_commands, keys_commands, sessions_commands,
                  outbox_commands, streams_commands, legacy_commands):
        app.cli.add_command(group)
