"""Settings: documented defaults, AUTHSERVER_* overrides, one clear line for a bad value."""

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest

from authserver.keys import KeyRing
from authserver.keys import load_or_create_secret
from authserver.settings import MAX_LOCK_TIMEOUT_SECONDS
from authserver.settings import MAX_PASSWORD_MEMORY_KIB
from authserver.settings import MAX_PASSWORD_PARALLELISM
from authserver.settings import MAX_PASSWORD_TIME_COST
from authserver.settings import MAX_SECONDS
from authserver.settings import Settings
from authserver.settings import SettingsError
from authserver.settings import unknown_variables


def test_contract_defaults():
    settings = Settings.from_env({})
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.keys_dir == "keys"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_grace_seconds == 10
    assert settings.session_idle_timeout_seconds == 2_592_000
    assert settings.session_max_age_seconds == 7_776_000
    # OWASP's argon2id minimum.
    assert (settings.password_memory_kib, settings.password_time_cost, settings.password_parallelism) == (19456, 2, 1)


def test_environment_overrides():
    settings = Settings.from_env({
        "AUTHSERVER_ISSUER": "https://auth.example.com/",
        "AUTHSERVER_REFRESH_GRACE_SECONDS": "0",
        "AUTHSERVER_COOKIE_SECURE": "false",
        "AUTHSERVER_DATABASE_URL": "postgresql+psycopg://auth@db/auth",
    })
    assert settings.issuer == "https://auth.example.com"
    assert settings.refresh_grace_seconds == 0
    assert settings.cookie_secure is False
    assert settings.token_audience == "https://auth.example.com"
    assert not settings.is_sqlite


