"""The single source of every setting authserver reads.

Each setting is declared once, on :class:`Settings`, with :func:`setting`: its default, its parser
(which holds its bounds) and one line saying what it does. Everything else is derived from those
declarations: :data:`PARSERS`, the list of known variables, and the README's settings table
(:func:`settings_table_markdown`; a test fails when the README differs from it).

Settings come from ``AUTHSERVER_*`` environment variables. A bad value or a value outside its
bounds stops start-up with :class:`SettingsError`, whose message is one line naming the variable:
the server never starts half-configured. An ``AUTHSERVER_*`` variable that is not a setting (most
likely a misspelling) is reported by :func:`unknown_variables`, a valid combination that does not do
what it says by :func:`setting_warnings`; the command line warns about both.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
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
# An outbound receiver that needs more than a minute to answer is down; the delivery worker's lease
# (store/outbox.py) covers the timeout, so a long one also delays the retry after a crash.
MAX_OUTBOUND_TIMEOUT_SECONDS = 60
# Past a month a logout token or a security event is no longer news, and the outbox only grows.
MAX_OUTBOUND_AGE_SECONDS = 2_592_000
# One thread per delivery in flight.
MAX_OUTBOUND_CONCURRENCY = 64


# -- parsers: each reads one raw value or raises a one-line SettingsError; `allowed` says what it accepts
def _allows(text):
    """Label a parser with the values it accepts, for the README table."""

    def label(parse):
        parse.allowed = text
        return parse

    return label


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

    parse.bounds = (low, high)  # the table shows them in the setting's unit
    return parse


@_allows("`true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`)")
def _boolean(name, raw):
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, got {raw!r}")


@_allows("an http(s) URL without query or fragment; a trailing `/` is dropped")
def _url(name, raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"{PREFIX}{name} must be an http(s) URL without query or fragment, got {raw!r}")
    return raw.rstrip("/")


# PostgreSQL URLs as other tools write them (libpq, Heroku, psycopg2's SQLAlchemy default): the same
# database, through a driver we do not install; the message gives the one we do.
_OTHER_POSTGRESQL_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2", "postgres+psycopg")


@_allows("a `sqlite:///` or `postgresql+psycopg://` URL")
def _database_url(name, raw):
    scheme, separator, rest = raw.partition("://")
    if separator and scheme.lower() in _OTHER_POSTGRESQL_SCHEMES:
        credentials, at, place = rest.rpartition("@")
        user = credentials.split(":", 1)[0] + ":…" if ":" in credentials else credentials
        raise SettingsError(f"{PREFIX}{name} has the scheme {scheme}://, which names a driver authserver does "
                            f"not use: write postgresql+psycopg://{user}{at}{place}")
    if not separator or scheme.split("+")[0] not in ("sqlite", "postgresql"):
        raise SettingsError(
            f"{PREFIX}{name} must be a sqlite:/// or postgresql+psycopg:// URL, got {raw.split('@')[-1]!r}"
        )
    return raw


def default_home(environ=None) -> str:
    """Where the server's data lives unless AUTHSERVER_HOME says: the XDG data folder, the same from
    any working directory, so a command run elsewhere finds the server's database and keys."""
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "authserver")


@_allows("a folder (made if missing, 0700)")
def _folder(name, raw):
    if not raw.strip():
        raise SettingsError(f"{PREFIX}{name} must not be empty")
    return os.path.abspath(os.path.expanduser(raw))


@_allows("`on`, `off` or a port number (1 to 65535)")
def _metrics(name, raw):
    lowered = raw.strip().lower()
    if lowered in ("on", "off"):
        return lowered
    try:
        port = int(lowered)
    except ValueError:
        port = 0
    if not 1 <= port <= 65_535:
        raise SettingsError(f"{PREFIX}{name} must be on, off or a port number, got {raw!r}")
    return port


