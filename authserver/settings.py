"""Every setting authserver reads, with its one documented default.

Settings come from ``AUTHSERVER_*`` environment variables. A bad value or a value outside its
bounds stops start-up with :class:`SettingsError`, whose message is one line naming the variable:
the server never starts half-configured. An ``AUTHSERVER_*`` variable that is not a setting (most
likely a misspelling) is reported by :func:`unknown_variables`, and the command line warns about
it. Defaults are on :class:`Settings`, bounds in :data:`PARSERS`; the README's settings table
mirrors both.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

PREFIX = "AUTHSERVER_"
# Variables under these prefixes are not settings but the test suite's own switches
# (AUTHSERVER_TEST_DB, AUTHSERVER_TEST_POSTGRES_URL): unknown_variables leaves them alone.
NOT_SETTINGS_PREFIXES = ("AUTHSERVER_TEST_",)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it in one line."""


def path_error(name: str, error: OSError) -> SettingsError:
    """A folder or file named by a setting cannot be made or read: one line naming the setting."""
    where = error.filename
    if isinstance(error, FileExistsError):  # from os.makedirs: something that is not a folder is in the way
        return SettingsError(f"{PREFIX}{name} cannot be used: {where!r} exists and is not a folder")
    reason = error.strerror or str(error)
    return SettingsError(f"{PREFIX}{name} cannot be used: {reason}" + (f": {where!r}" if where else ""))


# Upper bounds: a value past them is a typo (a few zeros too many), and stopping start-up beats
# failing later on every request (a session expiry past year 9999 answers 500 at each login).
# Ten years is far beyond any sane lifetime or window, and far below datetime's year 9999.
MAX_SECONDS = 315_360_000
# A lock wait is measured in seconds (gunicorn kills a worker silent for 30 s); PostgreSQL's
# lock_timeout and SQLite's busy timeout are C ints of milliseconds and overflow past 24.8 days.
MAX_LOCK_TIMEOUT_SECONDS = 86_400
# argon2id: 4 GiB is twice RFC 9106's largest recommendation (2 GiB, t=1, p=4); argon2 itself
# overflows at 2**32 KiB. Per hash, so per sign-in: even the bound needs a big machine.
MAX_PASSWORD_MEMORY_KIB = 4_194_304
# RFC 9106 and OWASP recommend time costs of 1 to 5; a hundred passes is already seconds per sign-in.
MAX_PASSWORD_TIME_COST = 100
# One thread per lane; RFC 9106 recommends 4, and few servers have more than 64 cores.
MAX_PASSWORD_PARALLELISM = 64


def _whole(low, high=None):
    """A parser for a whole number from low to high (inclusive; no upper bound if high is None)."""

    def parse(name, raw):
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
        if value < low:
            floor = "greater than 0" if low == 1 else f"{low} or more"
            raise SettingsError(f"{PREFIX}{name} must be {floor}, got {raw!r}")
        if high is not None and value > high:
            raise SettingsError(f"{PREFIX}{name} must be at most {high}, got {raw!r}")
        return value

    return parse


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
    """Each setting with its default; PARSERS says how each is read and within which bounds."""

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


def unknown_variables(environ=None) -> list[str]:
    """One line for each AUTHSERVER_* variable that is not a setting: a misspelled one is otherwise silently ignored.

    A warning, not a stop: deployments set variables of their own under the prefix, and the
    server's behaviour does not depend on them."""
    environ = os.environ if environ is None else environ
    known = {PREFIX + name.upper() for name in PARSERS}
    lines = []
    for variable in sorted(environ):
        upper = variable.upper()
        if variable in known or not upper.startswith(PREFIX) or upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        # Compare without the shared prefix, which would make every name look close.
        close = difflib.get_close_matches(upper[len(PREFIX):], [k[len(PREFIX):] for k in sorted(known)], n=1)
        hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
        lines.append(f"{variable} is not a setting and is ignored{hint}")
    return lines


# How each setting is read, and its bounds (see the MAX_* constants for why).
PARSERS = {
    "database_url": _database_url,
    "issuer": _url,
    "audience": _text,
    "keys_dir": _text,
    "access_token_ttl_seconds": _whole(1, MAX_SECONDS),
    "refresh_grace_seconds": _whole(0, MAX_SECONDS),
    "session_idle_timeout_seconds": _whole(1, MAX_SECONDS),
    "session_max_age_seconds": _whole(1, MAX_SECONDS),
    "retention_seconds": _whole(1, MAX_SECONDS),
    "password_memory_kib": _whole(1, MAX_PASSWORD_MEMORY_KIB),  # and at least 8 x parallelism: Settings.check
    "password_time_cost": _whole(1, MAX_PASSWORD_TIME_COST),
    "password_parallelism": _whole(1, MAX_PASSWORD_PARALLELISM),
    "key_rotation_lead_seconds": _whole(0, MAX_SECONDS),
    "jwks_max_age_seconds": _whole(0, MAX_SECONDS),
    "login_max_failures": _whole(1),
    "login_failure_window_seconds": _whole(1, MAX_SECONDS),
    "proxy_hops": _whole(0),
    "cookie_secure": _boolean,
    "lock_timeout_seconds": _whole(1, MAX_LOCK_TIMEOUT_SECONDS),
}
