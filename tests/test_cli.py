"""The `authserver` command: what operators' scripts rely on (the contract's CLI table).

In-process commands run through Flask's CLI runner against the test app (and its clock); the last
tests run the installed console script in a subprocess, the way an operator does."""

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
import time
import uuid

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.engine import make_url

from authserver.cli import cli
from authserver.sessions.device_sessions import ENDED_BY_ADMIN
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_USER_DISABLED
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import Client
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import assert_code_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import signed_in
from tests.conftest import PASSWORD
from tests.conftest import RegisteredClient
from tests.conftest import free_port
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import PHONE_UA
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in

AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))


def run(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input, catch_exceptions=False)


def run_json(runner, *args, input=None):
    result = run(runner, *args, input=input)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1, result.stdout
    return json.loads(result.stdout)


@pytest.fixture
def registered(factory):
    factory.user("alice")
    factory.user("bob")
    return factory.client(name="Notes app", scope="profile email sessions")


# -- the command line explains itself ---------------------------------------------------------
def every_command(group, path=()):
    """(path, command) for every command under ``group``, walked from the tree itself: commands added
    anywhere (another module, a later branch) are checked without being listed here."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))


def test_every_command_and_option_has_a_one_line_help_and_no_flask_option():
    commands = [((), cli), *every_command(cli)]
    assert len(commands) > 15
    for path, command in commands:
        shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="authserver")
        assert shown.exit_code == 0, (path, shown.output)
        for flask_option in ("--app", "--debug", "--env-file", "--version"):
            assert flask_option not in shown.output, path
        summary = command.get_short_help_str(limit=200)
        assert summary and not summary.endswith("..."), f"authserver {' '.join(path)} has no one-line help"
        for parameter in command.params:
            if isinstance(parameter, click.Option) and not parameter.hidden:
                assert parameter.help, f"authserver {' '.join(path)} {parameter.opts[0]} has no help"


def test_db_offers_only_what_an_operator_runs():
    assert sorted(cli.get_command(click.Context(cli), "db").list_commands(click.Context(cli))) == [
        "current", "history", "upgrade"]


@pytest.mark.parametrize("path", [("serve",), ("users", "create"), ("clients", "create")])
def test_the_commands_people_run_first_show_examples(path):
    shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="authserver").output
    examples = shown.split("Examples:\n", 1)[1].splitlines()
    assert any(line.strip().startswith(f"authserver {' '.join(path)}") or f"| authserver {' '.join(path)}" in line
               for line in examples)


def test_shell_completion_completes_commands_as_the_readme_says():
    env = {**os.environ, "_AUTHSERVER_COMPLETE": "bash_complete", "COMP_WORDS": "authserver us", "COMP_CWORD": "1"}
    completed = subprocess.run([AUTHSERVER], env=env, capture_output=True, text=True, timeout=60)
    assert completed.stdout.splitlines() == ["plain,users"]


# -- users -----------------------------------------------------------------------------------
def test_users_create_json_prints_exactly_id_and_username(runner, factory, client):
    created = run_json(runner, "users", "create", "carol", "--password-stdin", "--json", input="s3cret pass\n")
    assert set(created) == {"id", "username"}
    assert created["username"] == "carol"
    assert str(uuid.UUID(created["id"])) == created["id"]
    # The password came from standard input; the token's `sub` is the printed id.
    registered = factory.client()
    signed_in = sign_in(client, registered, username="carol", password="s3cret pass")
    assert signed_in.claims["sub"] == created["id"]


def test_users_create_admin_may_be_granted_the_admin_scope(runner, factory, client):
    run_json(runner, "users", "create", "root", "--password-stdin", "--admin", "--json", input=PASSWORD + "\n")
    registered = factory.client(scope="profile admin")
    assert sign_in(client, registered, username="root").scope == "profile admin"


def test_users_create_refuses_a_duplicate_with_one_line_on_stderr(runner, registered):
    result = run(runner, "users", "create", "alice", "--password-stdin", "--json", input="other\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "authserver: user 'alice' already exists\n"


def test_users_disable_ends_every_session_at_once(app, runner, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    bob = sign_in(client, registered, username="bob")

    result = run(runner, "users", "disable", "alice")
    assert result.exit_code == 0
    assert result.stdout == "disabled alice; ended 2 session(s)\n"
    for ended in (laptop, phone):
        assert client.get("/api/sessions", headers=ended.headers).status_code == 401
        assert refresh(client, registered, ended.refresh_token).json["error"] == "invalid_grant"
        assert session_row(app, ended.sid).ended_reason == ENDED_USER_DISABLED
    assert password_login(client, registered).json["error"] == "invalid_grant"
    assert client.get("/api/sessions", headers=bob.headers).status_code == 200

    disabled = logged_events(app, security_events.USER_DISABLED)
    assert [(e["username"], e["actor"]) for e in disabled] == [("alice", "cli")]
    ended = logged_events(app, security_events.SESSION_ENDED)
    assert sorted(e["session_id"] for e in ended) == sorted([laptop.sid, phone.sid])
    assert {(e["actor"], e["detail"]["reason"]) for e in ended} == {("cli", ENDED_USER_DISABLED)}


def test_users_disable_an_unknown_user_fails(runner, registered):
    result = run(runner, "users", "disable", "nobody")
    assert result.exit_code == 1
    assert result.stderr == "authserver: no user named 'nobody'\n"


# -- clients ---------------------------------------------------------------------------------
def test_clients_create_json_prints_exactly_id_and_secret_that_work(runner, client, registered):
    created = run_json(runner, "clients", "create", "--name", "CLI app", "--grant-type", "password",
                       "--grant-type", "refresh_token", "--scope", "profile", "--json")
    assert set(created) == {"client_id", "client_secret"}
    cli_client = RegisteredClient(created["client_id"], created["client_secret"], "client_secret_basic")
    assert sign_in(client, cli_client).scope == "profile"
    wrong = RegisteredClient(created["client_id"], created["client_secret"] + "x", "client_secret_basic")
    assert password_login(client, wrong).status_code == 401


def test_clients_create_public_client_json_has_no_secret(runner, client, registered):
    created = run_json(runner, "clients", "create", "--name", "Mobile", "--grant-type", "password",
                       "--auth-method", "none", "--first-party", "--json")
    assert set(created) == {"client_id"}
    assert password_login(client, RegisteredClient(created["client_id"], None, "none")).status_code == 200


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_clients_create_refuses_the_password_grant_for_a_public_client_not_first_party(app, runner, registered,
                                                                                       as_json):
    # RFC 9700 §2.4: anyone's public app could otherwise ask users for their passwords.
    result = run(runner, "clients", "create", "--name", "Someone's app", "--grant-type", "password",
                 "--grant-type", "refresh_token", "--auth-method", "none", *as_json)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == ("authserver: the password grant for a public client (--auth-method none) needs "
                             "--first-party: only your own apps may ask for users' passwords (RFC 9700 §2.4)\n")
    with app.app_context():
        assert [c.name for c in db.session.scalars(db.select(Client))] == ["Notes app"]  # nothing registered
    # A confidential client, or one of your own, still gets it.
    assert run_json(runner, "clients", "create", "--name", "Back office", "--grant-type", "password", "--json")
    assert run_json(runner, "clients", "create", "--name", "Our app", "--grant-type", "password",
                    "--auth-method", "none", "--first-party", "--json")


@pytest.mark.parametrize("args, message", [
    (["--scope", 'profile bad"scope'], "'bad\"scope' is not a scope"),
    (["--scope", "back\\slash"], "is not a scope"),
    (["--redirect-uri", "javascript:alert(1)"], "'javascript:alert(1)' is not a redirect URI"),
    (["--redirect-uri", "https://app.example/cb#frag"], "is not a redirect URI"),
    (["--redirect-uri", "/relative/cb"], "is not a redirect URI"),
    (["--redirect-uri", "https:///no-host"], "is not a redirect URI"),
    (["--redirect-uri", "https://app.example/a b"], "is not a redirect URI"),
    (["--name", "x" * 201], "a client name is at most 200 printable characters"),
    (["--name", "tab\tname"], "a client name is at most 200 printable characters"),
])
def test_clients_create_refuses_what_rfc_6749_does_not_allow(runner, registered, args, message):
    arguments = ["clients", "create", "--name", "app", *args, "--json"]
    if "--name" in args:
        arguments = ["clients", "create", *args, "--json"]
    result = run(runner, *arguments)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("authserver: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("uri", ["https://app.example/callback", "http://127.0.0.1:8080/cb",
                                 "com.example.app:/oauth2redirect"])  # RFC 8252 private-use scheme
def test_clients_create_accepts_absolute_redirect_uris(runner, registered, uri):
    assert set(run_json(runner, "clients", "create", "--name", "app", "--redirect-uri", uri, "--json")) == {
        "client_id", "client_secret"}


ZAPIER_REDIRECT_URI = "https://zapier.com/dashboard/auth/oauth/return/App123CLIAPI/"


@pytest.mark.parametrize("first_party", [True, False], ids=["--first-party", "third party"])
def test_clients_create_first_party_skips_the_consent_page(app, runner, registered, first_party):
    flag = ["--first-party"] if first_party else []
    created = run_json(runner, "clients", "create", "--name", "Our web app", "--grant-type", "authorization_code",
                       "--grant-type", "refresh_token", "--scope", "profile email", "--redirect-uri", REDIRECT_URI,
                       *flag, "--json")
    assert set(created) == {"client_id", "client_secret"}
    ours = RegisteredClient(created["client_id"], created["client_secret"], "client_secret_basic")
    http = signed_in(app)
    verifier = pkce()
    response = http.get(authorize_url(ours.client_id, challenge=verifier))
    if first_party:
        code = assert_code_redirect(app, response)  # straight back, no question asked
    else:
        code = assert_code_redirect(app, decide(http, consent_page(response), "allow"))
    assert exchange(http, ours, code, verifier).status_code == 200


def test_clients_create_the_zapier_client_of_the_readme(app, runner, registered):
    """The README's "Connecting Zapier" command, then the requests Zapier's OAuth v2 form makes by
    default: no PKCE, the client id and secret in the form body, /api/me as the test request."""
    created = run_json(runner, "clients", "create", "--name", "Zapier", "--grant-type", "authorization_code",
                       "--grant-type", "refresh_token", "--scope", "profile email", "--auth-method",
                       "client_secret_post", "--redirect-uri", ZAPIER_REDIRECT_URI, "--json")
    zapier = RegisteredClient(created["client_id"], created["client_secret"], "client_secret_post")
    http = signed_in(app)
    page = consent_page(http.get(authorize_url(zapier.client_id, redirect_uri=ZAPIER_REDIRECT_URI,
                                               scope="profile email", state="zap-state")))
    assert "Zapier wants to:" in page.text
    code = assert_code_redirect(app, decide(http, page, "allow"), state="zap-state",
                                redirect_uri=ZAPIER_REDIRECT_URI)
    tokens = http.post("/oauth/token", data={"code": code, "client_id": zapier.client_id,
                                             "client_secret": zapier.client_secret, "grant_type": "authorization_code",
                                             "redirect_uri": ZAPIER_REDIRECT_URI},
                       headers={"Accept": "application/json"}).json
    me = http.get("/api/me", headers={"Authorization": "Bearer " + tokens["access_token"]}).json
    assert me["username"] == "alice" and set(me) == {"sub", "username"}  # alice has no email address
    refreshed = http.post("/oauth/token", data={"refresh_token": tokens["refresh_token"], "grant_type": "refresh_token",
                                                "client_id": zapier.client_id, "client_secret": zapier.client_secret})
    assert refreshed.status_code == 200, refreshed.text
    # Registered for the code flow only: the password grant is refused.
    assert password_login(http, zapier).json["error"] == "unauthorized_client"


def test_clients_create_introspect_alone_makes_a_resource_server_client(runner, client, registered):
    # The README's command: no grant type, no redirect URI -- a resource server only checks tokens.
    created = run_json(runner, "clients", "create", "--name", "Notes API", "--introspect", "--json")
    resource_server = RegisteredClient(created["client_id"], created["client_secret"], "client_secret_basic")
    token = sign_in(client, registered).access_token
    data, headers = resource_server.auth({"token": token})
    assert client.post("/oauth/introspect", data=data, headers=headers).json["active"] is True
    assert password_login(client, resource_server).json["error"] == "unauthorized_client"


def test_clients_create_the_code_grant_needs_a_redirect_uri(runner, registered):
    result = run(runner, "clients", "create", "--name", "app", "--grant-type", "authorization_code", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "authserver: the authorization_code grant needs at least one --redirect-uri\n"


def test_clients_create_stores_the_openid_connect_logout_uris(app, runner, registered):
    created = run_json(runner, "clients", "create", "--name", "Notes", "--redirect-uri", REDIRECT_URI,
                       "--post-logout-redirect-uri", "https://app.example/signed-out",
                       "--post-logout-redirect-uri", "com.example.app:/signed-out",
                       "--backchannel-logout-uri", "https://app.example/backchannel-logout", "--json")
    assert set(created) == {"client_id", "client_secret"}
    with app.app_context():
        client = db.session.get(Client, created["client_id"])
        assert client.post_logout_redirect_uris.split() == ["https://app.example/signed-out", "com.example.app:/signed-out"]
        assert client.backchannel_logout_uri == "https://app.example/backchannel-logout"
        plain = db.session.get(Client, run_json(runner, "clients", "create", "--name", "Plain", "--redirect-uri",
                                                REDIRECT_URI, "--json")["client_id"])
        assert (plain.post_logout_redirect_uris, plain.backchannel_logout_uri) == ("", None)


@pytest.mark.parametrize("args, message", [
    (["--post-logout-redirect-uri", "javascript:alert(1)"], "is not a redirect URI"),
    (["--post-logout-redirect-uri", "https://app.example/out#frag"], "is not a redirect URI"),
    (["--backchannel-logout-uri", "/relative"], "is not a redirect URI"),
    (["--backchannel-logout-uri", "https://app.example/logout#frag"], "is not a redirect URI"),
    (["--backchannel-logout-uri", "com.example.app:/logout"], "is not a back-channel logout URI"),
])
def test_clients_create_refuses_logout_uris_a_redirect_uri_could_not_be(runner, registered, args, message):
    result = run(runner, "clients", "create", "--name", "app", "--redirect-uri", REDIRECT_URI, *args, "--json")
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["bell\x07name"], "usernames are 1 to 150 printable characters without spaces"),
    (["erin", "--email", "not-an-email"], "'not-an-email' is not an email address"),
    (["erin", "--email", "a@" + "b" * 300], "is not an email address"),
])
def test_users_create_refuses_unprintable_names_and_bad_emails(runner, registered, args, message):
    result = run(runner, "users", "create", *args, "--password-stdin", input="long enough password\n")
    assert result.exit_code == 1, result.output
    assert message in result.stderr and result.stdout == ""


# -- sessions --------------------------------------------------------------------------------
def test_sessions_list_json_has_the_api_shape(runner, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA, device_name="Alice's phone")
    sign_in(client, registered, username="bob")

    listed = run_json(runner, "sessions", "list", "alice", "--json")
    from_api = client.get("/api/sessions", headers=laptop.headers).json
    for row in from_api["sessions"]:
        row["current"] = False  # the CLI has no caller
    assert listed == from_api
    assert {s["id"] for s in listed["sessions"]} == {laptop.sid, phone.sid}


def test_sessions_list_text(runner, client, registered):
    assert run(runner, "sessions", "list", "alice").stdout == "no live sessions\n"
    phone = sign_in(client, registered, user_agent=PHONE_UA, device_name="Alice's phone")
    lines = run(runner, "sessions", "list", "alice").stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(phone.sid) and "Alice's phone" in lines[0] and "127.0.0.1" in lines[0]


def test_sessions_list_unknown_user_fails(runner, registered):
    result = run(runner, "sessions", "list", "nobody", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""


def test_sessions_revoke_one_session(app, runner, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)

    result = run(runner, "sessions", "revoke", phone.sid)
    assert (result.exit_code, result.stdout) == (0, "ended 1 session\n")
    assert client.get("/api/sessions", headers=phone.headers).status_code == 401
    assert refresh(client, registered, phone.refresh_token).json["error"] == "invalid_grant"
    assert client.get("/api/sessions", headers=laptop.headers).status_code == 200
    row = session_row(app, phone.sid)
    assert (row.ended_reason, row.ended_by) == (ENDED_BY_ADMIN, "cli")
    assert [(e["session_id"], e["actor"]) for e in logged_events(app, security_events.SESSION_ENDED)] == [(phone.sid, "cli")]

    again = run(runner, "sessions", "revoke", phone.sid)
    assert (again.exit_code, again.stdout) == (0, "that session had already ended\n")
    assert len(logged_events(app, security_events.SESSION_ENDED)) == 1


def test_sessions_revoke_all_of_a_users_sessions(runner, client, registered):
    laptop = sign_in(client, registered)
    phone = sign_in(client, registered, user_agent=PHONE_UA)
    bob = sign_in(client, registered, username="bob")

    result = run(runner, "sessions", "revoke", "--user", "alice")
    assert (result.exit_code, result.stdout) == (0, "ended 2 session(s)\n")
    assert [client.get("/api/sessions", headers=s.headers).status_code for s in (laptop, phone, bob)] == [401, 401, 200]


@pytest.mark.parametrize("args, message", [
    ((), "give either a SESSION_ID or --user NAME"),
    (("some-id", "--user", "alice"), "give either a SESSION_ID or --user NAME"),
    (("00000000-0000-0000-0000-000000000000",), "no session '00000000-0000-0000-0000-000000000000'"),
    (("--user", "nobody"), "no user named 'nobody'"),
])
def test_sessions_revoke_refuses_bad_arguments(runner, client, registered, args, message):
    signed_in = sign_in(client, registered)
    result = run(runner, "sessions", "revoke", *args)
    assert result.exit_code == 1
    assert result.stderr == f"authserver: {message}\n"
    assert client.get("/api/sessions", headers=signed_in.headers).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"retention_seconds": 1000, "session_idle_timeout_seconds": 5000}])
def test_sessions_prune_ends_idle_sessions_and_deletes_old_ended_ones(app, runner, client, registered, clock):
    kept = sign_in(client, registered)
    ended = sign_in(client, registered, user_agent=PHONE_UA)
    run(runner, "sessions", "revoke", ended.sid)

    clock.advance(999)
    assert run_json(runner, "sessions", "prune", "--json") == {
        "ended": 0, "deleted_sessions": 0, "deleted_refresh_tokens": 0, "deleted_denied_access_tokens": 0, "deleted_dpop_proofs": 0,
        "deleted_codes": 0, "deleted_security_events": 0}
    assert session_row(app, ended.sid) is not None

    clock.advance(1)
    assert run_json(runner, "sessions", "prune", "--json") == {
        "ended": 0, "deleted_sessions": 1, "deleted_refresh_tokens": 1, "deleted_denied_access_tokens": 0, "deleted_dpop_proofs": 0,
        "deleted_codes": 0, "deleted_security_events": 3}  # two sign-ins and one ended session
    assert session_row(app, ended.sid) is None
    assert session_row(app, kept.sid).ended_at is None

    clock.advance(4000)  # `kept` has now been idle for 5000 s
    result = run(runner, "sessions", "prune")
    assert result.stdout.startswith("ended: 1, deleted sessions: 0")
    assert session_row(app, kept.sid).ended_reason == ENDED_IDLE
    assert client.get("/api/sessions", headers=kept.headers).status_code == 401
    assert logged_events(app, security_events.SESSION_ENDED)[-1]["session_id"] == kept.sid


# -- the installed console script ------------------------------------------------------------
@pytest.fixture
def fresh_database_url(backend, tmp_path, request):
    """An empty database nobody has migrated: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"authserver_cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def console(args, env, input=None):
    assert AUTHSERVER, "the authserver console script is not installed next to this Python"
    return subprocess.run([AUTHSERVER, *args], env=env, input=input, capture_output=True, text=True, timeout=120)