@_allows("an IP address (`127.0.0.1`, `0.0.0.0`, `::1`, `::`)")
def _ip_address(name, raw):
    try:
        return str(ipaddress.ip_address(raw.strip().strip("[]")))
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an IP address, got {raw!r}") from None


@_allows("`off`, `token` or `open`")
def _registration(name, raw):
    lowered = raw.strip().lower()
    if lowered not in ("off", "token", "open"):
        raise SettingsError(f"{PREFIX}{name} must be off, token or open, got {raw!r}")
    return lowered


@_allows("space-separated scopes")
def _scopes(name, raw):
    scopes = raw.split()
    if not scopes or any(not scope.isprintable() or '"' in scope or "\\" in scope for scope in scopes):
        raise SettingsError(f"{PREFIX}{name} must be space-separated scopes (RFC 6749 §3.3), got {raw!r}")
    return " ".join(dict.fromkeys(scopes))


@_allows("not empty")
def _text(name, raw):
    if not raw.strip():
        raise SettingsError(f"{PREFIX}{name} must not be empty")
    return raw


def setting(default, parse, doc, shown=None):
    """Declare one setting: its default, its parser (bounds included) and its one line for the README.

    ``shown`` replaces the default in the README table when the raw value would mislead (an empty
    audience means the issuer)."""
    return dataclasses.field(default=default, metadata={"parse": parse, "doc": doc, "shown": shown})


def duration(default, doc, least=1, most=MAX_SECONDS):
    """Declare a setting that is a number of seconds: a whole number from ``least`` to ``most``."""
    return setting(default, _whole(least, most), doc)


