"""The pages' template filters (``web/filters.py``): instants in UTC and as "… ago" by the server's
clock, a security event's detail read safely, a scope in words (a restricted session's without the
account scopes)."""

from __future__ import annotations

import datetime as dt

import pytest

from authserver.web.filters import event_detail
from authserver.web.filters import format_ago
from authserver.web.filters import format_utc
from authserver.web.filters import scope_words


@pytest.mark.parametrize(("seconds", "said"), [
    (0, "just now"), (59, "just now"), (60, "1 minute ago"), (150, "2 minutes ago"), (3600, "1 hour ago"),
    (2 * 86400 + 5, "2 days ago"),
])
def test_ago_counts_by_the_servers_clock(app, clock, seconds, said):
    with app.app_context():
        assert format_ago(clock.now() - dt.timedelta(seconds=seconds)) == said
        assert format_ago(None) == ""


def test_utc_is_a_readable_instant():
    assert format_utc(dt.datetime(2026, 12, 6, 9, 5, tzinfo=dt.timezone.utc)) == "6 Dec 2026, 09:05 UTC"
    assert format_utc(None) == ""


@pytest.mark.parametrize(("raw", "detail"), [
    ('{"generation": 3}', {"generation": 3}), ("[1, 2]", {}), ("not json", {}), (None, {}), ("", {}),
])
def test_an_event_detail_is_a_dict_or_nothing(raw, detail):
    assert event_detail(raw) == detail


def test_a_scope_in_words_and_a_restricted_sessions_without_the_account_scopes():
    words = dict(scope_words("profile sessions frobnicate"))
    assert words["frobnicate"] == "frobnicate"  # unknown: by name
    assert words["profile"] != "profile" and words["sessions"] != "sessions"
    assert "sessions" not in dict(scope_words("profile sessions", restricted=True))
