"""`authserver doctor`: the checks an operator runs before (or instead of) reading logs. Each check is
one line: what it looked at, ok or FAIL, and for a failure the one fix. Nothing is created or changed:
a missing database or keys folder is reported, never made.

Checks: the settings parse (and their warnings); the database answers; its schema is this version's;
the keys folder and its files are there and private (0700 / 0600), the SQLite file too; the issuer is
where `serve` listens, or an https URL in front of it; an https issuer has what TLS behind a proxy
needs (trusted X-Forwarded-Proto, Secure cookies), a plain-http one is on loopback only; the clock
agrees with the database's."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import create_engine
from sqlalchemy import text

from ..settings import Settings
from ..settings import SettingsError
from ..settings import setting_warnings
from ..store.database import sqlite_path
from ..store.private_files import FILE_MODE
from ..store.private_files import FOLDER_MODE
from ..store.schema import database_label
from ..store.schema import schema_problem
from ..tokens.keys import KEY_FILE

# More apart than this and tokens look issued in the future or expire early at resource servers, and
# session lifetimes are measured wrongly; NTP keeps clocks within milliseconds.
MAX_CLOCK_SKEW_SECONDS = 5
SECRET_FILES = ("refresh-hmac.key", "web-secret.key")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(environ, listen: str) -> list[Check]:
    """Every check, in order; ``listen`` is the URL `serve` would listen on (its --host and --port)."""
    try:
        settings = Settings.from_env(environ)
    except SettingsError as error:
        return [Check("settings", False, str(error), "correct that variable (README: Settings)")]
    warnings = setting_warnings(environ)
    checks = [Check("settings", not warnings, "; ".join(warnings) or "every AUTHSERVER_* variable is valid",
                    "correct or remove the variable it names" if warnings else "")]
    checks += _database_checks(settings)
    checks += _keys_checks(settings.keys_dir)
    checks += [_issuer_check(settings, environ, listen), _tls_check(settings)]
    return checks


def _database_checks(settings: Settings) -> list[Check]:
    where = database_label(settings.database_url)
    path = sqlite_path(settings.database_url)
    if path and not os.path.exists(path):
        return [Check("database", False, f"no database at {where}", "run `authserver db upgrade` to create it, or "
                      "set AUTHSERVER_HOME / AUTHSERVER_DATABASE_URL to the server's")]
    checks = []
    if path:
        checks.append(_mode_check("database file", path, FILE_MODE))
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            database_now = connection.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one()
        local_now = dt.datetime.now(dt.timezone.utc)
        checks.insert(0, Check("database", True, f"{where} answers"))
        problem = schema_problem(engine)
    except Exception as error:  # any driver error: the operator needs its first line, not a traceback
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return [Check("database", False, f"{where}: {reason}",
                      "start the database, or correct AUTHSERVER_DATABASE_URL (host, port, user, password)")]
    finally:
        engine.dispose()
    checks.append(Check("schema", problem is None, f"the database {problem}" if problem else "this version's",
                        "run `authserver db upgrade`" if problem else ""))
    checks.append(_clock_check(database_now, local_now))
    return checks


def _clock_check(database_now, local_now: dt.datetime) -> Check:
    if isinstance(database_now, str):  # SQLite: 'YYYY-MM-DD HH:MM:SS' in UTC
        database_now = dt.datetime.fromisoformat(database_now)
    if database_now.tzinfo is None:
        database_now = database_now.replace(tzinfo=dt.timezone.utc)
    # SQLite's CURRENT_TIMESTAMP has whole seconds: allow for the truncation.
    skew = (local_now - database_now).total_seconds()
    ok = -MAX_CLOCK_SKEW_SECONDS <= skew <= MAX_CLOCK_SKEW_SECONDS + 1
    return Check("clock", ok, f"{skew:+.1f} s from the database's",
                 "" if ok else "synchronise both machines' clocks (NTP): token times and session lifetimes use them")


def _mode_check(name: str, path: str, mode: int) -> Check:
    actual = stat.S_IMODE(os.stat(path).st_mode)
    if actual & ~mode:
        return Check(name, False, f"{path} is open to other users (mode {actual:o})", f"chmod {mode:o} {path}")
    return Check(name, True, f"{path} (mode {actual:o})")


def _keys_checks(folder: str) -> list[Check]:
    if not os.path.isdir(folder):
        return [Check("keys", False, f"no keys folder at {folder}",
                      "run `authserver db upgrade` (it makes the first key), or set AUTHSERVER_KEYS_DIR to the "
                      "server's")]
    checks = [_mode_check("keys folder", folder, FOLDER_MODE)]
    names = sorted(os.listdir(folder))
    signing = [name for name in names if KEY_FILE.match(name)]
    missing = [name for name in SECRET_FILES if name not in names]
    if not signing or missing:
        absent = (["a signing key (signing-*.pem)"] if not signing else []) + missing
        checks.append(Check("keys", False, f"{folder} has no {', '.join(absent)}",
                            "restore them from the backup of the keys folder, or on a new server run "
                            "`authserver db upgrade`"))
    else:
        checks.append(Check("keys", True, f"{len(signing)} signing key(s), the refresh-token and cookie keys"))
    open_files = [name for name in signing + [n for n in SECRET_FILES if n in names]
                  if stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) & ~FILE_MODE]
    if open_files:
        checks.append(Check("key files", False, f"open to other users: {', '.join(open_files)}",
                            f"chmod 600 {os.path.join(folder, '*')}"))
    return checks


def _issuer_check(settings: Settings, environ, listen: str) -> Check:
    if not environ.get("AUTHSERVER_ISSUER"):
        return Check("issuer", True, f"not set: `serve` uses the URL it listens on, {listen}")
    if settings.issuer.startswith("https://"):
        return Check("issuer", True, f"{settings.issuer}, served through a TLS proxy in front of {listen}")
    if settings.issuer != listen:
        return Check("issuer", False, f"{settings.issuer} is not where `serve` listens ({listen}): every URL in the "
                     "metadata points elsewhere", "set AUTHSERVER_ISSUER to the URL clients use, or give `serve` "
                     "(and `doctor`) the --host and --port it names")
    return Check("issuer", True, f"{settings.issuer}, where `serve` listens")


def _tls_check(settings: Settings) -> Check:
    parts = urlsplit(settings.issuer)
    if parts.scheme == "https":
        if not settings.proxy_hops:
            return Check("TLS", False, "the issuer is https but AUTHSERVER_PROXY_HOPS is 0: the proxy's "
                         "X-Forwarded-For and -Proto are ignored", "set AUTHSERVER_PROXY_HOPS to the number of "
                         "proxies in front of the server (1 for one)")
        if not settings.cookie_secure:
            return Check("TLS", False, "the issuer is https but AUTHSERVER_COOKIE_SECURE is false",
                         "unset AUTHSERVER_COOKIE_SECURE")
        return Check("TLS", True, f"https, behind {settings.proxy_hops} trusted proxy(ies)")
    if not _is_loopback(parts.hostname or ""):
        return Check("TLS", False, f"the issuer {settings.issuer} is plain http on a host others reach: passwords "
                     "and tokens would cross the network in clear", "put a TLS proxy in front and set "
                     "AUTHSERVER_ISSUER to its https URL (README: TLS and the proxy)")
    return Check("TLS", True, "plain http on loopback (this machine only)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def table(checks: list[Check]) -> str:
    """The checks as a short plain table: one line each, the fix after a failing one."""
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.name:<{width}}  {'ok  ' if check.ok else 'FAIL'}  {check.detail}")
        if not check.ok:
            lines.append(f"{'':<{width}}        fix: {check.fix}")
    return "\n".join(lines)
