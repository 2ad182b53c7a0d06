"""Settings: documented defaults, AUTHSERVER_* overrides, one clear line for a bad value."""

import pytest

from authserver.settings import Settings
from authserver.settings import SettingsError


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
