"""Settings: documented defaults, AUTHSERVER_* overrides, one clear line for a bad value."""

import dataclasses
from pathlib import Path

import pytest

from authserver.settings import MAX_LOCK_TIMEOUT_SECONDS
from authserver.settings import MAX_PASSWORD_MEMORY_KIB
from authserver.settings import MAX_PASSWORD_PARALLELISM
from authserver.settings import MAX_PASSWORD_TIME_COST
from authserver.settings import MAX_SECONDS
from authserver.settings import PARSERS
from authserver.settings import Settings
from authserver.settings import SettingsError
from authserver.settings import setting_warnings
from authserver.settings import settings_table_markdown
from authserver.settings import unknown_variables
from authserver.tokens.keys import KeyRing
from authserver.tokens.keys import load_or_create_secret


def test_contract_defaults():
    settings = Settings.from_env({"HOME": "/home/ann"})
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.home == "/home/ann/.local/share/authserver"
    assert settings.keys_dir == "/home/ann/.local/share/authserver/keys"
    assert settings.database_url == "sqlite:////home/ann/.local/share/authserver/authserver.db"
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_grace_seconds == 10
    assert settings.session_idle_timeout_seconds == 2_592_000
    assert settings.session_max_age_seconds == 7_776_000
    # OWASP's argon2id minimum.
    assert (settings.password_memory_kib, settings.password_time_cost, settings.password_parallelism) == (19456, 2, 1)


def test_authserver_home_holds_the_database_and_keys_unless_they_are_set_one_by_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"XDG_DATA_HOME": "/data", "HOME": "/home/ann"}).home == "/data/authserver"
    settings = Settings.from_env({"AUTHSERVER_HOME": "srv"})  # relative: to the folder it was set in
    assert (settings.database_url, settings.keys_dir) == (f"sqlite:///{tmp_path}/srv/authserver.db",
                                                          f"{tmp_path}/srv/keys")
    own = Settings.from_env({"AUTHSERVER_HOME": "/srv/auth", "AUTHSERVER_KEYS_DIR": "/etc/auth-keys",
                             "AUTHSERVER_DATABASE_URL": "postgresql+psycopg://auth@db/auth"})
    assert (own.database_url, own.keys_dir) == ("postgresql+psycopg://auth@db/auth", "/etc/auth-keys")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_a_postgresql_url_of_another_driver_is_named_with_the_right_scheme(scheme):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AUTHSERVER_DATABASE_URL": f"{scheme}://auth:hunter2@db.internal:5432/auth"})
    assert str(error.value) == (f"AUTHSERVER_DATABASE_URL has the scheme {scheme}://, which names a driver "
                                "authserver does not use: write postgresql+psycopg://auth:…@db.internal:5432/auth")


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


# -- one source: settings.py declares each setting once; the README's table is generated from it --
README = Path(__file__).resolve().parent.parent / "README.md"
TABLE_START, TABLE_END = "<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->"
REGENERATE = "./scripts/settings-table"


def test_readme_settings_table_is_the_generated_one():
    readme = README.read_text(encoding="utf-8")
    table = readme[readme.index(TABLE_START) + len(TABLE_START):readme.index(TABLE_END)]
    assert table == settings_table_markdown(), (
        f"README.md's settings table is out of date: replace the lines between {TABLE_START.strip()} and "
        f"{TABLE_END.strip()} by running {REGENERATE}")


def test_every_setting_is_declared_with_a_parser_and_one_line_of_documentation():
    fields = dataclasses.fields(Settings)
    assert list(PARSERS) == [f.name for f in fields]
    for f in fields:
        assert f.metadata["doc"] and "\n" not in f.metadata["doc"] and "|" not in f.metadata["doc"], f.name
    assert settings_table_markdown().count("\n") == len(fields) + 1  # header, rule, one row each


def test_table_shows_defaults_bounds_and_units():
    rows = {row.split(" | ")[0].strip("| `"): row for row in settings_table_markdown().splitlines()[2:]}
    assert rows["AUTHSERVER_SESSION_MAX_AGE_SECONDS"].startswith(
        "| `AUTHSERVER_SESSION_MAX_AGE_SECONDS` | `7776000` (90 days) | 1 to 315360000 (10 years) | ")
    assert "| `19456` (19 MiB) | 1 to 4194304 (4 GiB) |" in rows["AUTHSERVER_PASSWORD_MEMORY_KIB"]
    assert "| the issuer | not empty |" in rows["AUTHSERVER_AUDIENCE"]
    assert "| `true` | `true` or `false`" in rows["AUTHSERVER_COOKIE_SECURE"]
    assert "| `10` | 1 or more |" in rows["AUTHSERVER_LOGIN_MAX_FAILURES"]


# -- an idle timeout longer than the max age is never reached; it does not stop start-up --------
def test_a_max_age_below_the_default_idle_timeout_starts(tmp_path):
    settings = Settings.from_env({"AUTHSERVER_SESSION_MAX_AGE_SECONDS": "86400"})  # was refused at start-up
    assert (settings.session_max_age_seconds, settings.session_idle_timeout_seconds) == (86_400, 2_592_000)
    assert setting_warnings({"AUTHSERVER_SESSION_MAX_AGE_SECONDS": "86400"}) == []  # the default: nothing to say


def test_an_idle_timeout_set_beyond_the_max_age_is_a_warning():
    environ = {"AUTHSERVER_SESSION_MAX_AGE_SECONDS": "3600", "AUTHSERVER_SESSION_IDLE_TIMEOUT_SECONDS": "7200"}
    Settings.from_env(environ)
    assert setting_warnings(environ) == [
        "AUTHSERVER_SESSION_IDLE_TIMEOUT_SECONDS (7200) exceeds AUTHSERVER_SESSION_MAX_AGE_SECONDS (3600): "
        "sessions end at their max age and the idle timeout is never reached"]


def test_an_insecure_cookie_with_an_https_issuer_is_a_warning():
    environ = {"AUTHSERVER_ISSUER": "https://auth.example.com", "AUTHSERVER_COOKIE_SECURE": "false"}
    assert setting_warnings(environ) == [
        "AUTHSERVER_COOKIE_SECURE is false but AUTHSERVER_ISSUER is https: the session cookie is sent without "
        "Secure and without its __Host- prefix"]
    assert setting_warnings({**environ, "AUTHSERVER_ISSUER": "http://127.0.0.1:5000"}) == []  # local use
    assert setting_warnings({**environ, "AUTHSERVER_COOKIE_SECURE": "true"}) == []
