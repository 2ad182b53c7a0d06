"""Sessions of an older store moved over without a new sign-in (RFC 8693 token exchange): importing
an export of them, and the rules of their one exchange for a device session. No HTTP.

Import (``authserver legacy import``): JSON lines ``{"token", "username", "device_name", "user_agent",
"ip", "created_at"}`` read one at a time and written in batches of :data:`BATCH`, so memory stays the
same for ten lines or ten million. A line that is not such an object is reported by its number and
skipped; a token of a user we do not have is counted (``unknown_user``); a token already imported
(a re-run, or twice in the file) is counted as a ``duplicate`` and left as it was. Only the token's
HMAC-SHA256 digest under a server secret (``keys/legacy-hmac.key``) is stored, so a copy of the
database gives nobody a usable legacy token, even a guessable one.

Exchange (``oauth/grants/token_exchange.py``): :meth:`LegacySessions.exchangeable` reads without a
lock and refuses an unknown, already exchanged or expired one (first seen longer ago than
``legacy_session_max_age_seconds``) or one of a disabled user; :meth:`LegacySessions.open_session`
claims it (one winner, ``store/legacy_sessions.py``) and opens the device session with the imported
device name, user agent, IP and first-seen time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from ..errors import LegacySessionInvalid
from ..store import legacy_sessions as store
from ..store import users as user_store
from ..store.models import DeviceContext
from ..store.models import DeviceSession
from ..store.models import LegacySession

BATCH = 1000  # lines per INSERT (and per commit of `legacy import`)
MAX_TOKEN_LENGTH = 4096
MAX_REPORTED_LINES = 1000  # malformed line numbers listed; past that they are only counted (bounded memory)
TEXT_FIELDS = {"device_name": 200, "user_agent": 512, "ip": 64}  # their columns' lengths


@dataclass
class ImportReport:
    imported: int = 0
    unknown_user: int = 0
    duplicate: int = 0
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    lines: int = 0

    def bad_line(self, number: int) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_REPORTED_LINES:
            self.malformed_lines.append(number)

    def as_json(self) -> dict:
        return {"imported": self.imported, "unknown_user": self.unknown_user, "duplicate": self.duplicate,
                "malformed": self.malformed, "malformed_lines": self.malformed_lines}


@dataclass(frozen=True)
class LegacyLine:
    token: str
    username: str
    device_name: str | None
    user_agent: str | None
    ip: str | None
    created_at: dt.datetime


def _text(value, length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value.replace("\x00", "").strip()[:length] or None


def parse_instant(value) -> dt.datetime:
    """ISO 8601 (``2024-05-01T10:00:00Z``, with or without an offset: without one it is UTC)."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    instant = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.timezone.utc)
    return instant.astimezone(dt.timezone.utc)