@pytest.fixture
def console_env(tmp_path, fresh_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env.update(AUTHSERVER_DATABASE_URL=fresh_database_url, AUTHSERVER_KEYS_DIR=str(tmp_path / "keys"))
    return env


def test_console_script_db_upgrade_twice_then_create_and_list(console_env, fresh_database_url, backend, tmp_path):
    said = []
    for _ in range(2):
        upgraded = console(["db", "upgrade"], console_env)
        assert upgraded.returncode == 0, upgraded.stderr
        said.append([line for line in upgraded.stderr.splitlines() if "created" in line])
    if backend == "sqlite":
        assert said == [[f"authserver: created a new database at {tmp_path / 'fresh.db'}"], []]
    else:
        assert said == [[f"authserver: created the schema in {make_url(fresh_database_url)!r}"], []]
    engine = create_engine(fresh_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert {"users", "clients", "device_sessions", "refresh_tokens", "security_events"} <= tables
    assert len(versions) == 1

    created = console(["users", "create", "dora", "--password-stdin", "--json"], console_env, input="pw pw pw pw\n")
    assert created.returncode == 0, created.stderr
    assert list(json.loads(created.stdout)) == ["id", "username"]  # stdout: the one JSON object
    where = tmp_path / "fresh.db" if backend == "sqlite" else repr(make_url(fresh_database_url))
    assert created.stderr.splitlines() == [f"authserver: database {where}, keys {tmp_path / 'keys'}"]
    listed = console(["sessions", "list", "dora", "--json"], console_env)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, {"sessions": []})


def assert_stopped_with_one_line(result, *expected, status=2):
    """The contract: one line on stderr naming the problem; exit 2 for a bad setting, 1 for a failure."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    # The line naming the database and keys in use comes before what the command found there.
    lines = [line for line in result.stderr.splitlines() if not line.startswith("authserver: database ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authserver: ")
    for part in expected:
        assert part in lines[0]


def assert_nothing_created(database_url):
    """Nothing was done half-configured: the fresh database is still empty."""
    engine = create_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("name, value", [("ACCESS_TOKEN_TTL_SECONDS", "abc"), ("SESSION_IDLE_TIMEOUT_SECONDS", "-5"),
                                         ("ISSUER", "ftp://example"),
                                         ("PASSWORD_MEMORY_KIB", "99999999999")])  # past its bound
def test_console_script_stops_on_a_bad_setting_with_one_line_naming_it(console_env, fresh_database_url, name, value):
    result = console(["db", "upgrade"], {**console_env, f"AUTHSERVER_{name}": value})
    assert_stopped_with_one_line(result, f"AUTHSERVER_{name}")
    assert_nothing_created(fresh_database_url)


@pytest.mark.parametrize("variable", ["AUTHSERVER_KEYS_DIR", "AUTHSERVER_DATABASE_URL"])
def test_console_script_stops_on_an_unusable_folder(console_env, fresh_database_url, blocked, variable):
    value = blocked if variable == "AUTHSERVER_KEYS_DIR" else f"sqlite:///{blocked}/auth.db"
    result = console(["db", "upgrade"], {**console_env, variable: value})
    assert_stopped_with_one_line(result, f"{variable} cannot be used", blocked)
    assert_nothing_created(fresh_database_url)


def test_console_script_stops_when_the_database_url_names_a_folder(console_env, tmp_path):
    (tmp_path / "data").mkdir()
    result = console(["db", "upgrade"], {**console_env, "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path}/data"})
    assert_stopped_with_one_line(result, "AUTHSERVER_DATABASE_URL names a folder, not a SQLite file")


def test_serve_stops_before_gunicorn_starts_on_an_unusable_keys_dir(console_env, blocked):
    assert console(["db", "upgrade"], console_env).returncode == 0
    result = console(["serve", "--port", str(free_port()), "--workers", "1"],
                     {**console_env, "AUTHSERVER_KEYS_DIR": blocked, "AUTHSERVER_METRICS": "off"})
    assert_stopped_with_one_line(result, "AUTHSERVER_KEYS_DIR cannot be used")


def test_console_script_warns_about_an_unknown_variable_and_goes_on(console_env, fresh_database_url):
    result = console(["db", "upgrade"], {**console_env, "AUTHSERVER_ISSUR": "https://auth.example.com"})
    assert result.returncode == 0, result.stderr
    assert ("authserver: warning: AUTHSERVER_ISSUR is not a setting and is ignored "
            "(did you mean AUTHSERVER_ISSUER?)") in result.stderr.splitlines()
    engine = create_engine(fresh_database_url)
    try:
        assert "users" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["sessions", "list", "alice"]])
def test_console_script_names_an_unreachable_database_in_one_line(console_env, command):
    port = free_port()
    url = f"postgresql+psycopg://auth:hunter2@127.0.0.1:{port}/auth"
    result = console(command, {**console_env, "AUTHSERVER_DATABASE_URL": url})
    assert_stopped_with_one_line(result, "the database (AUTHSERVER_DATABASE_URL) cannot be used: ", str(port),
                                 status=1)
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("command", [["sessions", "list", "alice"], ["keys", "rotate"], ["serve", "--port", "0"]])
def test_console_script_before_db_upgrade_says_to_run_it_and_creates_nothing(console_env, backend, fresh_database_url,
                                                                               tmp_path, command):
    # Before: a command run in another folder made a second, empty database and key set.
    result = console(command, {**console_env, "AUTHSERVER_METRICS": "off"})
    if backend == "sqlite":
        assert_stopped_with_one_line(result, f"authserver: there is no database at {tmp_path / 'fresh.db'}: run "
                                             "`authserver db upgrade` to create one", status=1)
        assert not (tmp_path / "fresh.db").exists()
    else:
        assert_stopped_with_one_line(result, f"authserver: the database at {make_url(fresh_database_url)!r} has no "
                                             "schema yet: run `authserver db upgrade`", status=1)
        assert_nothing_created(fresh_database_url)
    assert not (tmp_path / "keys").exists()


def test_a_schema_older_than_the_code_says_to_run_db_upgrade(console_env, fresh_database_url):
    assert console(["db", "upgrade"], console_env).returncode == 0
    engine = create_engine(fresh_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    finally:
        engine.dispose()
    result = console(["users", "create", "dora", "--password-stdin"], console_env, input="pw pw pw pw\n")
    assert_stopped_with_one_line(result, "is at schema revision 0001, this version needs ",
                                 ": run `authserver db upgrade`", status=1)


def test_every_command_finds_the_data_under_authserver_home_from_any_folder(tmp_path):
    """The default home is the same from every working directory; nothing is made in the folder a
    command is run from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    home = tmp_path / "data" / "authserver"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    upgraded = subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, cwd=tmp_path / "a", capture_output=True,
                              text=True, timeout=120)
    assert f"authserver: created a new database at {home / 'authserver.db'}" in upgraded.stderr.splitlines()
    created = subprocess.run([AUTHSERVER, "users", "create", "dora", "--password-stdin", "--json"], env=env,
                             cwd=tmp_path / "b", input="pw pw pw pw\n", capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    assert created.stderr.splitlines() == [f"authserver: database {home / 'authserver.db'}, keys {home / 'keys'}"]
    assert os.listdir(tmp_path / "a") == os.listdir(tmp_path / "b") == []
    assert sorted(os.listdir(home)) == ["authserver.db", "authserver.db-writer.lock", "keys"]


def test_a_postgres_url_is_named_with_the_right_scheme(console_env):
    result = console(["db", "upgrade"], {**console_env, "AUTHSERVER_DATABASE_URL": "postgres://u:hunter2@db/auth"})
    assert_stopped_with_one_line(result, "AUTHSERVER_DATABASE_URL has the scheme postgres://",
                                 "write postgresql+psycopg://u:…@db/auth")
    assert "hunter2" not in result.stderr


# -- progress on a terminal only ---------------------------------------------------------------
def on_a_terminal(args, env):
    """Run the console script with standard error on a pseudo-terminal, as in an operator's shell;
    returns (the finished process with its stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    shown = []

    def read():
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run([AUTHSERVER, *args], env=env, stdout=subprocess.PIPE, stderr=follower, text=True,
                              timeout=120)
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)
    return done, b"".join(shown).decode(errors="replace")


@pytest.fixture
def upgraded_env(console_env):
    assert console(["db", "upgrade"], console_env).returncode == 0
    return console_env


def test_keys_rotate_wait_shows_the_lead_time_passing_on_a_terminal(upgraded_env):
    env = {**upgraded_env, "AUTHSERVER_KEY_ROTATION_LEAD_SECONDS": "2"}
    started = time.monotonic()
    done, shown = on_a_terminal(["keys", "rotate", "--wait", "--json"], env)
    assert done.returncode == 0 and time.monotonic() - started >= 2
    kid = json.loads(done.stdout)["kid"]  # standard output is still the one JSON object
    assert f"waiting for {kid} to sign" in shown and "━" in shown
    piped = console(["keys", "rotate", "--wait"], env)  # in a pipe or a log: no bar, the same answer
    assert piped.returncode == 0 and piped.stdout.endswith("signs now\n")
    assert "waiting" not in piped.stderr and "━" not in piped.stderr


def test_sessions_prune_shows_its_steps_on_a_terminal_only(upgraded_env):
    done, shown = on_a_terminal(["sessions", "prune", "--json"], upgraded_env)
    assert done.returncode == 0 and json.loads(done.stdout)["deleted_sessions"] == 0
    assert "deleting old security events" in shown and "━" in shown  # the last step, as the bar stops
    piped = console(["sessions", "prune", "--json"], upgraded_env)
    assert piped.returncode == 0 and "ending expired" not in piped.stderr


def test_a_database_left_at_the_old_default_is_pointed_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env["AUTHSERVER_HOME"] = str(tmp_path / "home")
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "authserver.db").touch()
    result = subprocess.run([AUTHSERVER, "sessions", "list", "alice"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert_stopped_with_one_line(result, "(./instance/authserver.db here is the old default: set "
                                         "AUTHSERVER_DATABASE_URL=sqlite:///instance/authserver.db and "
                                         "AUTHSERVER_KEYS_DIR=keys to keep using it)", status=1)


# -- resources (RFC 8707) ---------------------------------------------------------------------------
def test_resources_add_and_list_json_and_a_token_for_it(runner, client, registered):
    added = run_json(runner, "resources", "add", "https://mcp.example/mcp", "--name", "Notes MCP",
                     "--scope", "profile read", "--json")
    assert added == {"resource": "https://mcp.example/mcp", "name": "Notes MCP", "scope": "profile read"}
    run_json(runner, "resources", "add", "https://api.example/", "--json")
    listed = run_json(runner, "resources", "list", "--json")
    # By URI; a resource added without --scope has no limit beyond the client's (null).
    assert listed == {"resources": [{"resource": "https://api.example/", "name": None, "scope": None}, added]}
    token = password_login(client, registered, resource="https://mcp.example/mcp")
    assert token.status_code == 200, token.text
    assert token.json["scope"] == "profile"


@pytest.mark.parametrize("uri", ["/mcp", "https://mcp.example/mcp#tools", "mcp.example"])
def test_resources_add_refuses_a_relative_or_fragment_uri_in_one_line(app, runner, uri):
    result = run(runner, "resources", "add", uri, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("authserver: ") and result.stderr.count("\n") == 1
    assert run_json(runner, "resources", "list", "--json") == {"resources": []}