@pytest.mark.parametrize("name,value", [
    ("ACCESS_TOKEN_TTL_SECONDS", "abc"),
    ("ACCESS_TOKEN_TTL_SECONDS", "0"),
    ("REFRESH_GRACE_SECONDS", "-1"),
    ("ISSUER", "auth.example.com"),
    ("ISSUER", "https://auth.example.com/?x=1"),
    ("DATABASE_URL", "mysql://x"),
    ("COOKIE_SECURE", "maybe"),
    ("SESSION_IDLE_TIMEOUT_SECONDS", "99999999999"),
])
def test_bad_setting_is_one_line_naming_it(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AUTHSERVER_" + name: value})
    message = str(error.value)
    assert "AUTHSERVER_" + name in message
    assert "\n" not in message


def test_database_password_is_not_echoed_in_the_error():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AUTHSERVER_DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(error.value)


# -- bounds: a typo with a few zeros too many stops start-up, not every later request ---------
SECONDS_SETTINGS = [f.name.upper() for f in dataclasses.fields(Settings) if f.name.endswith("_seconds")]


@pytest.mark.parametrize("name", SECONDS_SETTINGS)
def test_every_seconds_setting_has_an_upper_bound(name):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AUTHSERVER_" + name: "999999999999"})
    message = str(error.value)
    assert "AUTHSERVER_" + name in message
    assert "\n" not in message


@pytest.mark.parametrize("name,bound,value", [
    ("PASSWORD_MEMORY_KIB", MAX_PASSWORD_MEMORY_KIB, 99999999999),  # was an argon2 OverflowError at sign-in
    ("PASSWORD_MEMORY_KIB", MAX_PASSWORD_MEMORY_KIB, MAX_PASSWORD_MEMORY_KIB + 1),
    ("PASSWORD_TIME_COST", MAX_PASSWORD_TIME_COST, MAX_PASSWORD_TIME_COST + 1),
    ("PASSWORD_PARALLELISM", MAX_PASSWORD_PARALLELISM, MAX_PASSWORD_PARALLELISM + 1),
    ("ACCESS_TOKEN_TTL_SECONDS", MAX_SECONDS, MAX_SECONDS + 1),
    ("LOCK_TIMEOUT_SECONDS", MAX_LOCK_TIMEOUT_SECONDS, MAX_LOCK_TIMEOUT_SECONDS + 1),
])
def test_value_past_its_bound_is_one_line_naming_it(name, bound, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AUTHSERVER_" + name: str(value)})
    assert str(error.value) == f"AUTHSERVER_{name} must be at most {bound}, got '{value}'"


def test_the_bounds_themselves_are_accepted():
    settings = Settings.from_env({
        "AUTHSERVER_PASSWORD_MEMORY_KIB": str(MAX_PASSWORD_MEMORY_KIB),
        "AUTHSERVER_PASSWORD_TIME_COST": str(MAX_PASSWORD_TIME_COST),
        "AUTHSERVER_PASSWORD_PARALLELISM": str(MAX_PASSWORD_PARALLELISM),
        "AUTHSERVER_SESSION_IDLE_TIMEOUT_SECONDS": str(MAX_SECONDS),
        "AUTHSERVER_SESSION_MAX_AGE_SECONDS": str(MAX_SECONDS),
        "AUTHSERVER_LOCK_TIMEOUT_SECONDS": str(MAX_LOCK_TIMEOUT_SECONDS),
    })
    assert settings.session_max_age_seconds == MAX_SECONDS == 10 * 365 * 24 * 3600
    assert settings.password_memory_kib == 4 * 1024 * 1024


# -- unknown AUTHSERVER_* variables: a warning naming the likely setting, not a stop -------------
@pytest.mark.parametrize("variable,message", [
    ("AUTHSERVER_ISSUR", "AUTHSERVER_ISSUR is not a setting and is ignored (did you mean AUTHSERVER_ISSUER?)"),
    ("AUTHSERVER_KEY_DIR", "AUTHSERVER_KEY_DIR is not a setting and is ignored (did you mean AUTHSERVER_KEYS_DIR?)"),
    ("AUTHSERVER_SESSION_MAX_AGE", "AUTHSERVER_SESSION_MAX_AGE is not a setting and is ignored "
                                   "(did you mean AUTHSERVER_SESSION_MAX_AGE_SECONDS?)"),
    ("authserver_issuer", "authserver_issuer is not a setting and is ignored (did you mean AUTHSERVER_ISSUER?)"),
    ("AUTHSERVER_PORT", "AUTHSERVER_PORT is not a setting and is ignored"),
])
def test_unknown_variable_is_named_with_the_setting_it_resembles(variable, message):
    environ = {variable: "http://auth.example.com", "AUTHSERVER_ISSUER": "https://auth.example.com"}
    assert unknown_variables(environ) == [message]
    assert Settings.from_env(environ).issuer == "https://auth.example.com"  # the server still starts


def test_settings_test_switches_and_other_prefixes_are_not_reported():
    environ = {"AUTHSERVER_TEST_DB": "sqlite", "AUTHSERVER_TEST_POSTGRES_URL": "", "AUTHSERVER_ISSUER": "http://a.example",
               "AUTHLIB_INSECURE_TRANSPORT": "1", "PATH": "/usr/bin"}
    assert unknown_variables(environ) == []


# -- folders named by settings -----------------------------------------------------------------
@pytest.fixture
def blocked(tmp_path):
    """A path whose parent is a regular file: no folder can be made there (even as root)."""
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file" / "keys")


def test_unusable_keys_dir_is_a_settings_error_naming_it(blocked, tmp_path):
    for attempt in (lambda: load_or_create_secret(blocked, "web-secret.key"),
                    lambda: KeyRing(blocked, access_token_ttl_seconds=900).ensure_key(),
                    lambda: KeyRing(str(tmp_path / "file"), access_token_ttl_seconds=900).rotate()):
        with pytest.raises(SettingsError) as error:
            attempt()
        assert str(error.value).startswith("AUTHSERVER_KEYS_DIR cannot be used: ")
        assert "\n" not in str(error.value)


def test_too_short_secret_file_is_a_settings_error(tmp_path):
    (tmp_path / "web-secret.key").write_bytes(b"short")
    with pytest.raises(SettingsError, match="^AUTHSERVER_KEYS_DIR: .*web-secret.key holds fewer than 32 bytes"):
        load_or_create_secret(str(tmp_path), "web-secret.key")


# -- the console script, the way an operator runs it --------------------------------------------
AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))


