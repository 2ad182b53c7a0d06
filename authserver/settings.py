"""Every setting authserver reads, with its one documented default.

Settings come from ``AUTHSERVER_*`` environment variables. A bad value stops start-up with
:class:`SettingsError`, whose message is one line naming the variable: the server never
starts half-configured. The README's settings table mirrors :data:`SETTINGS`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

PREFIX = "AUTHSERVER_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it in one line."""


def _positive_int(name, raw):
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{PREFIX}{name} must be greater than 0, got {raw!r}")
    return value


def _non_negative_int(name, raw):
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{PREFIX}{name} must be 0 or more, got {raw!r}")
    return value


def _boolean(name, raw):
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, got {raw!r}")


def _url(name, raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"{PREFIX}{name} must be an http(s) URL without query or fragment, got {raw!r}")
    return raw.rstrip("/")


def _database_url(name, raw):
    scheme = raw.split(":", 1)[0]
    if "://" not in raw or not scheme.split("+")[0] in ("sqlite", "postgresql"):
        raise SettingsError(
            f"{PREFIX}{name} must be a sqlite:/// or postgresql+psycopg:// URL, got {raw.split('@')[-1]!r}"
        )
    return raw


def _text(name, raw):
    if not raw.strip():
        raise SettingsError(f"{PREFIX}{name} must not be empty")
    return raw


@dataclass(frozen=True)
class Settings:
    # SQLAlchemy URL; postgresql+psycopg://user@host/db in production.
    database_url: str = "sqlite:///instance/authserver.db"
    # The issuer: `iss` of every token and the base of every URL in the metadata.
    issuer: str = "http://127.0.0.1:5000"
    # The `aud` of every access token; empty means the issuer. Resource servers check it.
    audience: str = ""
    # Signing keys, the refresh-token HMAC key and the web cookie key live here (generated if missing).
    keys_dir: str = "keys"
    # Access tokens are short-lived JWTs; revocation reaches resource servers that introspect.
    access_token_ttl_seconds: int = 900
    # A retried refresh of the immediate predecessor inside this window gets the same successor.
    refresh_grace_seconds: int = 10
    # A device session unused for this long ends (30 days).
    session_idle_timeout_seconds: int = 2_592_000
    # A device session ends this long after sign-in however active it is (90 days).
    session_max_age_seconds: int = 7_776_000
    # `sessions prune` deletes ended sessions and their used refresh tokens this long after they ended (30 days).
    retention_seconds: int = 2_592_000
    # argon2id parameters for user passwords; defaults are OWASP's minimum (19 MiB, t=2, p=1).
    password_memory_kib: int = 19_456
    password_time_cost: int = 2
    password_parallelism: int = 1
    # A new signing key is published this long before it starts signing, so cached JWKS catch up.
    key_rotation_lead_seconds: int = 0
    # How long resource servers may cache the JWKS (Cache-Control max-age).
    jwks_max_age_seconds: int = 300
    # Wrong passwords allowed per username and IP inside the window before sign-in answers 429.
    login_max_failures: int = 10
    login_failure_window_seconds: int = 900
    # Reverse proxies in front of the server whose X-Forwarded-For is trusted (0: use the socket address).
    proxy_hops: int = 0
    # Session cookies get `Secure`; turn off only for plain-HTTP local use.
    cookie_secure: bool = True
    # Give up waiting for a row lock after this long and answer 409 with Retry-After.
    lock_timeout_seconds: int = 5

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            name = field.name.upper()
            raw = environ.get(PREFIX + name)
            if raw is None:
                continue
            values[field.name] = PARSERS[field.name](name, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.session_idle_timeout_seconds > self.session_max_age_seconds:
            raise SettingsError(
                f"{PREFIX}SESSION_IDLE_TIMEOUT_SECONDS ({self.session_idle_timeout_seconds}) "
                f"must not exceed {PREFIX}SESSION_MAX_AGE_SECONDS ({self.session_max_age_seconds})"
            )
        if self.password_memory_kib < 8 * self.password_parallelism:
            raise SettingsError(f"{PREFIX}PASSWORD_MEMORY_KIB must be at least 8 x PASSWORD_PARALLELISM")

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


PARSERS = {
    "database_url": _database_url,
    "issuer": _url,
    "audience": _text,
    "keys_dir": _text,
    "access_token_ttl_seconds": _positive_int,
    "refresh_grace_seconds": _non_negative_int,
    "session_idle_timeout_seconds": _positive_int,
    "session_max_age_seconds": _positive_int,
    "retention_seconds": _positive_int,
    "password_memory_kib": _positive_int,
    "password_time_cost": _positive_int,
    "password_parallelism": _positive_int,
    "key_rotation_lead_seconds": _non_negative_int,
    "jwks_max_age_seconds": _non_negative_int,
    "login_max_failures": _positive_int,
    "login_failure_window_seconds": _positive_int,
    "proxy_hops": _non_negative_int,
    "cookie_secure": _boolean,
    "lock_timeout_seconds": _positive_int,
}