def parse_line(raw: bytes | str) -> LegacyLine | None:
    """One export line, or None if it is not one (bad JSON or UTF-8, a field missing or of the wrong kind)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        token, username = data.get("token"), data.get("username")
        if not (isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH and "\x00" not in token):
            return None
        if not (isinstance(username, str) and username):
            return None
        texts = {name: _text(data.get(name), length) for name, length in TEXT_FIELDS.items()}
        return LegacyLine(token, username, created_at=parse_instant(data.get("created_at")), **texts)
    except (ValueError, TypeError, OverflowError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


METRICS_EVERY = dt.timedelta(seconds=60)  # the gauges' counts scan the table: at most this often per process


class LegacySessions:
    def __init__(self, settings, clock, sessions, key: bytes, metrics=None):
        self.settings = settings
        self.clock = clock
        self.sessions = sessions  # device_sessions.DeviceSessions
        self._key = key
        # Handed in (ops/ sits above sessions/); None publishes nothing.
        self.metrics = metrics
        self._published_at: dt.datetime | None = None
        self.max_age = dt.timedelta(seconds=settings.legacy_session_max_age_seconds)

    def digest(self, token: str) -> str:
        return hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- import --------------------------------------------------------------------------
    def import_lines(self, lines: Iterable[bytes], on_batch: Callable[[ImportReport], None] | None = None,
                     batch_size: int = BATCH) -> ImportReport:
        """Import an export, line by line (numbered from 1); ``on_batch`` runs after each batch is
        written (the command commits there, so an interrupted import keeps what it did)."""
        report = ImportReport()
        batch: list[LegacyLine] = []
        for number, raw in enumerate(lines, 1):
            report.lines = number
            if not raw.strip():
                continue  # a blank line (the file's last, say) is nothing, not a malformed session
            parsed = parse_line(raw)
            if parsed is None:
                report.bad_line(number)
                continue
            batch.append(parsed)
            if len(batch) >= batch_size:
                self._write(batch, report)
                batch = []
                if on_batch:
                    on_batch(report)
        self._write(batch, report)
        if on_batch:
            on_batch(report)
        return report

    def _write(self, batch: list[LegacyLine], report: ImportReport) -> None:
        if not batch:
            return
        ids = user_store.ids_by_username(line.username for line in batch)
        now = self.clock.now()
        rows = [{"token_digest": self.digest(line.token), "user_id": ids[line.username],
                 "device_name": line.device_name, "user_agent": line.user_agent, "ip": line.ip,
                 "created_at": line.created_at, "imported_at": now}
                for line in batch if line.username in ids]
        report.unknown_user += len(batch) - len(rows)
        added = store.insert_batch(rows)
        report.imported += added
        report.duplicate += len(rows) - added

    # -- exchange ------------------------------------------------------------------------
    def expires_at(self, legacy: LegacySession) -> dt.datetime:
        return legacy.created_at + self.max_age

    def exchangeable(self, token: str) -> LegacySession:
        """The imported session ``token`` names, if it may be exchanged now; otherwise
        :class:`LegacySessionInvalid` (the same refusal whatever the reason: nothing to probe)."""
        legacy = store.find(self.digest(token))
        if (legacy is None or legacy.exchanged_at is not None or legacy.user.is_disabled
                or self.clock.now() >= self.expires_at(legacy)):
            raise LegacySessionInvalid()
        return legacy

    def open_session(self, legacy: LegacySession, client, scope: str) -> DeviceSession:
        """Claim the imported session (the one exchange that wins) and open its device session."""
        digest, user = legacy.token_digest, legacy.user
        device = DeviceContext(ip=legacy.ip, user_agent=legacy.user_agent, device_name=legacy.device_name)
        first_seen_at = legacy.created_at
        if not store.claim(digest, self.clock.now()):
            raise LegacySessionInvalid()  # another exchange of the same token won meanwhile
        session = self.sessions.open_session(user, client, scope, device, first_seen_at=first_seen_at)
        store.record_session(digest, session.id)
        self.publish(self.clock.now())
        return session

    # -- how far the move has gone -------------------------------------------------------
    def status(self) -> dict[str, int | float]:
        counts = store.counts(self.clock.now() - self.max_age)
        imported, exchanged = counts["imported"], counts["exchanged"]
        return {"imported": imported, "exchanged": exchanged, "expired": counts["expired"],
                "remaining": imported - exchanged - counts["expired"],
                "migrated_share": round(exchanged / imported, 6) if imported else 0.0}

    def publish(self, now: dt.datetime, force: bool = False) -> dict | None:
        """Set the gauges (``authserver_legacy_sessions``, ``…_migrated_ratio``) from the table: after an
        exchange, at most every :data:`METRICS_EVERY` per process, so a burst of exchanges scans it once.
        Under gunicorn the newest value wins (the counts only grow)."""
        if self.metrics is None or (not force and self._published_at and now - self._published_at < METRICS_EVERY):
            return None
        self._published_at = now
        status = self.status()
        for state in ("imported", "exchanged", "expired", "remaining"):
            self.metrics.set_gauge("legacy_sessions", status[state], state=state)
        self.metrics.set_gauge("legacy_sessions_migrated_ratio", status["migrated_share"])
        return status
