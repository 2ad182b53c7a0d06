"""The console's chart of the last 24 hours, drawn on the server as SVG (no script): one row per
series — sign-ins, refreshes, reuse detections, failed attempts, sessions ended (stacked by cause) —
of 24 hourly bars, each row on its own scale. The counts come from ``store/activity.py``; here they
are laid out in the SVG's units, and ``templates/_activity_chart.html`` draws them.

Requests refused for a spent failure budget (429) write nothing, by design (a flood of them must not
become a flood of writes), so the database cannot count them: the chart shows the failed attempts
that spend the budgets, and the 429s themselves are the metric ``authserver_throttled_requests_total``
(Grafana, ``deploy/``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field

from ..store import activity
from ..store import security_events
from ..store.models import END_REASONS

HOURS = 24
# The SVG's units: each hour a slot of SLOT, a bar of BAR inside it; bars grow up to TALL from BASELINE.
SLOT, BAR, TALL, BASELINE = 20, 14, 40, 44
WIDTH, HEIGHT = HOURS * SLOT, BASELINE + 2

SIGN_INS = (security_events.LOGIN_SUCCEEDED,)
REUSES = (security_events.REFRESH_TOKEN_REUSED, security_events.AUTHORIZATION_CODE_REUSED)
# What the failure budgets count (accounts/throttle.py): what throttling is made of.
FAILURES = (security_events.LOGIN_FAILED, security_events.USER_CODE_FAILED, security_events.CLIENT_AUTH_FAILED,
            security_events.TOKEN_LOOKUP_FAILED, security_events.INTROSPECTION_LOOKUP_FAILED)


@dataclass
class Bar:
    """One hour of a series: its segments as (part, count, y, height), bottom up."""

    hour: dt.datetime
    x: int
    total: int = 0
    segments: list[tuple[str, int, float, float]] = field(default_factory=list)


@dataclass
class Series:
    key: str
    label: str
    unit: str  # what one of them is called, for the bars' titles ("sign-ins")
    bars: list[Bar]
    total: int = 0
    most: int = 0
    parts: list[str] = field(default_factory=list)  # the stacked parts present, in order (sessions ended)


@dataclass
class Chart:
    start: dt.datetime
    hours: list[dt.datetime]
    series: list[Series]
    ticks: list[tuple[int, str]]  # (x, "HH:00") under the bars, every 6 hours
    width: int = WIDTH
    height: int = HEIGHT


def last_24_hours(now: dt.datetime) -> Chart:
    """The chart of the 24 hours up to ``now``: this (unfinished) hour and the 23 before it, in UTC."""
    start = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS - 1)
    hours = [start + dt.timedelta(hours=index) for index in range(HOURS)]
    counts = {"signins": {}, "refreshes": {}, "reuse": {}, "failures": {}, "ended": {}}
    for hour, kind, count in activity.events_by_hour(start, SIGN_INS + REUSES + FAILURES):
        key = "signins" if kind in SIGN_INS else "reuse" if kind in REUSES else "failures"
        _add(counts[key], hour, key, count)
    for hour, count in activity.refreshes_by_hour(start):
        _add(counts["refreshes"], hour, "refreshes", count)
    for hour, reason, count in activity.endings_by_hour(start):
        _add(counts["ended"], hour, reason if reason in END_REASONS else "other", count)
    series = [
        _series("signins", "Sign-ins", "sign-ins", counts["signins"], hours, start),
        _series("refreshes", "Refreshes", "refreshes", counts["refreshes"], hours, start),
        _series("reuse", "Reuse detections", "reuse detections", counts["reuse"], hours, start),
        _series("failures", "Failed attempts (what throttling counts)", "failed attempts", counts["failures"], hours,
                start),
        _series("ended", "Sessions ended, by cause", "sessions ended", counts["ended"], hours, start,
                order=END_REASONS + ("other",)),
    ]
    ticks = [(index * SLOT + SLOT // 2, hour.strftime("%H:00")) for index, hour in enumerate(hours) if index % 6 == 0]
    return Chart(start, hours, series, ticks)


def _add(counts: dict, hour: dt.datetime, part: str, count: int) -> None:
    by_part = counts.setdefault(hour, {})
    by_part[part] = by_part.get(part, 0) + count


def _series(key, label, unit, counts, hours, start, order=None) -> Series:
    bars = [Bar(hour, index * SLOT + (SLOT - BAR) // 2) for index, hour in enumerate(hours)]
    present = set()
    for hour, by_part in counts.items():
        index = int((hour - start).total_seconds() // 3600)
        if 0 <= index < HOURS:  # an hour the database rounded outside the window is not drawn
            bars[index].segments = list(by_part.items())
            present.update(by_part)
    most = max((sum(count for _, count in bar.segments) for bar in bars), default=0)
    rank = {part: position for position, part in enumerate(order or ())}
    for bar in bars:
        y = BASELINE
        laid_out = []
        for part, count in sorted(bar.segments, key=lambda item: rank.get(item[0], len(rank))):
            height = max(1.0, TALL * count / most)  # a single event among thousands still shows
            y -= height
            laid_out.append((part, count, round(y, 2), round(height, 2)))
        bar.segments, bar.total = laid_out, sum(count for _, count, _, _ in laid_out)
    parts = [part for part in order if part in present] if order else []  # only a stacked series has parts
    return Series(key, label, unit, bars, sum(bar.total for bar in bars), most, parts)