@pytest.fixture
def operator_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env.update(AUTHSERVER_DATABASE_URL=f"sqlite:///{tmp_path}/auth.db", AUTHSERVER_KEYS_DIR=str(tmp_path / "keys"))
    return env


def console(args, env, cwd):
    assert AUTHSERVER, "the authserver console script is not installed next to this Python"
    return subprocess.run([AUTHSERVER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def assert_stopped_with_one_line(result, *expected):
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authserver: ")
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize("variable", ["AUTHSERVER_KEYS_DIR", "AUTHSERVER_DATABASE_URL"])
@pytest.mark.parametrize("command", [["db", "upgrade"], ["keys", "rotate"]])
def test_console_script_stops_on_an_unusable_folder(operator_env, blocked, tmp_path, variable, command):
    value = blocked if variable == "AUTHSERVER_KEYS_DIR" else f"sqlite:///{blocked}/auth.db"
    result = console(command, {**operator_env, variable: value}, tmp_path)
    assert_stopped_with_one_line(result, f"{variable} cannot be used", blocked)
    assert not os.path.exists(tmp_path / "auth.db")  # nothing was done half-configured


def test_console_script_warns_about_an_unknown_variable_and_goes_on(operator_env, tmp_path):
    result = console(["db", "upgrade"], {**operator_env, "AUTHSERVER_ISSUR": "https://auth.example.com"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("authserver: warning: AUTHSERVER_ISSUR is not a setting and is ignored "
            "(did you mean AUTHSERVER_ISSUER?)") in result.stderr.splitlines()
    assert os.path.exists(tmp_path / "auth.db")


def test_console_script_stops_on_a_value_past_its_bound(operator_env, tmp_path):
    result = console(["db", "upgrade"], {**operator_env, "AUTHSERVER_PASSWORD_MEMORY_KIB": "99999999999"}, tmp_path)
    assert_stopped_with_one_line(result, "AUTHSERVER_PASSWORD_MEMORY_KIB must be at most 4194304")


def test_serve_stops_before_gunicorn_starts_on_an_unusable_keys_dir(operator_env, blocked, tmp_path):
    result = console(["serve", "--port", "1", "--workers", "1"], {**operator_env, "AUTHSERVER_KEYS_DIR": blocked},
                     tmp_path)
    assert_stopped_with_one_line(result, "AUTHSERVER_KEYS_DIR cannot be used")


def test_console_script_stops_when_the_database_url_names_a_folder(operator_env, tmp_path):
    (tmp_path / "data").mkdir()
    result = console(["db", "upgrade"], {**operator_env, "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path}/data"},
                     tmp_path)
    assert_stopped_with_one_line(result, "AUTHSERVER_DATABASE_URL names a folder, not a SQLite file")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["sessions", "list", "alice"]])
def test_console_script_names_an_unreachable_database_in_one_line(operator_env, tmp_path, command):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://auth:hunter2@127.0.0.1:{port}/auth"
    result = console(command, {**operator_env, "AUTHSERVER_DATABASE_URL": url}, tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authserver: the database (AUTHSERVER_DATABASE_URL) cannot be used: ")
    assert str(port) in lines[0] and "hunter2" not in result.stderr


def test_console_script_before_db_upgrade_says_to_run_it(operator_env, tmp_path, backend, request):
    if backend == "postgresql":  # a second, empty database on the suite's server
        import psycopg
        from sqlalchemy.engine import make_url

        suite = make_url(request.getfixturevalue("postgres_url"))
        with psycopg.connect(suite.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS authserver_empty")
            connection.execute("CREATE DATABASE authserver_empty")
        url = suite.set(database="authserver_empty").render_as_string(hide_password=False)
        missing = 'relation "users" does not exist'
    else:
        url = f"sqlite:///{tmp_path}/empty.db"
        missing = "no such table: users"
    result = console(["sessions", "list", "alice"], {**operator_env, "AUTHSERVER_DATABASE_URL": url}, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"authserver: the database (AUTHSERVER_DATABASE_URL) cannot be used: {missing}; "
        "run `authserver db upgrade` first"]