def allowance(default, doc):
    """Declare a budget: how many of something (failures, registrations) are allowed in a window, at least one."""
    return setting(default, _whole(1), doc)


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: default, parser with its bounds, one line of documentation."""

    home: str = setting(
        "", _folder,
        "the folder of the server's data: the SQLite database and the keys folder, unless set one by one",
        shown="`$XDG_DATA_HOME/authserver` (`~/.local/share/authserver`)")
    database_url: str = setting(
        "", _database_url,
        "SQLAlchemy URL; relative SQLite paths are relative to the working directory. "
        "Production: `postgresql+psycopg://user:pass@host/db`", shown="`sqlite:///$AUTHSERVER_HOME/authserver.db`")
    issuer: str = setting(
        "http://127.0.0.1:5000", _url, "`iss` of every token and the base of every URL in the metadata")
    audience: str = setting(
        "", _text, "`aud` of every access token; resource servers check it", shown="the issuer")
    keys_dir: str = setting(
        "", _text,
        "signing keys, the refresh-token HMAC key and the web cookie key (generated if missing, 0600)",
        shown="`$AUTHSERVER_HOME/keys`")
    access_token_ttl_seconds: int = duration(
        900,
        "access-token (JWT) lifetime: how long a revoked one may still pass where resource servers do not introspect")
    authorization_code_ttl_seconds: int = duration(
        60, "an authorization code must be exchanged within this time (RFC 6749 §4.1.2: 10 minutes at most)", most=600)
    device_code_ttl_seconds: int = duration(
        600, "a device authorization (RFC 8628) must be approved and redeemed within this time", least=60, most=3600)
    device_poll_interval_seconds: int = duration(
        5, "how often a device may poll the token endpoint; polling faster adds 5 s (`slow_down`)", most=60)
    refresh_grace_seconds: int = duration(
        10,
        "a retried refresh of the immediate predecessor inside this window gets the same successor; `0` turns it off",
        least=0)
    session_idle_timeout_seconds: int = duration(
        2_592_000,
        "a session unused this long ends; one longer than `SESSION_MAX_AGE_SECONDS` is never reached")
    session_max_age_seconds: int = duration(
        7_776_000, "a session ends this long after sign-in, however active")
    retention_seconds: int = duration(
        2_592_000,
        "`sessions prune` deletes ended sessions (and their used refresh tokens) ended longer ago than this, "
        "and security events older than this (or than a throttling window, if longer)")
    password_memory_kib: int = setting(
        19_456, _whole(1, MAX_PASSWORD_MEMORY_KIB),
        "argon2id memory per hash, in KiB (OWASP minimum: 19 MiB); at least 8 × `PASSWORD_PARALLELISM`")
    password_time_cost: int = setting(
        2, _whole(1, MAX_PASSWORD_TIME_COST), "argon2id iterations (OWASP minimum: 2)")
    password_parallelism: int = setting(
        1, _whole(1, MAX_PASSWORD_PARALLELISM), "argon2id lanes, one thread each (OWASP minimum: 1)")
    key_rotation_lead_seconds: int = duration(
        0,
        "a new signing key is published this long before it signs, so cached JWKS catch up; `0`: it signs at once",
        least=0)
    jwks_max_age_seconds: int = duration(
        300, "`Cache-Control: max-age` of the JWKS: how long resource servers may cache it", least=0)
    login_failure_window_seconds: int = duration(
        900, "the window for the four `LOGIN_*MAX_FAILURES` budgets")
    login_max_failures: int = allowance(
        10,
        "failed sign-ins allowed per username and IP inside the window; then sign-in answers `429` with `Retry-After`")
    login_ip_max_failures: int = allowance(
        50,
        "failed sign-ins allowed from one IP across all usernames inside the window; "
        "then sign-in from it answers `429`")
    login_account_max_failures: int = allowance(
        100,
        "failed sign-ins allowed for one username from all addresses together inside the window; then sign-in as it "
        "answers `429`, whether the account exists or not; a browser with a device cookie for it, and a password-grant "
        "client at an address it signed in from within `RETENTION_SECONDS`, are exempt")
    login_device_cookie_max_failures: int = allowance(
        10,
        "failed sign-ins allowed for one device cookie (from any address) inside the window; then sign-in with that "
        "cookie answers `429`")
    device_cookie_max_age_seconds: int = duration(
        7_776_000,
        "lifetime of the device cookie a browser gets at each successful sign-in, which exempts it from "
        "`LOGIN_ACCOUNT_MAX_FAILURES`", least=60)
    lookup_failure_window_seconds: int = duration(
        300, "the window for `LOOKUP_MAX_FAILURES` and `INTROSPECTION_MAX_FAILURES`")
    lookup_max_failures: int = allowance(
        50,
        "failed client authentications (every endpoint) and tokens not ours (revocation, refresh) allowed per IP, and "
        "tokens not ours per confidential client, inside the window; then `429` with `Retry-After`")
    introspection_max_failures: int = allowance(
        10_000,
        "tokens not ours a resource server (a client registered with `--introspect`) may present for introspection "
        "inside the window; its callers choose them, so they count toward no other budget; then `429` with "
        "`Retry-After`")
    proxy_hops: int = setting(
        0, _whole(0),
        "reverse proxies in front of the server whose `X-Forwarded-For` and `X-Forwarded-Proto` are trusted; "
        "`0`: the client IP is the socket's")
    cookie_secure: bool = setting(
        True, _boolean, "`Secure` flag on the web pages' cookies, named `__Host-session` when the issuer is https; "
                        "set `false` only for plain-HTTP local use")
    # The default keeps them off the public port: a scrape shows every client's traffic and failures.
    metrics: str | int = setting(
        9464, _metrics,
        "Prometheus metrics at `/metrics` of this port on `METRICS_HOST`, served by `authserver serve` apart from "
        "the app, whose own `/metrics` answers `404`; `off`: nowhere; `on`: on the public port instead (only "
        "behind a proxy that blocks it)")
    metrics_host: str = setting(
        "127.0.0.1", _ip_address,
        "the address the metrics port listens on: loopback, so only this machine scrapes; `0.0.0.0` for a "
        "scraper elsewhere on a private network (a container network), never one the public reaches")
    lock_timeout_seconds: int = duration(
        5,
        "how long a request waits for a row lock (SQLite busy timeout, PostgreSQL `lock_timeout`); "
        "then it answers `409` with `Retry-After`", most=MAX_LOCK_TIMEOUT_SECONDS)
    # Outbound deliveries (outbound/): back-channel logout tokens, pushed security events.
    outbound_timeout_seconds: int = duration(
        5,
        "an outbound delivery must connect, send and be answered within this time, or it is retried later",
        most=MAX_OUTBOUND_TIMEOUT_SECONDS)
    outbound_max_age_seconds: int = duration(
        86_400,
        "an outbound delivery not acknowledged this long after it was queued is given up, with an "
        "`outbound_given_up` security event", least=60, most=MAX_OUTBOUND_AGE_SECONDS)
    outbound_allow_private: bool = setting(
        False, _boolean,
        "deliver to loopback, private, link-local and multicast addresses too (tests, single-host setups); "
        "otherwise such a target is refused")
    outbound_worker: bool = setting(
        True, _boolean,
        "`authserver serve` runs the delivery worker beside the HTTP server; `false` where `authserver outbox run` "
        "runs apart")
    outbound_poll_seconds: int = duration(
        1, "how often the delivery worker looks for deliveries that are due", most=60)
    outbound_concurrency: int = setting(
        8, _whole(1, MAX_OUTBOUND_CONCURRENCY),
        "deliveries one worker makes at once: a receiver that hangs holds one of them, never the others")

    # Clients that register themselves (oauth/registration/): RFC 7591, Client ID Metadata Documents.
    client_registration: str = setting(
        "off", _registration,
        "dynamic client registration (RFC 7591) at `registration_endpoint`: `off`; `token`: with an initial access "
        "token from `authserver clients registration-token`; `open`: anyone (MCP clients, AI agents)")
    registration_max_per_ip: int = allowance(
        20,
        "clients one IP may register inside `REGISTRATION_WINDOW_SECONDS`; then `429` with `Retry-After`")
    registration_scopes: str = setting(
        "openid profile email offline_access read", _scopes,
        "the scopes a self-registered client (or a metadata document's client) may have; its default when it asks "
        "for none")
    registration_window_seconds: int = duration(
        3_600, "the window for `REGISTRATION_MAX_PER_IP`")
    client_id_metadata_documents: bool = setting(
        True, _boolean,
        "a `client_id` that is an https URL with a path is fetched as its Client ID Metadata Document and used as "
        "a public client; `off`: such ids are unknown clients")
    # Token exchange (RFC 8693): moving users of an older session store over (`authserver legacy import`).
    legacy_session_max_age_seconds: int = duration(
        31_536_000,
        "an imported legacy session first seen (its `created_at`) longer ago than this can no longer be exchanged "
        "(`invalid_grant`); Parse's own sessions live a year")
    # DPoP (RFC 9449, tokens/dpop.py).
    dpop_proof_window_seconds: int = duration(
        60,
        "a DPoP proof is accepted this long after its `iat` (and 5 s early, for clock skew); its `jti` is "
        "remembered as long, so it is used once", most=3600)
    dpop_nonce: bool = setting(
        False, _boolean,
        "DPoP proofs must carry a nonce the server gave (`DPoP-Nonce`, rotated every 5 minutes, the previous one "
        "still accepted); without one the answer is `use_dpop_nonce`")

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for name, parse in PARSERS.items():
            raw = environ.get(PREFIX + name.upper())
            if raw is not None:
                values[name] = parse(name.upper(), raw)
        values.setdefault("home", default_home(environ))
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def __post_init__(self):
        # The home's paths stand in for what was not set one by one (frozen: set once, here).
        home = self.home or default_home()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", "sqlite:///" + os.path.join(home, "authserver.db"))
        if not self.keys_dir:
            object.__setattr__(self, "keys_dir", os.path.join(home, "keys"))

    def check(self) -> None:
        """The bounds that tie two settings together (each one's own bounds are in its parser).

        An idle timeout longer than the max age is not one of them: the max age simply comes first
        (``sessions.py`` ends a session at whichever deadline it reaches first), so setting only a
        short max age works with the default idle timeout (:func:`setting_warnings` says so when both were set)."""
        if self.password_memory_kib < 8 * self.password_parallelism:
            raise SettingsError(f"{PREFIX}PASSWORD_MEMORY_KIB must be at least 8 x PASSWORD_PARALLELISM")

    @property
    def metrics_port(self) -> int | None:
        return self.metrics if isinstance(self.metrics, int) else None

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# How each setting is read, and its bounds (see the MAX_* constants for why): from the declarations.
PARSERS = {field.name: field.metadata["parse"] for field in dataclasses.fields(Settings)}


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


def setting_warnings(environ=None) -> list[str]:
    """Lines the command line prints before it starts: unknown variables, and settings that are
    valid but do not do what they say. Assumes the settings themselves parse (``from_env``)."""
    environ = os.environ if environ is None else environ
    lines = unknown_variables(environ)
    host_variable, metrics_variable = f"{PREFIX}METRICS_HOST", f"{PREFIX}METRICS"
    if host_variable in environ and Settings.from_env(environ).metrics_port is None:
        lines.append(f"{host_variable} is ignored: {metrics_variable} is not a port number")
    idle_variable, max_age_variable = f"{PREFIX}SESSION_IDLE_TIMEOUT_SECONDS", f"{PREFIX}SESSION_MAX_AGE_SECONDS"
    if idle_variable in environ:
        settings = Settings.from_env(environ)
        if settings.session_idle_timeout_seconds > settings.session_max_age_seconds:
            lines.append(f"{idle_variable} ({settings.session_idle_timeout_seconds}) exceeds {max_age_variable} "
                         f"({settings.session_max_age_seconds}): sessions end at their max age and the idle "
                         "timeout is never reached")
    cookie_variable = f"{PREFIX}COOKIE_SECURE"
    if cookie_variable in environ:
        settings = Settings.from_env(environ)
        if settings.issuer.startswith("https://") and not settings.cookie_secure:
            lines.append(f"{cookie_variable} is false but {PREFIX}ISSUER is https: the session cookie is sent "
                         "without Secure and without its __Host- prefix")
    return lines


# -- the README's settings table, generated from the declarations --------------------------------
# Larger units a value is shown in too, by the setting's name suffix: largest exact one first.
_UNITS = {
    "_seconds": ((31_536_000, "year", "years"), (86_400, "day", "days"), (3_600, "hour", "hours"),
                 (60, "minute", "minutes")),
    "_kib": ((1_048_576, "GiB", "GiB"), (1_024, "MiB", "MiB")),
}


def _readable(name: str, value: int) -> str:
    """' (30 days)' for 2592000 seconds, ' (19 MiB)' for 19456 KiB; '' when no larger unit divides it."""
    units = next((units for suffix, units in _UNITS.items() if name.endswith(suffix)), ())
    for size, one, many in units:
        if value >= size and value % size == 0:
            count = value // size
            return f" ({count} {one if count == 1 else many})"
    return ""


def _default_cell(field: dataclasses.Field) -> str:
    if field.metadata["shown"]:
        return field.metadata["shown"]
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" + (_readable(field.name, value) if isinstance(value, int) else "")


def _allowed_cell(field: dataclasses.Field) -> str:
    parse = field.metadata["parse"]
    if not hasattr(parse, "bounds"):
        return parse.allowed
    low, high = parse.bounds
    return f"{low} or more" if high is None else f"{low} to {high}{_readable(field.name, high)}"


def settings_table_markdown() -> str:
    """The README's settings table: one row per setting, straight from the declarations above."""
    rows = ["| variable | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for field in dataclasses.fields(Settings):
        cells = (f"`{PREFIX}{field.name.upper()}`", _default_cell(field), _allowed_cell(field), field.metadata["doc"])
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
